"""What the lifespan builds once per worker and every handler reads (`request.state.svc`)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from service.core.predictor import Predictor
from service.metrics import Metrics
from service.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    metrics: Metrics
    predictor: Predictor
    startup_s: float


def services(request: Request) -> Services:
    svc: Services = request.state.svc
    return svc


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""
