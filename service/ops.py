"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.schemas import SchemaGenerator

from service.state import app_state

SCHEMAS = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {
            "title": "MNIST ONNX digit service",
            "version": "1.0.0",
            "description": "Upload a picture of a handwritten digit; get the digit back. "
            "Every prediction is recorded (Cassandra, or the embedded store).",
        },
    }
)


async def healthz(request: Request) -> JSONResponse:
    """
    summary: Liveness (the process answers).
    responses: {200: {description: "alive"}}
    """
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> JSONResponse:
    """
    summary: Readiness (the model is warm and the store usable), with details.
    responses: {200: {description: "ready"}, 503: {description: "not ready, with the reason"}}
    """
    state = app_state(request)
    details: dict[str, Any] = {"model": {"ready": state.ready}}
    if state.model is not None:
        details["model"] |= {"version": state.model.card.version, "threads": state.model.threads}
    if state.batcher is not None:
        details["model"]["inference_thread_alive"] = state.batcher.alive
    store_ok = False
    if state.store is not None:
        health = await state.store.health()
        store_ok = health.ok
        details["store"] = {"ok": health.ok, "backend": health.backend, **health.details}
    ok = state.ready and store_ok and state.batcher is not None and state.batcher.alive
    body = {"status": "ready" if ok else "not_ready", "startup_s": state.ready_after_s, **details}
    return JSONResponse(body, status_code=200 if ok else 503)


async def openapi(request: Request) -> Response:
    """
    summary: This document.
    responses: {200: {description: "OpenAPI 3 description of every route"}}
    """
    return JSONResponse(SCHEMAS.get_schema(routes=request.app.routes))
