"""Every error the API returns: a stable machine code, a human message, a 4xx status."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.preprocess import ImageError
from service.records import StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, **exc.extra)


async def image_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImageError)
    return error_response(exc.status, exc.code, exc.message)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    400: "bad_request",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(
        exc.status_code,
        code,
        str(exc.detail),
    )


async def store_unavailable(request: Request, exc: Exception) -> Response:
    return error_response(503, "store_unavailable", f"the prediction store did not answer: {exc}")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug, not bad input: log it whole, answer JSON, keep serving.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed on this request")


HANDLERS = {
    ApiError: api_error,
    ImageError: image_error,
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: unexpected_error,
}
