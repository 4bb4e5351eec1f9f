"""What the lifespan opens once and every handler reads."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from service.inference import Batcher
from service.metrics import Metrics
from service.model import OnnxModel
from service.preprocess import Limits
from service.records import PredictionStore
from service.settings import Settings


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    model: OnnxModel | None = None
    batcher: Batcher | None = None
    store: PredictionStore | None = None
    limits: Limits = field(default_factory=Limits)
    ready: bool = False
    in_flight: int = 0  # predictions under way in this worker
    started_at: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.svc
    return state
