"""Prometheus metrics: one registry per app (tests build many apps in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("mnist_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "mnist_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("mnist_predictions_total", "Predictions answered, by digit", ["digit"], registry=r)
        self.image_errors = Counter("mnist_image_errors_total", "Uploads refused, by error code", ["code"], registry=r)
        self.batch_size = Histogram(
            "mnist_inference_batch_size",
            "Images per ORT call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.store_failures = Counter(
            "mnist_store_write_failures_total", "Failed writes, by store", ["store"], registry=r
        )
        self.outbox_depth = Gauge(
            "mnist_outbox_depth", "Records accepted but not yet acknowledged by Cassandra", registry=r
        )
        self.cassandra_up = Gauge("mnist_cassandra_up", "1 if Cassandra answered the last write", registry=r)
        self.model_ready = Gauge("mnist_model_ready", "1 once the model is loaded and warm", registry=r)
        for d in range(10):
            self.predictions.labels(digit=str(d))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


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
            route = route_name(scope)
            labels = {"route": route, "method": scope["method"], "status": str(status)}
            self.metrics.requests.labels(**labels).inc()
            self.metrics.latency.labels(**labels).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return metrics.render()
