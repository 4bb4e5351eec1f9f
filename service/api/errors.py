"""The one place HTTP error bodies are made. Every error is JSON: `{"error": {"code", "message"}}`
on /v1 and the page's JSON, `{"error": message, "code": code}` on OIP v2 (as its clients expect)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from service.api.answers import JSONResponse
from service.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)

# nginx's code for "the client closed the connection before the answer": nobody receives it,
# but the metrics count it apart from the server's own failures.
CLIENT_CLOSED = 499
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "payload_too_large"}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _respond(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    if request.url.path.startswith("/v2"):
        return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
    return _respond(request, exc.status, exc.code, exc.message, headers, **exc.extra)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    # Keep the router's headers: a 405 names the methods the route allows (Allow).
    return _respond(request, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def client_closed(request: Request, exc: Exception) -> Response:
    log.debug("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug, not bad input: log it whole once, answer JSON, keep serving.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(request, 500, "internal_error", "the server failed on this request")


HANDLERS = {
    ServiceError: service_error,
    HTTPException: http_error,
    ClientDisconnect: client_closed,
    Exception: unexpected_error,
}
