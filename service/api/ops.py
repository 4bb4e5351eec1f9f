"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.schemas import SchemaGenerator

from service.api.access import READ
from service.api.answers import JSONResponse
from service.api.state import allowed, services

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
    summary: Readiness, with details. `degraded` (200) means predictions are answered but
      something behind them is failing (the reasons say what).
    responses: {200: {description: "ready or degraded"}, 503: {description: "not ready, with the reason"}}
    """
    svc = services(request)
    predictor = svc.predictor
    model = {
        "ready": predictor.batcher.alive,
        "version": predictor.model.card.version,
        "threads": predictor.model.threads,
        "inference_thread_alive": predictor.batcher.alive,
    }
    health = await predictor.store.health()
    status = health.status if predictor.batcher.alive else "failing"
    status = {"ok": "ready", "degraded": "degraded", "failing": "not_ready"}[status]
    body = {"status": status, "startup_s": svc.startup_s, "model": model, "store": health.as_json()}
    return JSONResponse(body, status_code=503 if status == "not_ready" else 200)


async def metrics(request: Request) -> Response:
    """
    summary: Prometheus metrics of every worker (needs a read token, or a loopback client).
    responses:
      200: {description: "the metrics, in Prometheus' text format"}
      401: {description: "a read token is needed"}
      403: {description: "not allowed to read"}
    """
    return Response(allowed(request, READ).metrics.render(), media_type=CONTENT_TYPE_LATEST)


# Path parameters, described once: Starlette's generator reads the docstrings, which name none.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "id": {"description": "a prediction id (a time-based UUID)", "schema": {"type": "string", "format": "uuid"}},
    "model": {"description": "the model's name", "schema": {"type": "string", "enum": ["mnist"]}},
    "version": {"description": "the model's version", "schema": {"type": "string", "enum": ["1"]}},
}


def document(routes: list[Any]) -> dict[str, Any]:
    """The OpenAPI document: every operation's docstring, and the path parameters of its path."""
    schema: dict[str, Any] = SCHEMAS.get_schema(routes=routes)
    for path, operations in schema.get("paths", {}).items():
        names = re.findall(r"{(\w+)}", path)
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            operation.setdefault("parameters", []).extend(
                {"name": n, "in": "path", "required": True, **PATH_PARAMETERS[n]} for n in names if n not in declared
            )
            if not operation["parameters"]:
                del operation["parameters"]
    return schema


async def openapi(request: Request) -> Response:
    """
    summary: This document.
    responses: {200: {description: "OpenAPI 3 description of every route"}}
    """
    return JSONResponse(document(request.app.routes))
