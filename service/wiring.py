"""Builds the prediction core from the settings, once per process, and closes it once: the
app's lifespan and the command line share this."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.core.batcher import Batcher
from service.core.card import ModelCard
from service.core.decode import Limits
from service.core.groups import GroupModel
from service.core.memory import DecodeBudget, return_large_blocks
from service.core.model import OnnxModel, usable_cpus
from service.core.predictor import Predictor
from service.metrics import Metrics
from service.settings import Settings
from service.store import open_store

log = logging.getLogger("service")


@asynccontextmanager
async def open_predictor(settings: Settings, metrics: Metrics) -> AsyncIterator[Predictor]:
    """Model, batcher and store opened, the model warm; all closed on exit."""
    started = time.monotonic()
    return_large_blocks()
    card = ModelCard.load(settings.model_card)
    model = OnnxModel(card, intra_threads=settings.ort_threads or None)
    groups = GroupModel(OnnxModel(ModelCard.load(settings.groups_card), intra_threads=settings.ort_threads or None))
    batcher = Batcher(model, settings.max_batch, on_batch=metrics.batch_size.observe)
    batcher.start()
    try:
        store = await open_store(settings, metrics)
        try:
            predictor = Predictor(
                model,
                batcher,
                store,
                metrics,
                Limits(max_pixels=settings.max_pixels, max_request_pixels=settings.max_request_pixels),
                DecodeBudget(settings.decode_budget_mb * 2**20),
                decode_threads=max(2, usable_cpus()),
                uncertain_below=model.card.uncertain_below,
                groups=groups,
            )
            model.warm_up()
            groups.model.warm_up()
            metrics.model_ready.set(1)
            # The store may have started without its file (a disk fault): the start-up line says
            # so, not "ready" (/readyz answers 503 until the store takes records).
            health = await store.health()
            state = "ready" if health.ok else "started, not ready"
            log.log(
                logging.INFO if health.ok else logging.WARNING,
                "%s in %.2f s: model %s (groups %s), %d ORT threads, store %s%s",
                state,
                time.monotonic() - started,
                card.version,
                groups.model.card.version,
                model.threads,
                store.backend,
                "" if health.ok else f": {'; '.join(health.reasons)}",
            )
            yield predictor
        finally:
            metrics.model_ready.set(0)
            metrics.worker_exit()
            await store.close()
    finally:
        batcher.stop()
        model.close()
        groups.close()
