"""The upload page. Works without JavaScript: the form posts here and the result is rendered."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from service.api import outcome_json, predict_uploads
from service.errors import ApiError
from service.state import app_state
from service.uploads import read_uploads

WEB_DIR = Path(__file__).resolve().parent / "web"
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=str(WEB_DIR))


async def _render(request: Request, results: list[dict[str, object]], status: int = 200) -> Response:
    state = app_state(request)
    assert state.model is not None and state.store is not None
    recent = [r.as_json() for r in await state.store.recent(10)]
    mnist = state.model.card.raw.get("mnist_test", {})
    context = {
        "model_version": state.model.card.version,
        "accuracy": mnist.get("accuracy", 0.0),
        "results": results,
        "recent": recent,
    }
    return templates.TemplateResponse(request, "index.html", context, status_code=status)


async def index(request: Request) -> Response:
    """
    summary: The upload page (HTML).
    responses: {200: {description: "HTML page"}}
    """
    return await _render(request, [])


async def index_post(request: Request) -> Response:
    """
    summary: The upload page's plain form post (no JavaScript); answers HTML.
    responses: {200: {description: "HTML page with the results"}}
    """
    started = time.perf_counter()
    state = app_state(request)
    s = state.settings
    try:
        uploads = await read_uploads(request, s.max_body_bytes, s.max_files, s.max_filename_chars)
    except ApiError as exc:
        return await _render(
            request,
            [{"filename": "", "error": {"code": exc.code, "message": exc.message}}],
            status=exc.status,
        )
    client = request.client.host if request.client else ""
    outcomes = await predict_uploads(state, uploads, client)
    items = [outcome_json(state, o, started, include_frame=True) for o in outcomes]
    failed = [o.error for o in outcomes if o.error is not None]
    status = 200 if len(failed) < len(outcomes) else failed[0].status
    return await _render(request, items, status=status)
