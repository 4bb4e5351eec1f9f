"""Sharing the event loop: long work in slices lets the loop's other tasks run between them."""

from __future__ import annotations

import asyncio

from service.core.futures import in_slices


def test_in_slices_maps_in_order_and_lets_others_run_between_slices() -> None:
    async def run() -> tuple[list[int], list[int]]:
        seen: list[int] = []  # how far the work had got each time another task ran
        done: list[int] = []
        stop = False

        async def other() -> None:
            while not stop:
                seen.append(len(done))
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)  # it runs once before the work starts

        def work(x: int) -> int:
            done.append(x)
            return x * x

        out = await in_slices(work, list(range(100)), size=10)
        stop = True
        await task
        assert out == [x * x for x in range(100)]
        return seen, done

    seen, done = asyncio.run(run())
    assert len(done) == 100
    # The other task ran between every two slices of 10, and never in the middle of one.
    assert {0, 10, 20, 30, 40, 50, 60, 70, 80, 90} <= set(seen)
    assert all(n % 10 == 0 for n in seen)


def test_in_slices_of_nothing_is_nothing() -> None:
    assert asyncio.run(in_slices(str, [])) == []
