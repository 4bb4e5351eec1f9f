"""The one error root. Everything the service refuses carries its HTTP status, a stable machine
code and a message for people; the doors translate it (one handler per transport), nothing else
builds error bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class ServiceError(Exception):
    """A request the service cannot serve as asked. Subclasses fix `status` and `code`."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may name a finer code
        self.extra = extra


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class TooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable"


class Unavailable(ServiceError):
    """The service cannot take the request right now; the client should retry later."""

    status = 503
    code = "unavailable"
    retry_after_s: ClassVar[int] = 1


class StoreUnavailable(Unavailable):
    """The store could not take or read a record. Nothing was answered, so nothing is lost."""

    code = "store_unavailable"


class ModelFailed(ServiceError):
    """The model itself failed on a batch: a server fault, reported without a traceback per request."""

    status = 500
    code = "inference_failed"


@dataclass(frozen=True, slots=True)
class Failure:
    """What an item that failed keeps: never the exception (its traceback would pin the frames
    that held the decoded picture) -- only what the client is told."""

    status: int
    code: str
    message: str

    @classmethod
    def of(cls, exc: ServiceError) -> Failure:
        return cls(exc.status, exc.code, exc.message)
