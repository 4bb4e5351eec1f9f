"""This service with recording switched off — for measuring what recording costs, never for
serving: the embedded store's `add` does nothing, everything else (limits, decoding, metrics,
middleware, the answer) is the service as shipped. Run by bench/recording.py with uvicorn's
factory mode; never imported by the project."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["BENCH_PROJECT_ROOT"])

from starlette.applications import Starlette  # noqa: E402

from service.app import create_app  # noqa: E402
from service.store.embedded import EmbeddedStore  # noqa: E402
from service.store.record import PredictionRecord  # noqa: E402


async def _not_recorded(self: EmbeddedStore, records: list[PredictionRecord]) -> None:
    return None


def app() -> Starlette:
    if os.environ.get("BENCH_RECORD") == "0":
        EmbeddedStore.add = _not_recorded  # type: ignore[method-assign]
    return create_app()
