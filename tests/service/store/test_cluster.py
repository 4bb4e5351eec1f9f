"""A 3-node Cassandra cluster (scripts/cassandra/cluster: 127.0.0.1-3, dc1, group commit-log
sync, system_auth on every node) behind the service at LOCAL_QUORUM with token- and DC-aware
routing. One node is killed under load and brought back: no client sees an error, no answered
record is missing, and after a repair every replica holds the same rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy

from tests.cassandra_node import ready, wait_drained
from tests.utils import ROOT, Answers, free_port, need, png_bytes, running_service
from train import mnist

pytestmark = [pytest.mark.cassandra, pytest.mark.cluster, pytest.mark.slow]

SCRIPT = ROOT / "scripts" / "cassandra" / "cluster"
NODETOOL = ROOT / "scripts" / "cassandra" / "nodetool"
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
# Node 3 is killed after KILL_AT answers and restarted at once; the load goes on until it is back
# and AFTER more answers have come in (bounded by MAX_UPLOADS and MAX_S).
KILL_AT, AFTER = 300, 300
MAX_UPLOADS, MAX_S = 20_000, 240


@dataclass
class LocalCluster:
    home: Path
    port: int
    storage_port: int
    jmx_port: int

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CASSANDRA_CLUSTER_DIR": str(self.home),
            "CASSANDRA_PORT": str(self.port),
            "CASSANDRA_STORAGE_PORT": str(self.storage_port),
            "CASSANDRA_JMX_PORT": str(self.jmx_port),
            "PYTHON": sys.executable,
        }

    def run(self, *args: str, timeout: float = 600) -> str:
        out = subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def nodetool(self, node: int, *args: str) -> str:
        env = {**os.environ, "CASSANDRA_JMX_PORT": str(self.jmx_port + node - 1)}
        out = subprocess.run([str(NODETOOL), *args], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def kill(self, node: int) -> None:
        pid = int((self.home / f"node{node}" / "cassandra.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    need(subprocess.run(["java", "-version"], capture_output=True).returncode == 0, "java is not installed")
    jmx = free_port()
    while not all(free_port() != p for p in (jmx + 1, jmx + 2)):
        jmx = free_port()
    c = LocalCluster(tmp_path_factory.mktemp("cluster"), free_port(*ADDRESSES[1:]), free_port(*ADDRESSES[1:]), jmx)
    started = time.monotonic()
    try:
        c.run("start")
        print(f"3-node cluster up (system_auth replicated) in {time.monotonic() - started:.0f} s")
        yield c
    finally:
        c.run("stop")


def _rows(c: LocalCluster, keyspace: str) -> list[str]:
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy("dc1"), consistency_level=ConsistencyLevel.LOCAL_QUORUM
    )
    driver = Cluster(
        list(ADDRESSES),
        port=c.port,
        auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
    )
    try:
        session = driver.connect(keyspace)
        return [str(r.id) for r in session.execute("SELECT id FROM predictions", timeout=60)]
    finally:
        driver.shutdown()


def test_a_node_lost_under_load_costs_no_error_and_no_record(
    cluster: LocalCluster, tmp_path: Path, mnist_dir: Path
) -> None:
    data = png_bytes(np.asarray(mnist.load_split(mnist_dir, "t10k").images[3]))
    keyspace = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        "MNIST_DATA_DIR": str(tmp_path / "var"),
        "CASSANDRA_CONTACT_POINTS": ",".join(ADDRESSES),
        "CASSANDRA_PORT": str(cluster.port),
        "CASSANDRA_KEYSPACE": keyspace,
        "CASSANDRA_USERNAME": "cassandra",
        "CASSANDRA_PASSWORD": "cassandra",
        "CASSANDRA_LOCAL_DC": "dc1",
        "CASSANDRA_REPLICATION": "NetworkTopologyStrategy:dc1=3",
        "CASSANDRA_CONSISTENCY": "LOCAL_QUORUM",
    }
    killed = threading.Event()
    back_at: list[int] = []  # how many were answered when node 3 answered again

    def bring_back() -> None:
        cluster.run("start", "3")
        back_at.append(len(answered))

    restart = threading.Thread(target=bring_back, daemon=True)

    with running_service(env=env, args=("--workers", "2"), log=tmp_path / "server.log") as (base, proc, _):
        answers = Answers(base + "/v1/predict", data)
        answered, errors = answers.answered, answers.errors

        def upload(k: int) -> None:
            if (back_at and len(answered) >= back_at[0] + AFTER) or time.monotonic() - started > MAX_S:
                return
            if answers.upload(f"c{k}.png") and len(answered) >= KILL_AT and not killed.is_set():
                killed.set()
                cluster.kill(3)  # SIGKILL under load: the abrupt loss of a node
                restart.start()  # at once, under the load (it takes ~15 s)

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(upload, range(MAX_UPLOADS)))
        took = time.monotonic() - started
        restart.join(timeout=300)
        wait_drained(base, timeout=180)
        store = ready(base)["store"]
        assert proc.poll() is None

    assert killed.is_set() and back_at, "node 3 was not killed and brought back under the load"
    assert errors == [], errors[:5]
    stored = _rows(cluster, keyspace)
    assert sorted(stored) == sorted(answered), f"{len(set(answered) - set(stored))} answered records missing"
    # Node 3 is back: bring its copy up to date, then check that the three replicas agree (a
    # preview repair compares their Merkle trees and streams nothing).
    assert "UN  127.0.0.3" in cluster.nodetool(1, "status")
    cluster.nodetool(3, "repair", "--full", keyspace)
    preview = cluster.nodetool(1, "repair", "--preview", "--full", keyspace)
    assert "in sync" in preview.lower() and "mismatch" not in preview.lower(), preview
    print(
        f"cluster: {len(answered)} uploads in {took:.1f} s, node 3 killed after {KILL_AT} and back after "
        f"{back_at[0]}: 0 errors, "
        f"{len(stored)} rows at LOCAL_QUORUM, replicas in sync after repair; {store['durability']}"  # type: ignore[index]
    )
