"""Prometheus metrics: one registry per app (tests build many apps in one process).

With several workers, each scrape reaches one of them; so `serve --workers N` gives the workers a
fresh shared directory (PROMETHEUS_MULTIPROC_DIR, prometheus_client's multiprocess mode) and every
scrape reports the sum over all workers (counters, histograms) or their max/min (gauges), never
one worker's share.
"""

from __future__ import annotations

import os
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


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

        # Gauges across workers: the outbox is shared (its depth is the same seen from any worker),
        # and one failing worker makes the service's state failing.
        def gauge(name: str, doc: str, across_workers: Literal["livemax", "livemin"]) -> Gauge:
            return Gauge(name, doc, registry=r, multiprocess_mode=across_workers)

        self.outbox_depth = gauge("mnist_outbox_depth", "Records accepted but not yet acknowledged", "livemax")
        self.cassandra_up = gauge("mnist_cassandra_up", "1 if Cassandra answered the last write", "livemin")
        self.relay_degraded = gauge("mnist_relay_degraded", "1 while the relay's rounds fail", "livemax")
        self.model_ready = gauge("mnist_model_ready", "1 once the model is loaded and warm", "livemin")
        self.client_closed = Counter(
            "mnist_client_closed_total", "Requests whose client went away before the answer", registry=r
        )
        # Children made once (every digit shows from the start); `labels()` per answer costs more.
        self.predicted = {k: self.predictions.labels(digit=k) for k in [*map(str, range(10)), "number"]}

    def render(self) -> bytes:
        if multiprocess_dir() is None:
            return bytes(generate_latest(self.registry))
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(merged))

    @staticmethod
    def worker_exit() -> None:
        """Forget this worker's live gauges (counters keep what it counted)."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
