"""The group model's second half: Keras -> ONNX, parity, card with its measured figures.

Called by `mnist-groups` (train/groups.py) after training; every figure is measured on the ONNX
file through the service's own wrapper.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from convert import convert
from service.core import groups
from service.core.card import ModelCard, Normalisation, TensorSpec
from service.core.model import OnnxModel
from train import groups as training
from train import mnist

log = logging.getLogger("groups")

MODEL_NAME = "mnist-groups"


def card_path(models_dir: Path) -> Path:
    return models_dir / f"{MODEL_NAME}.card.json"


def publish(work: Path, out: Path, data_dir: Path, per_count: int = 2_000) -> ModelCard:
    """Convert the model trained into `work`, check it, and write it and its card into `out`."""
    import json

    meta = json.loads((work / "train_meta.json").read_text())
    model = keras.models.load_model(work / "model.keras")
    out.mkdir(parents=True, exist_ok=True)
    onnx_file = out / f"{MODEL_NAME}.onnx"
    convert.convert(model, onnx_file)
    parity = convert.check_parity(model, onnx_file, np.load(work / "parity.npy"))
    height, width = groups.SHAPE
    card = ModelCard.for_model(
        MODEL_NAME,
        onnx_file,
        input=TensorSpec("image", (None, height, width, 1), layout="NHWC", height=height, width=width),
        output=TensorSpec("probabilities", (None, len(groups.LABELS))),
        normalisation=Normalisation(
            1.0 / 255.0,
            notes={
                "ink": "white_on_black",
                "frame": "a group of ink cropped to it, fit in 20x52 px (digit height 20), centre of mass "
                "at (14, 28) of a 28x56 frame",
            },
        ),
        labels=groups.LABELS,
        opset=convert.OPSET,
    ).write(card_path(out))
    # The figure: exact answers on groups made from MNIST *test* digits.
    test = mnist.load_split(data_dir, "t10k")
    data = training.test_groups(test, per_count)
    probs = OnnxModel(card).predict(data.frames)
    accuracy = training.accuracy_by_count(probs, data)
    log.info("%s: exact answers on %d test groups by digit count: %s", MODEL_NAME, len(data.labels), accuracy)
    card = card.with_figures(
        group_accuracy={
            "set": f"{len(data.labels)} groups from MNIST test digits (train.groups seed {training.SEED + 1})",
            "by_digits": accuracy,
        },
        parity=parity.as_dict(),
        parameters=meta["parameters"],
        multiply_adds_per_image=meta["multiply_adds_per_image"],
        training_wall_time_s=meta["training_wall_time_s"],
        seed=meta["seed"],
        recipe=meta["recipe"],
        data_checksums_sha256=meta["data_checksums_sha256"],
        versions=convert.versions(),
    ).write(card_path(out))
    return card
