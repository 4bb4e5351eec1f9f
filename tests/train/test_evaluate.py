"""The evaluation command reproduces the card's figures for the committed model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.card import ModelCard
from service.core.model import OnnxModel
from tests.utils import ROOT
from train import evaluate, mnist


def test_committed_model_meets_the_target_and_matches_its_card(card_path: Path, mnist_test: mnist.Split) -> None:
    card = json.loads(card_path.read_text())
    report = evaluate.evaluate_idx(OnnxModel(ModelCard.load(card_path)), mnist_test)
    assert report.total == 10_000
    assert report.accuracy >= 0.995
    assert report.as_dict()["accuracy"] == card["mnist_test"]["accuracy"]
    assert report.confusion() == card["mnist_test"]["confusion_matrix"]
    assert report.per_class() == card["mnist_test"]["per_class_accuracy"]
    assert card["multiply_adds_per_image"] <= 21_800_000


def test_evaluate_command_prints_the_card_figure(card_path: Path, mnist_dir: Path, tmp_path: Path) -> None:
    card = json.loads(card_path.read_text())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.evaluate",
            "--card",
            str(card_path),
            "--idx",
            str(mnist_dir),
            "--json",
            str(tmp_path / "r.json"),
            "--show",
            "5",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert f"accuracy {card['mnist_test']['accuracy'] * 100:.2f}%" in out
    assert "misclassified (" in out and "per class:" in out
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == card["mnist_test"]["accuracy"]


def test_evaluate_folder_reads_labels_from_names(card_path: Path, mnist_test: mnist.Split, tmp_path: Path) -> None:
    files = evaluate.idx_as_png(mnist.Split(mnist_test.images[:30], mnist_test.labels[:30]))
    for i, (name, data, label) in enumerate(files):
        target = tmp_path / (name if i % 2 else f"{label}/{name.split('_', 1)[1]}")
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
    (tmp_path / "3_broken.png").write_bytes(b"broken")
    (tmp_path / "unlabelled.png").write_bytes(files[0][1])
    report = evaluate.evaluate_folder(OnnxModel(ModelCard.load(card_path)), tmp_path)
    assert sorted(report.labels.tolist()) == sorted(mnist_test.labels[:30].tolist())
    assert report.rejected == ["3_broken.png (unsupported_image_type)"]
    assert report.total == 31


@pytest.mark.parametrize(("name", "label"), [("7_abc.png", 7), ("3/x.png", 3), ("x.png", None), ("12_a.png", None)])
def test_label_of(name: str, label: int | None) -> None:
    assert evaluate.label_of(Path("/data") / name) == label
