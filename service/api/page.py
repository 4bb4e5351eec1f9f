"""The upload page. Works without JavaScript: the form posts here and the result is rendered."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from service.api.access import PREDICT, READ
from service.api.state import services
from service.api.uploads import read_pictures
from service.api.v1 import outcome_json
from service.core.outcome import refused
from service.errors import ServiceError

DOOR = "page"
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=str(WEB_DIR))


async def _render(request: Request, results: list[dict[str, object]], status: int = 200) -> Response:
    svc = services(request)
    predictor = svc.predictor
    try:
        svc.access.check(request, READ)  # the history only to those who may read it
        recent: list[dict[str, object]] | None = [r.as_json() for r in await predictor.store.recent(10)]
    except ServiceError:
        recent = None
    mnist = predictor.model.card.figures.get("mnist_test", {})
    context = {
        "model_version": predictor.model.card.version,
        "accuracy": mnist.get("accuracy", 0.0),
        "results": results,
        "recent": recent,
    }
    return templates.TemplateResponse(request, "index.html", context, status_code=status)


class Page(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        """
        summary: The upload page (HTML).
        responses: {200: {description: "HTML page"}}
        """
        return await _render(request, [])

    async def post(self, request: Request) -> Response:
        """
        summary: The upload page's plain form post (no JavaScript); answers HTML.
        responses:
          200: {description: "HTML page with the results"}
          4XX: {description: "HTML page with the error (the codes of /v1/predict)"}
          503: {description: "HTML page: the prediction could not be recorded"}
        """
        started = time.perf_counter()
        svc = services(request)
        try:
            svc.access.check(request, PREDICT)
            pictures = await read_pictures(request, svc.settings)
            outcomes = await svc.predictor.predict_pictures(pictures, DOOR, svc.client_address(request))
        except ServiceError as exc:
            error: dict[str, object] = {"filename": "", "error": {"code": exc.code, "message": exc.message}}
            return await _render(request, [error], exc.status)
        items = [outcome_json(svc.predictor, o, started, include_frame=True) for o in outcomes]
        failure = refused(outcomes)
        return await _render(request, items, status=failure.status if failure else 200)
