"""The whole stack as the README starts it, run here: the project's Cassandra image, the one-shot
migration and the service, wired by docker-compose (compose v1, Debian's), with host networking
since this engine runs without a bridge network."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from tests.cassandra_node import wait_drained
from tests.utils import ROOT, free_port, png_bytes, post_image, wait_ready
from train import mnist

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FILES = ("-f", "docker-compose.yml", "-f", "docker/compose.cassandra-local.yml", "-f", "docker/compose.host.yml")
ARTIFACTS = ROOT / "artifacts" / "test"
MB = 1_000_000


def _compose(env: dict[str, str], *args: str, timeout: float = 1800, check: bool = True) -> str:
    out = subprocess.run(
        ["docker-compose", *FILES, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert out.returncode == 0, f"docker-compose {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _env(project: str, docker_base: str, **ports: int) -> dict[str, str]:
    return {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "BASE_IMAGE": docker_base,
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_DOCKER_CLI_BUILD": "0",
        **{name: str(port) for name, port in ports.items()},
    }


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=120).stdout.strip()


def test_compose_stack_end_to_end(docker_base: str, mnist_dir: Path) -> None:
    project = f"mnist-e2e-{uuid.uuid4().hex[:6]}"
    cport, mport = free_port(), free_port()
    env = _env(
        project,
        docker_base,
        CASSANDRA_HOST_PORT=cport,
        CASSANDRA_HOST_STORAGE_PORT=free_port(),
        CASSANDRA_HOST_JMX_PORT=free_port(),
        MNIST_HOST_PORT=mport,
    )

    def compose(*args: str, timeout: float = 1800, check: bool = True) -> str:
        return _compose(env, *args, timeout=timeout, check=check)

    test = mnist.load_split(mnist_dir, "t10k")
    data, label = png_bytes(np.asarray(test.images[0])), int(test.labels[0])
    base = f"http://127.0.0.1:{mport}"
    figures: dict[str, object] = {}
    try:
        started = time.monotonic()
        compose("build")
        figures["build_s"] = round(time.monotonic() - started)
        sizes = {
            t: int(_docker("image", "inspect", "--format", "{{.Size}}", t))
            for t in ("mnist-cassandra", "mnist-service")
        }
        figures |= {f"{t}_mb": round(n / MB, 1) for t, n in sizes.items()}
        figures["base_mb"] = round(int(_docker("image", "inspect", "--format", "{{.Size}}", docker_base)) / MB, 1)
        started = time.monotonic()
        compose("up", "-d")
        wait_ready(base + "/readyz", timeout=300)
        status, body = post_image(base + "/v1/predict", data, "compose n°1.png")
        assert status == 200, body
        figures["up_to_first_answer_s"] = round(time.monotonic() - started, 1)
        first = json.loads(body)["predictions"][0]
        health = _docker("inspect", "--format", "{{.State.Health.Status}}", f"{project}_cassandra_1")
        assert health == "healthy"
        assert _docker("exec", f"{project}_cassandra_1", "id", "-u") == "10002"  # not root

        # Restart the Cassandra container while uploads go on: nothing answered may be lost.
        answered, statuses = [first["id"]], []
        stop = threading.Event()

        def upload() -> None:
            for i in range(2000):
                if stop.is_set():
                    return
                code, out = post_image(base + "/v1/predict", data, f"during-restart-{i}.png")
                statuses.append(code)
                if code == 200:
                    answered.append(json.loads(out)["predictions"][0]["id"])
                time.sleep(0.02)

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(2)
        restarted = time.monotonic()
        compose("restart", "cassandra", timeout=300)
        while _docker("inspect", "--format", "{{.State.Health.Status}}", f"{project}_cassandra_1") != "healthy":
            assert time.monotonic() - restarted < 300, "cassandra did not come back"
            time.sleep(1)
        figures["cassandra_restart_to_healthy_s"] = round(time.monotonic() - restarted, 1)
        time.sleep(2)
        stop.set()
        uploader.join(timeout=60)
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        wait_drained(base, timeout=300)

        # Read the rows back from the Cassandra container, with the driver, as another client would.
        cluster = Cluster(["127.0.0.1"], port=cport, auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
        try:
            session = cluster.connect("mnist")
            rows = list(session.execute("SELECT id, filename, digit, door FROM predictions"))
        finally:
            cluster.shutdown()
        stored = {str(r.id): r for r in rows}
        assert sorted(set(answered) - set(stored)) == []  # 0 answered records lost
        assert len(rows) == len(answered)  # and none twice
        row = stored[first["id"]]
        assert (row.filename, row.digit, row.door) == ("compose n°1.png", label, "v1")
        figures["rows_read_back"] = len(rows)
    finally:
        # Printed, so a failure's report shows them (pytest shows a passing test's output only with -s).
        logs = compose("ps", check=False) + compose("logs", "--tail", "60", check=False)
        print(logs)
        compose("down", "-v", "--remove-orphans", timeout=300, check=False)
    label_filter = f"label=com.docker.compose.project={project}"
    assert _docker("ps", "-a", "-q", "--filter", label_filter) == "", logs
    assert _docker("volume", "ls", "-q", "--filter", label_filter) == ""
    print(f"compose stack: {figures}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "compose-stack.json").write_text(json.dumps(figures, indent=2) + "\n")


@pytest.mark.cluster
def test_compose_cluster_profile(docker_base: str, mnist_dir: Path) -> None:
    """The cluster profile on one host: three Cassandra containers on 127.0.0.1-3, logins
    replicated, the keyspace on all three; the service records at LOCAL_QUORUM."""
    project = f"mnist-cluster-{uuid.uuid4().hex[:6]}"
    cport, mport = free_port("127.0.0.2", "127.0.0.3"), free_port()
    env = _env(
        project,
        docker_base,
        CASSANDRA_HOST_PORT=cport,
        CASSANDRA_HOST_STORAGE_PORT=free_port("127.0.0.2", "127.0.0.3"),
        CASSANDRA_HOST_JMX_PORT=free_port(),
        CASSANDRA_HOST_JMX_PORT_2=free_port(),
        CASSANDRA_HOST_JMX_PORT_3=free_port(),
        MNIST_HOST_PORT=mport,
    )
    env["CASSANDRA_REPLICATION"] = "NetworkTopologyStrategy:datacenter1=3"
    test = mnist.load_split(mnist_dir, "t10k")
    base = f"http://127.0.0.1:{mport}"
    cluster_profile = ("--profile", "cluster")
    try:
        _compose(env, "build")
        started = time.monotonic()
        _compose(env, *cluster_profile, "up", "-d", timeout=900)
        wait_ready(base + "/readyz", timeout=300)
        answered = []
        for i in range(50):
            status, body = post_image(base + "/v1/predict", png_bytes(np.asarray(test.images[i])), f"c{i}.png")
            assert status == 200, body
            answered.append(json.loads(body)["predictions"][0]["id"])
        wait_drained(base, timeout=120)
        up_s = round(time.monotonic() - started, 1)
        auth = f"{project}_cluster-auth_1"
        while _docker("inspect", "--format", "{{.State.Status}}", auth) != "exited":  # a one-shot: wait for it
            assert time.monotonic() - started < 600, "cluster-auth did not finish"
            time.sleep(1)
        code = _docker("inspect", "--format", "{{.State.ExitCode}}", auth)
        assert code == "0", _compose(env, *cluster_profile, "logs", "cluster-auth", check=False)
        # Every node up, and fsyncing first, in the answer of whichever worker replies: a node that
        # came up after a worker connected is seen at its driver's next reconnection attempt (at
        # most 10 s apart), then asked at the relay's next round; until then it is not listed.
        nodes = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
        deadline = time.monotonic() + 120
        while True:
            with urllib.request.urlopen(base + "/readyz", timeout=10) as resp:
                durability = json.loads(resp.read())["store"]["durability"]
            if all(f"{a} group" in durability for a in nodes) or time.monotonic() > deadline:
                break
            time.sleep(1)
        for address in nodes:
            assert f"{address} group" in durability, durability
        # A login may reach replicas of system_auth that have no roles yet (repair is still copying
        # them: "cassandra is not permitted to log in"); a client retries, and so does this one.
        deadline = time.monotonic() + 120
        while True:
            cluster = Cluster(["127.0.0.1"], port=cport, auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
            try:
                session = cluster.connect()
                break
            except NoHostAvailable:
                cluster.shutdown()
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)
        try:
            space = cluster.metadata.keyspaces
            assert space["mnist"].replication_strategy.dc_replication_factors == {"datacenter1": 3}
            assert space["system_auth"].replication_strategy.dc_replication_factors == {"datacenter1": 3}
            ids = {str(r.id) for r in session.execute("SELECT id FROM mnist.predictions")}
        finally:
            cluster.shutdown()
        assert ids == set(answered)
    finally:
        logs = _compose(env, *cluster_profile, "ps", check=False)
        logs += _compose(env, *cluster_profile, "logs", "--tail", "30", check=False)
        print(logs)
        _compose(env, *cluster_profile, "down", "-v", "--remove-orphans", timeout=300, check=False)
    label_filter = f"label=com.docker.compose.project={project}"
    assert _docker("ps", "-a", "-q", "--filter", label_filter) == "", logs
    print(f"compose cluster profile: 3 nodes, 50 uploads recorded on all three in {up_s} s from up")
