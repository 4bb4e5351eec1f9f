"""The one error root. Everything the service refuses carries its HTTP status, a stable machine
code and a message for people; the doors translate it (one handler per transport), nothing else
builds error bodies. Most errors are a ServiceError with their status and code; subclasses exist
where someone catches that kind on its own (store outages, pictures that are too large, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class ServiceError(Exception):
    """A request the service cannot serve as asked."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # An instance may name its own status and finer code; the class gives the defaults.
        if status is not None:
            self.status = status  # type: ignore[misc]
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra


class Unavailable(ServiceError):
    """The service cannot take the request right now; the client should retry after a while."""

    status = 503
    code = "unavailable"
    retry_after_s: ClassVar[int] = 1


class StoreUnavailable(Unavailable):
    """The store could not take or read a record. Nothing was answered, so nothing is lost."""

    code = "store_unavailable"


class ModelFailed(ServiceError):
    """The model itself failed on a batch: a server fault, reported without a traceback per request."""

    status, code = 500, "inference_failed"


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
