"""Two service replicas, each with its own outbox, behind a real HAProxy (deploy/haproxy) that
health-checks /readyz, recording into a real Cassandra, scraped by a real Prometheus
(deploy/prometheus). One replica is SIGKILLed under load: every upload answered 200 is stored once,
the survivor carries the load, Prometheus sees the loss, and the killed replica drains its outbox
when it is started again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from tests.cassandra_node import Node, ready, rows, service_env, wait_drained
from tests.utils import ROOT, Answers, free_port, metric, need, png_bytes, running, scrape, wait_ready
from train import mnist

pytestmark = [pytest.mark.cassandra, pytest.mark.cluster, pytest.mark.slow]

KILL_AT, AFTER_KILL = 300, 900  # answers before replica 1 is killed, and after
WORKERS = 8


def replica(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)


def prometheus_targets(base: str) -> dict[str, str]:
    with urllib.request.urlopen(base + "/api/v1/targets", timeout=10) as resp:
        active = json.loads(resp.read())["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in active if t["labels"]["job"] == "mnist"}


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_replica_lost_behind_haproxy_loses_no_answered_record(node: Node, tmp_path: Path, mnist_dir: Path) -> None:
    for tool in ("haproxy", "prometheus"):
        need(shutil.which(tool) is not None, f"{tool} is not installed (scripts/setup-system installs it)")
    data = png_bytes(np.asarray(mnist.load_split(mnist_dir, "t10k").images[1]))
    keyspace = f"t_{uuid.uuid4().hex[:12]}"
    ports = [free_port(), free_port()]
    lb, stats, prom = free_port(), free_port(), free_port()
    envs = [service_env(node, keyspace, tmp_path / f"replica{i}") for i in (1, 2)]
    logs = [tmp_path / f"replica{i}.log" for i in (1, 2)]
    # Prometheus with the repository's configuration and rules; only the target files are this run's.
    conf = tmp_path / "prometheus"
    shutil.copytree(ROOT / "deploy" / "prometheus", conf)
    (conf / "targets" / "replicas.json").write_text(json.dumps([{"targets": [f"127.0.0.1:{p}" for p in ports]}]))
    (conf / "targets" / "haproxy.json").write_text(json.dumps([{"targets": [f"127.0.0.1:{stats}"]}]))
    lb_env = {
        "MNIST_LB_BIND": f"127.0.0.1:{lb}",
        "MNIST_LB_STATS": f"127.0.0.1:{stats}",
        "MNIST_REPLICA_1": f"127.0.0.1:{ports[0]}",
        "MNIST_REPLICA_2": f"127.0.0.1:{ports[1]}",
    }
    base, prom_base = f"http://127.0.0.1:{lb}", f"http://127.0.0.1:{prom}"
    answers = Answers(base + "/v1/predict", data)
    answered, errors = answers.answered, answers.errors
    killed = threading.Event()
    procs = [replica(p, e, log) for p, e, log in zip(ports, envs, logs, strict=True)]
    with ExitStack() as stack:
        stack.callback(lambda: [stop(p) for p in procs])
        for p, proc in zip(ports, procs, strict=True):
            wait_ready(f"http://127.0.0.1:{p}/readyz", 60, proc)
        haproxy = ["haproxy", "-db", "-f", str(ROOT / "deploy/haproxy/haproxy.cfg")]
        stack.enter_context(running(haproxy, base + "/readyz", lb_env, tmp_path / "lb.log", 30))
        prometheus_cmd = [
            "prometheus",
            f"--config.file={conf / 'prometheus.yml'}",
            f"--web.listen-address=127.0.0.1:{prom}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ]
        stack.enter_context(running(prometheus_cmd, prom_base + "/-/ready", {}, tmp_path / "prometheus.log"))
        wait_for(
            lambda: set(prometheus_targets(prom_base).values()) == {"up"}, 30, "Prometheus never scraped both replicas"
        )

        def upload(k: int) -> None:
            if answers.upload(f"r{k}.png") and len(answered) >= KILL_AT and not killed.is_set():
                killed.set()
                stop(procs[0], signal.SIGKILL)  # the replica and its worker, mid-stream

        before = metric(scrape(f"http://127.0.0.1:{ports[1]}"), 'mnist_predictions_total{digit="2"}')
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(upload, range(KILL_AT + AFTER_KILL)))
        carried = metric(scrape(f"http://127.0.0.1:{ports[1]}"), 'mnist_predictions_total{digit="2"}') - before
        assert killed.is_set()
        # HAProxy re-sends a request whose replica died before answering; it cannot once the answer
        # has begun: a kill between an answer's head and its body cuts that one answer (its record
        # is stored, and counted below among those stored but not answered). Nothing else fails.
        assert all(status == 0 for status, _ in errors) and len(errors) <= WORKERS, errors[:5]
        assert carried >= AFTER_KILL - WORKERS, f"the survivor answered only {carried} after the kill"
        wait_for(
            lambda: prometheus_targets(prom_base).get(f"127.0.0.1:{ports[0]}") == "down",
            30,
            "Prometheus did not see the replica go down",
        )
        # The killed replica comes back on its own outbox and sends what it had not sent yet.
        procs[0] = replica(ports[0], envs[0], logs[0])
        wait_ready(f"http://127.0.0.1:{ports[0]}/readyz", 60, procs[0])
        for p in ports:
            wait_drained(f"http://127.0.0.1:{p}", timeout=120)
        store = ready(f"http://127.0.0.1:{ports[0]}")["store"]
    stored = [str(r[0]) for r in rows(node, keyspace)]
    missing = set(answered) - set(stored)
    assert not missing, f"{len(missing)} answered records lost"
    assert len(stored) == len(set(stored))
    # Uploads the killed replica had recorded but not answered yet may be stored too (at most one
    # per client connection); HAProxy sent those requests again to the survivor.
    unanswered = len(stored) - len(answered)
    assert 0 <= unanswered <= WORKERS, unanswered
    print(
        f"replicas: {len(answered)} answered through HAProxy, replica 1 killed after {KILL_AT}; "
        f"{len(errors)} answers cut by the kill, survivor answered {carried:.0f} after the kill, 0 lost, "
        f"{unanswered} stored but unanswered; "
        f"restarted replica drained: {store}"
    )
