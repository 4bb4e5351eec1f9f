"""The int8 model: within its accuracy budget, reproducible from the float model, and servable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.core.card import ModelCard, sha256_file
from service.core.model import OnnxModel
from service.settings import Settings
from tests.utils import ROOT, png_bytes
from train import evaluate, mnist

pytestmark = pytest.mark.train  # needs onnx and the quantiser (the [train] extra)

INT8_CARD = ROOT / "models" / "mnist-cnn-int8.card.json"


def test_committed_int8_model_is_within_budget_and_its_card_is_true(
    float_card_path: Path, mnist_test: mnist.Split
) -> None:
    from convert import quantize

    card = json.loads(INT8_CARD.read_text())
    fp32 = json.loads(float_card_path.read_text())
    report = evaluate.evaluate_idx(OnnxModel(ModelCard.load(INT8_CARD)), mnist_test)  # checks the sha256 too
    assert report.as_dict()["accuracy"] == card["mnist_test"]["accuracy"]
    assert report.confusion() == card["mnist_test"]["confusion_matrix"]
    loss_pp = (fp32["mnist_test"]["accuracy"] - report.accuracy) * 100
    assert loss_pp <= quantize.MAX_LOSS_PP
    assert card["quantisation"]["from"] == fp32["version"]
    assert card["quantisation"]["accuracy_loss_pp"] == pytest.approx(loss_pp, abs=1e-4)
    int8_bytes = (ROOT / "models" / card["model_file"]).stat().st_size
    assert int8_bytes < (ROOT / "models" / fp32["model_file"]).stat().st_size / 3


def test_quantising_again_gives_the_committed_bytes(float_card_path: Path, mnist_dir: Path, tmp_path: Path) -> None:
    from convert import quantize

    out = tmp_path / "again.onnx"
    quantize.quantize(float_card_path, out, quantize.calibration_frames(mnist.load_split(mnist_dir, "train")))
    assert sha256_file(out) == json.loads(INT8_CARD.read_text())["sha256"]


def test_over_budget_writes_nothing(
    float_card_path: Path, mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convert import quantize

    monkeypatch.setattr(quantize, "MAX_LOSS_PP", -1.0)  # no int8 model can be that good
    with pytest.raises(quantize.QuantisationRejected, match="not written"):
        quantize.run(float_card_path, tmp_path / "out", mnist_dir)
    assert not (tmp_path / "out").exists()


def test_the_service_serves_the_int8_model(tmp_path: Path, mnist_test: mnist.Split) -> None:
    from starlette.testclient import TestClient

    from service.app import create_app

    card = json.loads(INT8_CARD.read_text())
    with TestClient(create_app(Settings(model_card=INT8_CARD, data_dir=tmp_path))) as client:
        assert client.get("/v1/model").json()["version"] == card["version"]
        for i in range(10):
            r = client.post("/v1/predict", files={"file": (f"{i}.png", png_bytes(mnist_test.images[i]), "image/png")})
            assert r.status_code == 200
            assert r.json()["predictions"][0]["digit"] == int(mnist_test.labels[i])
            assert r.json()["predictions"][0]["model"]["version"] == card["version"]
