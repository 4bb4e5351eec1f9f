"""The application factory: `uvicorn --factory service.app:create_app`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service import api, oip, ops, web
from service.errors import HANDLERS
from service.inference import Batcher
from service.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from service.model import ModelCard, OnnxModel
from service.preprocess import Limits
from service.settings import Settings
from service.state import AppState
from service.stores import open_store

log = logging.getLogger("service")


def _routes() -> list[Route | Mount]:
    return [
        Route("/", web.index, methods=["GET"], name="index"),
        Route("/", web.index_post, methods=["POST"], name="index_post"),
        Route("/v1/predict", api.predict, methods=["POST"]),
        Route("/v1/predictions", api.list_predictions, methods=["GET"]),
        Route("/v1/predictions/{id}", api.get_prediction, methods=["GET"]),
        Route("/v1/model", api.model_card, methods=["GET"]),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False),
        Route("/openapi.json", ops.openapi, methods=["GET"], include_in_schema=False),
        Route("/v2/health/live", oip.live, methods=["GET"]),
        Route("/v2/health/ready", oip.ready, methods=["GET"]),
        Route("/v2/models/{model}", oip.metadata, methods=["GET"]),
        Route("/v2/models/{model}/ready", oip.model_ready, methods=["GET"]),
        Route("/v2/models/{model}/infer", oip.infer, methods=["POST"]),
        Mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app. With no settings (uvicorn --factory), they are read from the environment."""
    settings = settings or Settings.from_env()
    metrics = Metrics()
    state = AppState(settings=settings, metrics=metrics, limits=Limits(max_pixels=settings.max_pixels))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.started_at = time.monotonic()
        card = ModelCard.load(settings.model_card)
        state.model = OnnxModel(card, intra_threads=settings.ort_threads or None)
        state.batcher = Batcher(state.model, settings.max_batch, on_batch=lambda n: metrics.batch_size.observe(n))
        state.batcher.start()
        state.store = await open_store(settings, metrics)
        try:
            state.model.warm_up()
            state.ready = True
            metrics.model_ready.set(1)
            state.ready_after_s = round(time.monotonic() - state.started_at, 3)
            log.info(
                "ready in %.2f s: model %s, %d ORT threads, store %s",
                state.ready_after_s,
                card.version,
                state.model.threads,
                type(state.store).__name__,
            )
            yield
        finally:
            state.ready = False
            metrics.model_ready.set(0)
            await state.store.close()
            state.batcher.stop()
            state.model.close()

    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers={**HANDLERS, oip.OipError: oip.oip_error},
        lifespan=lifespan,
    )
    app.state.svc = state
    app.state.metrics = metrics
    return app
