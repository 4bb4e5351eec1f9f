"""Handing results from worker threads back to asyncio futures."""

from __future__ import annotations

import asyncio
from typing import Any


def settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Resolve `fut` with `value`, or fail it with `error`; a future already done is left alone
    (its waiter may have been cancelled). Call it on the future's own loop."""
    if fut.done():
        return
    if error is None:
        fut.set_result(value)
    else:
        fut.set_exception(error)
