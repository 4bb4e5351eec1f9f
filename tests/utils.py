"""Helpers for tests that run the service as a real process on loopback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.store.record import PredictionRecord, new_record_id

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing -- except in CI, where a skip would hide a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and this test cannot run: {reason}")
    pytest.skip(reason)


def png_bytes(pixels: np.ndarray, mode: str = "L", fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buf, format=fmt, **save)
    return buf.getvalue()


def make_reading(text: str, door: str = "v1") -> PredictionRecord:
    """A whole number's record as /v1/read writes it (for store tests)."""
    digits = [{"digit": int(c), "confidence": 0.9, "box": [i * 30, 5, 25, 40]} for i, c in enumerate(text)]
    return dataclasses.replace(
        make_record(0, door),
        digit=-1,
        confidence=round(0.9 ** len(text), 6),
        probabilities=(),
        text=text,
        digits=json.dumps(digits, separators=(",", ":")),
    )


def make_record(n: int, door: str = "v1") -> PredictionRecord:
    """A record as the service would write it (for store tests)."""
    return PredictionRecord(
        text=str(n % 10),
        id=new_record_id(),
        created_at=dt.datetime.now(dt.UTC),
        filename=f"f{n}.png",
        digit=n % 10,
        confidence=0.9,
        probabilities=tuple(0.1 for _ in range(10)),
        model_sha="m" * 64,
        image_sha256="i" * 64,
        image_bytes=100,
        width=28,
        height=28,
        client="127.0.0.1",
        latency_ms=1.0,
        door=door,
    )


_GIVEN: set[int] = set()  # the ports free_port has handed out in this process


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (32768 unless tuned)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(*also: str) -> int:
    """A port free on 127.0.0.1, and on each of the `also` addresses too. Chosen at random below
    the kernel's ephemeral range: a port from that range (what binding port 0 gives) may be taken
    by any outgoing connection before the server binds it -- Cassandra's, the driver's, a health
    check's -- and a server that waits minutes for its dependencies (the compose stack) then
    cannot bind at all (CI on 8415153: the service never became ready on port 39677)."""
    top = _ephemeral_floor()
    while True:
        port = random.randrange(max(1024, top - 12000), top)
        if port in _GIVEN:  # free now, but another caller may be about to bind it
            continue
        try:
            for address in ("127.0.0.1", *also):
                with socket.socket() as s:
                    s.bind((address, port))
        except OSError:
            continue
        _GIVEN.add(port)
        return port


def wait_ready(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None, any_answer: bool = False
) -> float:
    """Poll `url` until it answers 200 (with `any_answer`, anything below 500); returns the seconds it took."""
    started, last = time.monotonic(), "none"
    while time.monotonic() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 or any_answer:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            if any_answer and exc.code < 500:
                return time.monotonic() - started
            last = f"HTTP {exc.code}: {exc.read()[:500]!r}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s; the last answer: {last}")


@contextmanager
def running(
    cmd: list[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 60.0,
    any_answer: bool = False,
    cwd: Path = ROOT,
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Any server command, in a session of its own on loopback; yields (process, seconds to ready)
    and stops the whole process group (workers included) on the way out."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(ready_url, timeout, proc, any_answer)
        yield proc, time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def running_service(
    env: dict[str, str] | None = None, args: tuple[str, ...] = (), log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """`python -m service` on a free loopback port; yields (base URL, process, seconds to ready)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), *args]
    with running(cmd, base + "/readyz", env, log) as (proc, took):
        if log is not None and "--workers" in args:
            # /readyz answers once one worker is up; a test that breaks something next must not
            # let another start into the fault (it would start not ready: its store cannot open).
            wait_workers(log, int(args[args.index("--workers") + 1]), proc)
        yield base, proc, took


def wait_workers(log: Path, workers: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the server's log says every worker has started (uvicorn logs each start-up)."""
    deadline = time.monotonic() + timeout
    while (started := log.read_text(errors="replace").count("Application startup complete.")) < workers:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} after {started} of {workers} workers started")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{started} of {workers} workers started in {timeout} s")
        time.sleep(0.05)


def worker_pids(server: int) -> list[int]:
    """The server's worker processes (multiprocessing's spawned children, not its resource tracker)."""
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def scrape(base: str) -> str:
    """The service's /metrics text (from a loopback client: allowed without a token)."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def metric(text: str, name: str) -> float:
    """One sample's value from Prometheus text, `name` with its labels as the scrape spells them."""
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not in the scrape"
    return float(match.group(1))


def post_image(url: str, data: bytes, filename: str, content_type: str = "image/png") -> tuple[int, bytes]:
    status, _, body = post(url, data, {"Content-Type": content_type, "X-Filename": filename})
    return status, body


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """POST on loopback; (status, headers with lower-case names, body) whatever the status."""
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@dataclass
class Answers:
    """What uploads under load got, from any number of client threads: the ids answered 200,
    and (status, start of body) of everything else."""

    url: str
    data: bytes
    answered: list[str] = field(default_factory=list)
    errors: list[tuple[int, bytes]] = field(default_factory=list)

    def upload(self, name: str) -> bool:
        try:
            status, _, body = post(self.url, self.data, {"Content-Type": "image/png", "X-Filename": name})
        except http.client.IncompleteRead as exc:  # the server died between an answer's head and body
            self.errors.append((0, f"truncated answer: {exc!r}".encode()))
            return False
        if status != 200:
            self.errors.append((status, body[:300]))
            return False
        self.answered.append(json.loads(body)["predictions"][0]["id"])
        return True
