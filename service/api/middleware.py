"""Per-request metrics, labelled by route template, method and status (all bounded)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import CLIENT_CLOSED
from service.metrics import Metrics

# Methods a client may send are unbounded (TRACE, PROPFIND, ...): anything else is "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def route_name(scope: Scope) -> str:
    """The route's path template (`/v1/predictions/{id}`), never the raw path: bounded labels."""
    route = scope.get("route")  # the router records the route it dispatched to
    return str(getattr(route, "path", "unmatched"))


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            labels = {"route": route_name(scope), "method": method, "status": str(status)}
            if status == CLIENT_CLOSED:
                self.metrics.client_closed.inc()
            self.metrics.requests.labels(**labels).inc()
            self.metrics.latency.labels(**labels).observe(time.perf_counter() - started)
