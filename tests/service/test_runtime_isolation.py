"""The runtime needs no TensorFlow: nothing in service/ imports it, and a runtime-only venv predicts."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.settings import GROUPS_CARD
from tests.utils import ROOT, png_bytes
from train import mnist

FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "onnx", "train", "convert")


def test_service_imports_nothing_from_the_build_side() -> None:
    offenders = []
    for path in (ROOT / "service").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


@pytest.mark.slow
def test_runtime_only_venv_predicts_without_tensorflow(
    tmp_path: Path, card_path: Path, mnist_test: mnist.Split
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(ROOT)], check=True, timeout=600)
    image = tmp_path / "seven.png"
    image.write_bytes(png_bytes(255 - np.asarray(mnist_test.images[0])))
    probe = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('tensorflow') is None, 'tensorflow is installed'\n"
        "assert importlib.util.find_spec('keras') is None, 'keras is installed'\n"
        "import service.app, service.cli\n"
        "sys.exit(service.cli.predict([sys.argv[1]]))\n"
    )
    env = {**os.environ, "MNIST_MODEL_CARD": str(card_path), "MNIST_GROUPS_CARD": str(GROUPS_CARD)}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(py), "-c", probe, str(image)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    _, digit, confidence = result.stdout.strip().split("\t")
    assert digit == "7" and float(confidence) > 0.5
    assert (
        "tensorflow"
        not in subprocess.run(
            [str(py), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
        ).stdout.lower()
    )
