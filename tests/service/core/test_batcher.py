from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from service.core.batcher import INLINE_MAX_BUSY, INLINE_MAX_FRAMES, Batcher
from service.core.card import ModelCard
from service.core.model import OnnxModel
from service.errors import ModelFailed
from train import mnist


def test_batched_results_are_each_requests_own(card_path: Path, mnist_test: mnist.Split) -> None:
    model = OnnxModel(ModelCard.load(card_path))
    expected = model.predict(mnist_test.images[:40])
    sizes: list[int] = []
    batcher = Batcher(model, max_batch=16, on_batch=sizes.append)
    batcher.start()

    async def many() -> list[np.ndarray]:
        # 20 requests of 2 frames each, submitted together.
        return await asyncio.gather(*(batcher.predict(mnist_test.images[i : i + 2]) for i in range(0, 40, 2)))

    try:
        results = asyncio.run(many())
    finally:
        batcher.stop()
    np.testing.assert_allclose(np.concatenate(results), expected, atol=1e-6)
    assert sum(sizes) == 40 and max(sizes) <= 16
    assert not batcher.alive


def test_small_batches_run_inline_and_large_ones_in_the_thread(card_path: Path, mnist_test: mnist.Split) -> None:
    model = OnnxModel(ModelCard.load(card_path))
    sizes: list[int] = []
    batcher = Batcher(model, max_batch=1, on_batch=sizes.append)  # not started: no thread
    small = mnist_test.images[:INLINE_MAX_FRAMES]
    np.testing.assert_allclose(asyncio.run(batcher.predict(small)), model.predict(small), atol=1e-6)
    assert sizes == [INLINE_MAX_FRAMES]
    batcher.start()
    try:
        large = mnist_test.images[: INLINE_MAX_FRAMES + 1]
        np.testing.assert_allclose(asyncio.run(batcher.predict(large)), model.predict(large), atol=1e-6)
        # A busy worker hands even one frame to the thread, so inference overlaps the loop's work.
        one = mnist_test.images[:1]
        got = asyncio.run(batcher.predict(one, busy=INLINE_MAX_BUSY + 1))
        np.testing.assert_allclose(got, model.predict(one), atol=1e-6)
    finally:
        batcher.stop()
    assert sizes == [INLINE_MAX_FRAMES, INLINE_MAX_FRAMES + 1, 1]


def test_a_failed_inference_is_the_callers_error(card_path: Path) -> None:
    model = OnnxModel(ModelCard.load(card_path))
    batcher = Batcher(model, max_batch=1)
    batcher.start()
    try:
        wrong = np.zeros((1, 5, 5, 1), dtype=np.float32)  # not the model's input shape
        for tensor in (wrong, np.repeat(wrong, INLINE_MAX_FRAMES + 1, axis=0)):  # inline, then the thread
            with pytest.raises(ModelFailed):
                asyncio.run(batcher.run(tensor))
        assert batcher.alive  # the thread survives a failed batch
    finally:
        batcher.stop()


def test_a_busy_worker_queues_for_the_thread(card_path: Path, mnist_test: mnist.Split) -> None:
    batcher = Batcher(OnnxModel(ModelCard.load(card_path)), max_batch=1)  # its thread never starts

    async def ask(busy: int) -> np.ndarray:
        return await asyncio.wait_for(batcher.predict(mnist_test.images[:1], busy=busy), timeout=0.5)

    assert asyncio.run(ask(INLINE_MAX_BUSY)).shape == (1, 10)  # inline: answered without the thread
    with pytest.raises(TimeoutError):
        asyncio.run(ask(INLINE_MAX_BUSY + 1))  # queued for a thread that is not there
