"""The real pipeline (train -> convert -> parity -> evaluate -> card), small enough for CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.utils import ROOT
from train import mnist

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("models")
    work = tmp_path_factory.mktemp("work")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.pipeline",
            "--smoke",
            "--data",
            str(mnist_dir),
            "--out",
            str(out),
            "--work",
            str(work),
        ],
        check=True,
        cwd=ROOT,
        timeout=900,
    )
    return out, work


def test_smoke_pipeline_writes_a_complete_card(smoke_run: tuple[Path, Path]) -> None:
    out, work = smoke_run
    card = json.loads((out / "mnist-cnn.card.json").read_text())
    from service.core.card import ModelCard, sha256_file
    from service.core.model import OnnxModel

    assert card["sha256"] == sha256_file(out / "mnist-cnn.onnx")
    assert card["input"] == {
        "name": "image",
        "shape": [None, 28, 28, 1],
        "dtype": "float32",
        "layout": "NHWC",
        "height": 28,
        "width": 28,
    }
    assert card["opset"] == 17 and card["labels"] == [str(d) for d in range(10)]
    for key in ("tensorflow", "keras", "tf2onnx", "onnx"):
        assert card["versions"][key]
    assert card["parity"]["images"] >= 1000 and card["parity"]["max_abs_diff"] <= 1e-5
    assert card["parity"]["argmax_mismatches"] == 0
    assert card["mnist_test"]["images"] == 10_000
    assert len(card["mnist_test"]["confusion_matrix"]) == 10
    assert card["data_checksums_sha256"] == mnist.CHECKSUMS
    assert card["multiply_adds_per_image"] <= 21_800_000 and card["parameters"] > 0
    # Three short epochs on 6,000 images already learn most of MNIST; a broken pipeline would not.
    assert card["mnist_test"]["accuracy"] > 0.9
    # The real-picture figures: every upload-like family, the calibrated flag, numbers by length.
    from train import numbers, uploadlike

    assert set(card["upload_like_families"]) == {*uploadlike.ALL_FAMILIES, "all"}
    assert card["upload_like"]["images"] == card["upload_like_families"]["photo"]["images"]
    assert 0.0 < card["uncertain"]["threshold"] < 1.0
    assert set(card["uncertain"]["flagged"]) == {"correct", "wrong", "letters", "scribbles"}
    for kind in numbers.KINDS:
        assert set(card["numbers"]["string_accuracy"][kind]) == {*map(str, numbers.LENGTHS), "all"}
    assert set(card["numbers"]["string_accuracy_with_separators"]) == {*numbers.SEPARATORS, "all"}
    assert set(card["numbers"]["string_accuracy_4_digits_over_seeds"]) == {"seeds", *numbers.KINDS}
    assert 0.0 <= card["numbers"]["string_accuracy_on_squared_paper"] <= 1.0
    for png in ("mnist-cnn.confusion.png", "mnist-cnn.curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((work / "train" / "history.json").read_text())["loss"]
    # The service's own wrapper loads what the pipeline wrote.
    model = OnnxModel(ModelCard.load(out / "mnist-cnn.card.json"))
    assert model.predict(np.zeros((3, 28, 28), np.uint8)).shape == (3, 10)


def test_onnx_matches_keras_on_1000_test_images(smoke_run: tuple[Path, Path], mnist_dir: Path) -> None:
    out, work = smoke_run
    import keras
    import onnxruntime as ort

    test = mnist.load_split(mnist_dir, "t10k")
    x = (test.images[:1000].astype(np.float32) / 255.0)[..., None]
    expected = keras.models.load_model(work / "train" / "model.keras").predict(x, verbose=0)
    session = ort.InferenceSession(str(out / "mnist-cnn.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    assert np.max(np.abs(expected - got)) <= 1e-5
    assert np.array_equal(expected.argmax(1), got.argmax(1))


def test_dynamic_batch_dimension(smoke_run: tuple[Path, Path]) -> None:
    import onnx

    out, _ = smoke_run
    proto = onnx.load(str(out / "mnist-cnn.onnx"))
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim0.HasField("dim_value")  # symbolic: any batch size
    assert proto.graph.input[0].name == "image" and proto.graph.output[0].name == "probabilities"


def test_int8_variant_ships_only_within_budget(smoke_run: tuple[Path, Path]) -> None:
    from convert import quantize
    from service.core.card import ModelCard
    from service.core.model import OnnxModel

    out, _ = smoke_run
    card_file, onnx_file = out / "mnist-cnn-int8.card.json", out / "mnist-cnn-int8.onnx"
    fp32 = json.loads((out / "mnist-cnn.card.json").read_text())
    if not card_file.exists():  # rejected: then nothing of it may be left behind
        assert not onnx_file.exists()
        return
    card = json.loads(card_file.read_text())
    assert card["quantisation"]["from"] == fp32["version"]
    assert (fp32["mnist_test"]["accuracy"] - card["mnist_test"]["accuracy"]) * 100 <= quantize.MAX_LOSS_PP
    assert OnnxModel(ModelCard.load(card_file)).predict(np.zeros((2, 28, 28), np.uint8)).shape == (2, 10)
