"""The application factory: `uvicorn --factory service.app:create_app`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service import logs
from service.api import oip, ops, page, v1
from service.api.access import Access, ClientAddress
from service.api.errors import HANDLERS
from service.api.headers import SecurityHeaders
from service.api.middleware import MetricsMiddleware
from service.api.state import Services
from service.metrics import Metrics
from service.settings import Settings
from service.wiring import open_predictor


def _routes() -> list[Route | Mount]:
    return [
        Route("/", page.Page, name="index"),
        Route("/v1/predict", v1.predict, methods=["POST"]),
        Route("/v1/read", v1.read, methods=["POST"]),
        Route("/v1/predictions", v1.list_predictions, methods=["GET"]),
        Route("/v1/predictions/{id}", v1.get_prediction, methods=["GET"]),
        Route("/v1/model", v1.model_card, methods=["GET"]),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/openapi.json", ops.openapi, methods=["GET"], include_in_schema=False),
        Route("/v2", oip.server_metadata, methods=["GET"]),
        Route("/v2/health/live", oip.live, methods=["GET"]),
        Route("/v2/health/ready", oip.ready, methods=["GET"]),
        Route("/v2/repository/index", oip.repository_index, methods=["POST"]),
        Route("/v2/models/stats", oip.statistics, methods=["GET"]),
        *(
            route
            for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
            for route in (
                Route(prefix, oip.metadata, methods=["GET"]),
                Route(prefix + "/ready", oip.model_ready, methods=["GET"]),
                Route(prefix + "/config", oip.config, methods=["GET"]),
                Route(prefix + "/stats", oip.statistics, methods=["GET"]),
                Route(prefix + "/infer", oip.infer, methods=["POST"]),
            )
        ),
        Mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app. With no settings (uvicorn --factory), they are read from the environment."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)  # every worker process, not just the parent
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        started = time.monotonic()
        async with open_predictor(settings, metrics) as predictor:
            yield {
                "svc": Services(
                    settings,
                    metrics,
                    predictor,
                    round(time.monotonic() - started, 3),
                    Access.from_settings(settings),
                    ClientAddress(settings.client_address, settings.data_dir),
                )
            }

    return Starlette(
        routes=_routes(),
        middleware=[Middleware(MetricsMiddleware, metrics=metrics), Middleware(SecurityHeaders)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
