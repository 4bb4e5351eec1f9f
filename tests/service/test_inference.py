from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from service.inference import Batcher
from service.model import ModelCard, OnnxModel
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
