"""What the lifespan builds once per worker and every handler reads (`request.state.svc`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from service.api.access import Access, ClientAddress
from service.core.predictor import Predictor
from service.metrics import Metrics
from service.settings import Settings


@dataclass
class InferenceStats:
    """OIP inference statistics of this worker, in the shape Triton reports them."""

    success: int = 0
    success_ns: int = 0
    fail: int = 0
    fail_ns: int = 0
    images: int = 0
    last_ms: int = 0

    def record(self, started_ns: int, images: int, ok: bool) -> None:
        took = time.perf_counter_ns() - started_ns
        if ok:
            self.success, self.success_ns, self.images = self.success + 1, self.success_ns + took, self.images + images
        else:
            self.fail, self.fail_ns = self.fail + 1, self.fail_ns + took
        self.last_ms = int(time.time() * 1000)


@dataclass(frozen=True)
class Services:
    settings: Settings
    metrics: Metrics
    predictor: Predictor
    startup_s: float
    access: Access
    client_address: ClientAddress  # what is recorded of a client's address
    oip_stats: InferenceStats = field(default_factory=InferenceStats)


def services(request: Request) -> Services:
    svc: Services = request.state.svc
    return svc


def allowed(request: Request, scope: str) -> Services:
    """The services, once the request may act in `scope` (401/403 otherwise)."""
    svc = services(request)
    svc.access.check(request, scope)
    return svc
