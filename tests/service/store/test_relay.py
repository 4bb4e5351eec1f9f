"""The relay against an in-memory sink and a real outbox file: it never dies, says what is
wrong while it is, and resumes by itself."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from service.metrics import Metrics
from service.store import relay as relay_module
from service.store.outbox import Outbox
from service.store.relay import Relay
from tests.fakes import MemorySink
from tests.utils import make_record


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


def _run(tmp_path: Path, scenario: Callable[[Outbox, MemorySink, Relay, Metrics], Awaitable[None]]) -> None:
    async def main() -> None:
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        await outbox.start()
        sink, metrics = MemorySink(), Metrics()
        relay = Relay(outbox, sink, metrics)
        relay.start()
        try:
            await scenario(outbox, sink, relay, metrics)
        finally:
            await relay.stop()
            await outbox.close()

    asyncio.run(main())


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "MAX_BACKOFF_S", 0.2)
    monkeypatch.setattr(relay_module, "LINGER_S", 0.01)


def test_records_reach_the_sink_and_are_held_after_acknowledgement(tmp_path: Path) -> None:
    async def scenario(outbox: Outbox, sink: MemorySink, relay: Relay, metrics: Metrics) -> None:
        recs = [make_record(i) for i in range(300)]
        await outbox.add(recs)
        relay.wake()
        await _until(lambda: len(sink.rows) == 300)
        assert set(sink.rows) == {r.id for r in recs}
        await _until(lambda: relay.written == 300)
        assert await outbox.pending() == 0
        assert await outbox.get(recs[0].id) is not None  # held: acknowledged, not yet purged
        assert relay.problems() == []

    _run(tmp_path, scenario)


def test_a_failing_sink_degrades_and_the_relay_resumes(tmp_path: Path) -> None:
    async def scenario(outbox: Outbox, sink: MemorySink, relay: Relay, metrics: Metrics) -> None:
        sink.failures = 10**6
        recs = [make_record(i) for i in range(10)]
        await outbox.add(recs)
        relay.wake()
        await _until(lambda: relay.rounds_failed >= 3)
        assert relay.problems() == ["relay: memory: the sink is down"]
        assert "mnist_relay_degraded 1.0" in metrics.render().decode()
        assert await outbox.pending() == 10 and sink.rows == {}
        sink.failures = 0  # the sink is back
        await _until(lambda: len(sink.rows) == 10)
        await _until(lambda: relay.error is None)
        assert relay.alive and relay.problems() == []
        assert "mnist_relay_degraded 0.0" in metrics.render().decode()

    _run(tmp_path, scenario)


@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("database or disk is full"), OSError(30, "Read-only file system"), KeyError("bug")],
)
def test_no_error_kills_the_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Before, an sqlite3.Error from the outbox's books ended the drain task for good."""

    async def scenario(outbox: Outbox, sink: MemorySink, relay: Relay, metrics: Metrics) -> None:
        real_claim = outbox.claim
        broken = {"on": True}

        async def claim(limit: int, lease_s: float) -> list[object]:
            if broken["on"]:
                raise error
            return await real_claim(limit, lease_s)  # type: ignore[return-value]

        monkeypatch.setattr(outbox, "claim", claim)
        await outbox.add([make_record(i) for i in range(5)])
        relay.wake()
        await _until(lambda: relay.rounds_failed >= 3)
        assert relay.error is not None and relay.error.startswith("outbox: ") and relay.alive
        broken["on"] = False
        await _until(lambda: len(sink.rows) == 5)
        await _until(lambda: relay.error is None)
        assert relay.alive

    _run(tmp_path, scenario)


def test_a_node_change_sends_held_records_again(tmp_path: Path) -> None:
    async def scenario(outbox: Outbox, sink: MemorySink, relay: Relay, metrics: Metrics) -> None:
        recs = [make_record(i) for i in range(20)]
        await outbox.add(recs)
        relay.wake()
        await _until(lambda: relay.written == 20)
        sink.rows.clear()  # the node came back without its last writes
        sink.changed = True
        relay.wake()
        await _until(lambda: len(sink.rows) == 20)
        assert relay.written == 40
        assert sink.reassessed == 1, "what an acknowledgement means is asked again after a node change"

    _run(tmp_path, scenario)


def test_no_hold_forgets_acknowledged_records_at_once(tmp_path: Path) -> None:
    async def scenario(outbox: Outbox, sink: MemorySink, relay: Relay, metrics: Metrics) -> None:
        sink.hold_s = 0.0  # every node fsyncs before it acknowledges
        recs = [make_record(i) for i in range(20)]
        await outbox.add(recs)
        relay.wake()
        await _until(lambda: relay.written == 20)
        # In the round that wrote them, not by a later purge (rounds purge at most once a second).
        assert all([await outbox.get(r.id) is None for r in recs]) and await outbox.pending() == 0

    _run(tmp_path, scenario)
