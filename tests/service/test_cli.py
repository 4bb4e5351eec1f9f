"""`python -m service` serves on the given host/port; `predict` works on local files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.utils import ROOT, png_bytes, post_image, running_service
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
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [int(d) for _, d, _ in lines] == mnist_test.labels[:3].tolist()
    assert "bad.png: unsupported_image_type" in result.stderr
