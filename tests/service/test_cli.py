"""`python -m service` serves on the given host/port; `predict` works on local files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.utils import ROOT, metric, png_bytes, post_image, running_service, scrape
from train import mnist


@pytest.mark.slow
def test_python_m_service_serves_and_stops_cleanly(tmp_path: Path, mnist_test: mnist.Split) -> None:
    env = {"MNIST_DATA_DIR": str(tmp_path / "var")}
    with running_service(env=env, log=tmp_path / "server.log") as (base, proc, took):
        print(f"process start to ready: {took:.2f} s")
        status, body = post_image(base + "/v1/predict", png_bytes(mnist_test.images[0]), "seven.png")
        assert status == 200
        assert json.loads(body)["predictions"][0]["digit"] == 7
    log = (tmp_path / "server.log").read_text()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert proc.returncode in (0, -15), log
    assert "Application shutdown complete" in log
    assert (tmp_path / "var" / "predictions.sqlite3").is_file()


def test_bad_settings_fail_fast_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--port", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"MNIST_MAX_FILES": "zero", "PATH": "/usr/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: MNIST_MAX_FILES='zero': invalid literal for int() with base 10: 'zero'"


def test_predict_command(tmp_path: Path, mnist_test: mnist.Split) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"d{i}.png"
        f.write_bytes(png_bytes(np.asarray(mnist_test.images[i])))
        files.append(str(f))
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = subprocess.run(
        [sys.executable, "-m", "service", "predict", *files, str(tmp_path / "bad.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MNIST_DATA_DIR": str(tmp_path / "var")},
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [int(d) for _, d, _ in lines] == mnist_test.labels[:3].tolist()
    assert "bad.png: unsupported_image_type" in result.stderr


def test_predict_command_reads_numbers(tmp_path: Path) -> None:
    from tests.handwriting import png, written

    (tmp_path / "year.png").write_bytes(png(written("1969", pen=6)[0]))
    result = subprocess.run(
        [sys.executable, "-m", "service", "predict", "--number", str(tmp_path / "year.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MNIST_DATA_DIR": str(tmp_path / "var")},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    path, text, confidence = result.stdout.strip().split("\t")
    assert path.endswith("year.png") and text == "1969" and 0.5 < float(confidence) <= 1.0


@pytest.mark.slow
def test_a_client_that_goes_away_is_counted_not_logged_as_an_error(tmp_path: Path) -> None:
    env = {"MNIST_DATA_DIR": str(tmp_path / "var")}
    with running_service(env=env, log=tmp_path / "server.log") as (base, _, _):
        port = int(base.rsplit(":", 1)[1])
        for _ in range(3):  # a body promised and never finished: the client hangs up mid-way
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(
                    b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                    b"Content-Length: 100000\r\n\r\n\x89PNG\r\n\x1a\n"
                )
                time.sleep(0.1)
        deadline = time.monotonic() + 10
        while metric(scrape(base), "mnist_client_closed_total") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(scrape(base), "mnist_client_closed_total") == 3
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and " ERROR " not in log, log


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_worker_logs_in_the_configured_format(tmp_path: Path, fmt: str) -> None:
    """Before, logging set up in the parent never reached uvicorn's spawned workers."""
    env = {"MNIST_DATA_DIR": str(tmp_path / "var"), "MNIST_LOG_FORMAT": fmt}
    with running_service(env=env, args=("--workers", "2"), log=tmp_path / "server.log"):
        deadline = time.monotonic() + 30
        while (tmp_path / "server.log").read_text().count("ready in") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    lines = [ln for ln in (tmp_path / "server.log").read_text().splitlines() if ln.strip()]
    if fmt == "json":
        events = [json.loads(ln) for ln in lines]  # every line is one JSON object
        ready = [e for e in events if e["message"].startswith("ready in")]
        assert {e["level"] for e in ready} == {"INFO"} and {e["logger"] for e in ready} == {"service"}
        assert len({e["pid"] for e in ready}) == 2
    else:
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
        ready = [ln for ln in lines if re.match(stamp + r"INFO service: ready in ", ln)]
        assert len(ready) == 2, lines
        assert all(re.match(stamp + r"[A-Z]+ [\w.]+: ", ln) for ln in lines), lines


def _trickle(port: int, head: bytes, body: bytes, pause_s: float, limit_s: float) -> bytes:
    """Send a request a byte at a time on a new connection; what the server answered meanwhile."""
    return _trickle_socket(socket.create_connection(("127.0.0.1", port)), head + body, pause_s, limit_s)


@pytest.mark.slow
def test_slow_senders_are_cut_off(tmp_path: Path) -> None:
    env = {"MNIST_DATA_DIR": str(tmp_path / "var"), "MNIST_HEADER_TIMEOUT_S": "1", "MNIST_BODY_TIMEOUT_S": "1.5"}
    with running_service(env=env, log=tmp_path / "server.log") as (base, _, _):
        port = int(base.rsplit(":", 1)[1])
        head = b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nContent-Length: 400\r\n\r\n"
        started = time.monotonic()
        answer = _trickle(port, head, b"", pause_s=0.1, limit_s=6)  # the head itself trickles
        assert answer.startswith(b"HTTP/1.1 408") and b"header_timeout" in answer, answer
        assert time.monotonic() - started < 4
        with socket.create_connection(("127.0.0.1", port)) as sock:  # opens and sends nothing
            sock.settimeout(5)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408")
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(head)  # a whole head, then a body that trickles
        started = time.monotonic()
        answer = _trickle_socket(sock, b"\x89PNG" + bytes(396), pause_s=0.1, limit_s=6)
        assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer, answer
        assert time.monotonic() - started < 4
        status, _ = post_image(base + "/v1/predict", b"\x89PNG", "x.png")  # still serving
        assert status == 415


def _trickle_socket(sock: socket.socket, body: bytes, pause_s: float, limit_s: float) -> bytes:
    """Send `body` a byte at a time until the server answers (or `limit_s` passes), then close."""
    started = time.monotonic()
    received = b""
    sock.setblocking(False)
    try:
        for byte in body:
            with contextlib.suppress(BlockingIOError):
                received += sock.recv(4096)
            if received or time.monotonic() - started > limit_s:
                break
            sock.sendall(bytes([byte]))
            time.sleep(pause_s)
    except OSError:
        pass
    finally:
        sock.close()
    return received


@pytest.mark.slow
def test_behind_a_proxy_with_a_path_prefix(tmp_path: Path, mnist_test: mnist.Split) -> None:
    """A proxy serving the service under /mnist, forwarding the client's address: the page's links
    stay under the prefix, and the forwarded (remote) client may not read the history."""
    import urllib.request

    env = {"MNIST_DATA_DIR": str(tmp_path / "var")}
    args = ("--root-path", "/mnist", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    with running_service(env=env, args=args) as (base, _, _):
        with urllib.request.urlopen(base + "/") as resp:
            page = resp.read().decode()
        assert 'href="static/style.css"' in page and 'action="./"' in page  # relative: /mnist/static/...
        forwarded = urllib.request.Request(
            base + "/v1/predictions", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(forwarded, timeout=10)
        err.value.close()
        assert err.value.code == 403  # the real client is remote, though the proxy is on loopback
        with urllib.request.urlopen(base + "/v1/predictions", timeout=10) as resp:
            assert resp.status == 200  # a loopback client, no proxy in between
