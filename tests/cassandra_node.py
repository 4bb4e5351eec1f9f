"""A real single-node Cassandra for the tests, run by scripts/cassandra/{start,stop}."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

from tests.utils import ROOT

SCRIPTS = ROOT / "scripts" / "cassandra"


@dataclass
class Node:
    home: Path
    host: str = "127.0.0.1"
    port: int = 19042
    storage_port: int = 17000
    jmx_port: int = 17199
    managed: bool = True  # False: an existing cluster named by the environment
    extra: dict[str, str] = field(default_factory=dict)  # more of scripts/cassandra/configure's settings

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CASSANDRA_HOME_DIR": str(self.home),
            "CASSANDRA_PORT": str(self.port),
            "CASSANDRA_STORAGE_PORT": str(self.storage_port),
            "CASSANDRA_JMX_PORT": str(self.jmx_port),
            **self.extra,
        }

    def start(self, timeout: float = 300) -> float:
        started = time.monotonic()
        subprocess.run([str(SCRIPTS / "start")], env=self.env, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
        return time.monotonic() - started

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "stop")], env=self.env, check=True, timeout=120)

    def pid(self) -> int:
        return int((self.home / "cassandra.pid").read_text())

    def kill(self) -> None:
        """SIGKILL: the abrupt outage, no flush, no goodbye."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)

    def freeze(self) -> None:
        """SIGSTOP: the host vanished — no reset, no goodbye, connections simply go quiet."""
        os.kill(self.pid(), signal.SIGSTOP)

    def cql(self, statement: str) -> str:
        """Run a statement with cqlsh (the PyPI package: an independent client)."""
        cqlsh = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "cqlsh"
        if not cqlsh.exists():
            cqlsh = ROOT / ".venv" / "bin" / "cqlsh"
        out = subprocess.run(
            [
                str(cqlsh),
                self.host,
                str(self.port),
                "-u",
                "cassandra",
                "-p",
                "cassandra",
                "--request-timeout",
                "30",
                "-e",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout


def service_env(node: Node, keyspace: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "MNIST_DATA_DIR": str(data_dir),
        "CASSANDRA_CONTACT_POINTS": node.host,
        "CASSANDRA_PORT": str(node.port),
        "CASSANDRA_KEYSPACE": keyspace,
        "CASSANDRA_USERNAME": "cassandra",
        "CASSANDRA_PASSWORD": "cassandra",
        "CASSANDRA_CONSISTENCY": "LOCAL_QUORUM",
        "CASSANDRA_CONNECT_TIMEOUT_S": "5",
        **extra,
    }


def rows(node: Node, keyspace: str) -> list[tuple[uuid.UUID, str, int, dt.datetime]]:
    cluster = Cluster(
        [node.host], port=node.port, auth_provider=PlainTextAuthProvider("cassandra", "cassandra"), protocol_version=5
    )
    try:
        session = cluster.connect(keyspace)
        return [
            (r.id, r.filename, r.digit, r.created_at)
            for r in session.execute("SELECT id, filename, digit, created_at FROM predictions")
        ]
    finally:
        cluster.shutdown()


def ready(base: str) -> dict[str, object]:
    with urllib.request.urlopen(base + "/readyz", timeout=10) as resp:
        body: dict[str, object] = json.loads(resp.read())
        return body


def wait_drained(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = ready(base)["store"]
        assert isinstance(store, dict)
        if store["outbox_depth"] == 0 and store["cassandra_reachable"]:
            return
        time.sleep(0.2)
    raise TimeoutError(f"outbox not drained: {ready(base)}")
