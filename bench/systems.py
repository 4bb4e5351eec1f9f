"""The systems measured: this service (embedded store, Cassandra, float model) and the designs of
the tutorial it grew from (Flask + Keras). The fair peers are in bench/peers.py."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.inputs import Upload
from bench.load import Target, measure, wrk
from bench.report import Report
from bench.spec import BENCH, RunSpec
from service.settings import FLOAT_CARD, default_card
from tests.cassandra_node import Node, wait_drained
from tests.utils import ROOT, free_port, running

log = logging.getLogger("bench")
VENVS = ROOT / ".cache" / "bench-venvs"
PY = sys.executable


@dataclass(frozen=True)
class Variant:
    """One configuration of this service."""

    store: str = "sqlite"  # or "cassandra"
    node: Node | None = None
    model_card: Path | None = None  # None: the default (int8) model
    scenarios: tuple[str, ...] = ("png28", "png28-form", "jpeg640")
    env: dict[str, str] = field(default_factory=dict)

    def label(self, workers: int) -> str:
        return f"this service ({self.store}, {workers}w{', float model' if self.model_card else ''})"

    def service_env(self, work: Path) -> dict[str, str]:
        tag = f"-{self.model_card.stem}" if self.model_card else ""
        env = {"MNIST_DATA_DIR": str(work / f"var-{self.store}{tag}"), "MNIST_LOG_LEVEL": "WARNING", **self.env}
        if self.model_card is not None:
            env["MNIST_MODEL_CARD"] = str(self.model_card)
        if self.node is not None:
            env |= {
                "CASSANDRA_CONTACT_POINTS": self.node.host,
                "CASSANDRA_PORT": str(self.node.port),
                "CASSANDRA_USERNAME": "cassandra",
                "CASSANDRA_PASSWORD": "cassandra",
                "CASSANDRA_KEYSPACE": f"bench_{int(time.time())}",
                "CASSANDRA_CONSISTENCY": "ONE",
            }
        return env


def ours(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path, variant: Variant) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [PY, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", str(spec.workers)]
    log_file = work / f"ours-{variant.store}.log"
    with running(cmd, base + "/readyz", variant.service_env(work), log_file, timeout=120) as (proc, _):
        if variant.node is not None and spec.cassandra_warmup_s > 0:
            # A freshly started JVM takes minutes to compile its hot paths: measured here, its
            # CPU per recorded row fell from ~1.8 ms in the first seconds to ~0.35 ms after 2-3
            # minutes. Production nodes run for weeks, so load it unmeasured first and let the
            # outbox drain.
            warm = Target("warm-up", "png28", base + "/v1/predict", inputs["png28"], "raw")
            wrk(warm, 64, spec.cassandra_warmup_s, spec.max_requests)
            wait_drained(base, timeout=300)
            report.facts[f"{variant.store}_warmup_s"] = spec.cassandra_warmup_s
        # Raw image bodies (the fast path), the same PNG as a multipart form (what the baselines
        # take), and the photo.
        for scenario in variant.scenarios:
            mode = "multipart" if scenario.endswith("-form") else "raw"
            target = Target(
                variant.label(spec.workers),
                scenario,
                base + "/v1/predict",
                inputs[scenario.removesuffix("-form")],
                mode,
            )
            for c in spec.concurrencies:
                report.results.append(measure(target, c, proc.pid, spec))
        if variant.node is not None:
            started = time.monotonic()
            wait_drained(base, timeout=300)
            report.facts[f"cassandra_drain_after_load_s_{spec.workers}w"] = round(time.monotonic() - started, 1)


def cassandra_node(work: Path) -> Node:
    """A node of its own on free ports (nothing else on this machine is disturbed)."""
    node = Node(home=work / "cassandra", port=free_port(), storage_port=free_port(), jmx_port=free_port())
    took = node.start()
    log.info("cassandra node ready in %.1f s on port %d", took, node.port)
    return node


def cold_start(report: Report, work: Path, runs: int) -> None:
    times = []
    for i in range(runs):
        port = free_port()
        cmd = [PY, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
        env = {"MNIST_DATA_DIR": str(work / f"cold-{i}")}
        with running(cmd, f"http://127.0.0.1:{port}/readyz", env, work / "cold.log") as (_, took):
            times.append(took)
    report.facts["process_start_to_ready_s_median"] = round(float(np.median(times)), 3)
    report.facts["process_start_to_ready_s_all"] = [round(t, 3) for t in times]
    log.info("process start to /readyz: median %.2f s over %d runs", np.median(times), runs)


def venv(name: str, packages: list[str]) -> Path:
    """A virtual environment of its own for a baseline (never the project's)."""
    path = VENVS / name
    stamp = path / ".installed"  # the packages it was made with: another list makes it afresh
    wanted = "\n".join(packages)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([PY, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "--quiet", *packages], check=True, timeout=1800)
        stamp.write_text(wanted)
    return path / "bin" / "python"


def baselines(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path) -> None:
    """The tutorial's designs (Flask + Keras); each takes the 28x28 PNG as a multipart form. The
    peers a user would really weigh (BentoML, a bare Starlette app) are in bench/peers.py."""

    def form_runs(label: str, url: str, pid: int, run: RunSpec) -> None:
        target = Target(label, "png28-form", url, inputs["png28"], "multipart")
        for c in run.concurrencies:
            report.results.append(measure(target, c, pid, run))

    keras_py = venv("flask-keras", ["flask", "tensorflow==2.21.0", "keras==3.15.1", "pillow", "numpy"])
    model = ROOT / "models" / "mnist-cnn.keras"
    # (a) loads the model per request (~1 req/s): one connection, a few dozen requests.
    for label, per_request, run in (
        ("(a) Flask+Keras, load_model per request", "1", replace(spec, concurrencies=(1,), max_requests=30)),
        ("(b) Flask+Keras, model loaded once", "0", spec),
    ):
        port = free_port()
        env = {"BENCH_KERAS_MODEL": str(model), "BENCH_LOAD_PER_REQUEST": per_request, "BENCH_PORT": str(port)}
        cmd = [str(keras_py), str(BENCH / "baselines" / "flask_keras" / "app.py")]
        url = f"http://127.0.0.1:{port}/predict"
        with running(cmd, url, env, work / f"flask-{per_request}.log", timeout=180, any_answer=True) as (proc, _):
            form_runs(label, url, proc.pid, run)


def float_model_variant() -> Variant | None:
    """The float model beside the int8 one served by default, on the raw PNG only."""
    if default_card() == FLOAT_CARD:
        return None
    return Variant(model_card=FLOAT_CARD, scenarios=("png28",))
