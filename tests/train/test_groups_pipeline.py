"""`mnist-groups --smoke`: the group model's train -> convert -> parity -> card, small enough for CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.core import groups
from service.core.card import ModelCard, sha256_file
from service.core.groups import GroupModel
from service.core.model import OnnxModel
from tests.utils import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.train]


def test_smoke_run_writes_a_group_model_the_service_can_load(tmp_path: Path, mnist_dir: Path) -> None:
    out, work = tmp_path / "models", tmp_path / "work"
    command = [sys.executable, "-m", "train.groups", "--smoke", "--data", str(mnist_dir)]
    subprocess.run(
        [*command, "--out", str(out), "--work", str(work)],
        check=True,
        cwd=ROOT,
        timeout=900,
    )
    raw = json.loads((out / "mnist-groups.card.json").read_text())
    assert raw["sha256"] == sha256_file(out / "mnist-groups.onnx")
    assert raw["input"]["shape"] == [None, 28, 56, 1] and raw["labels"] == list(groups.LABELS)
    assert raw["parity"]["argmax_mismatches"] == 0
    assert set(raw["group_accuracy"]["by_digits"]) == {"1", "2", "3", "all"}
    assert raw["recipe"]["epochs"] == 1 and raw["versions"]["tf2onnx"]
    model = GroupModel(OnnxModel(ModelCard.load(out / "mnist-groups.card.json")))
    probs = model.predict(np.zeros((3, *groups.SHAPE), np.uint8))
    assert probs.shape == (3, len(groups.LABELS)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
