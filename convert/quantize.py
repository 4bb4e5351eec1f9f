"""Static int8 quantisation of the shipped ONNX model, kept only within an accuracy budget.

    mnist-quantize                      # models/mnist-cnn.card.json -> models/mnist-cnn-int8.*

The service serves the int8 model by default when it exists (service.settings.default_card).

ONNX Runtime's own quantiser (QDQ format): weights int8 per output channel, activations uint8
with ranges calibrated on MNIST training images the test set never saw. The result is written
only if its MNIST test accuracy, measured here through the service's own wrapper, is within
MAX_LOSS_PP of the float model's (the figure its card holds, measured the same way by the
pipeline); the int8 card carries both.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from service.core.card import ModelCard
from service.core.model import OnnxModel
from service.settings import FLOAT_CARD
from train import evaluate, figures, mnist

log = logging.getLogger("quantize")

CALIBRATION_IMAGES = 2_000
CALIBRATION_SEED = 20261125
MAX_LOSS_PP = 0.05  # percentage points of MNIST test accuracy the int8 model may lose


class QuantisationRejected(Exception):
    """The int8 model lost more accuracy than the budget allows; nothing was written."""


class _Frames(CalibrationDataReader):  # type: ignore[misc]
    """Calibration batches, normalised exactly as the service feeds the model."""

    def __init__(self, model: OnnxModel, frames: np.ndarray, batch: int = 100) -> None:
        self._batches = iter(
            [{model.card.input.name: model.to_tensor(frames[i : i + batch])} for i in range(0, len(frames), batch)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def calibration_frames(train: mnist.Split, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    rng = np.random.default_rng(CALIBRATION_SEED)
    return train.images[np.sort(rng.choice(len(train.images), count, replace=False))]


def quantize(card_file: Path, out_onnx: Path, calibration: np.ndarray) -> None:
    model = OnnxModel(ModelCard.load(card_file), intra_threads=1)
    # The softmax stays float: quantised, its probabilities come out in steps of 1/255 that no
    # longer sum to 1 (and every class gets at least 0.4 %).
    softmax = [n.name for n in onnx.load(str(model.card.model_file)).graph.node if n.op_type == "Softmax"]
    quantize_static(
        str(model.card.model_file),
        str(out_onnx),
        _Frames(model, calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        # 7-bit weights: without AVX-512 VNNI, ORT's u8 x s8 kernels sum pairs into int16 and
        # can saturate; full-range weights cost 0.16 pp of accuracy here, reduced range 0.03 pp.
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=softmax,
    )


def run(card_file: Path, out_dir: Path, data_dir: Path, sizes: figures.Sizes | None = None) -> ModelCard:
    """Quantise, evaluate both models, and write the int8 model and its card if within budget."""
    fp32_card = ModelCard.load(card_file)
    name = f"{fp32_card.name}-int8"
    test = mnist.load_split(data_dir, "t10k")
    calibration = calibration_frames(mnist.load_split(data_dir, "train"))
    fp32_accuracy = float(fp32_card.figures["mnist_test"]["accuracy"])
    with tempfile.TemporaryDirectory(prefix="mnist-quantize-") as tmp:
        candidate = Path(tmp) / f"{name}.onnx"
        quantize(card_file, candidate, calibration)
        card = fp32_card.derive(name, candidate, drop=("mnist_test", "parity", *figures.KEYS))
        int8_model = OnnxModel(card)
        int8 = evaluate.evaluate_idx(int8_model, test)
        loss_pp = round((fp32_accuracy - int8.accuracy) * 100, 4)
        log.info(
            "MNIST test: float %.2f%%, int8 %.2f%% (loss %.2f pp, budget %.2f pp)",
            fp32_accuracy * 100,
            int8.accuracy * 100,
            loss_pp,
            MAX_LOSS_PP,
        )
        if loss_pp > MAX_LOSS_PP:
            raise QuantisationRejected(
                f"int8 accuracy {int8.accuracy * 100:.2f}% is {loss_pp:.2f} pp below the float model's "
                f"{fp32_accuracy * 100:.2f}% (budget {MAX_LOSS_PP} pp): not written"
            )
        real = figures.measure(int8_model, test, sizes or figures.Sizes())
        figures.log_figures(name, real)
        card = card.with_figures(
            **real,
            mnist_test=int8.as_dict(),
            quantisation={
                "from": fp32_card.version,
                "method": "onnxruntime.quantization.quantize_static, QDQ, per-channel int8 weights "
                "(reduced range), uint8 activations, MinMax calibration",
                "calibration": f"{len(calibration)} MNIST training images, seed {CALIBRATION_SEED}",
                "float_accuracy": round(fp32_accuracy, 6),
                "accuracy_loss_pp": loss_pp,
                "max_loss_pp": MAX_LOSS_PP,
            },
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        out_model = out_dir / candidate.name
        out_model.write_bytes(candidate.read_bytes())
        written = dataclasses.replace(card, model_file=out_model.resolve()).write(out_dir / f"{name}.card.json")
    log.info("wrote %s", written.path)
    return written


def main(argv: list[str] | None = None) -> int:
    from train.train import add_data_args

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--card", type=Path, default=FLOAT_CARD, help="the float model's card")
    parser.add_argument("--out", type=Path, default=None, help="directory to write to (default: the card's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        data_dir = mnist.resolve_data_dir(args.data, args.download, args.cache)
        run(args.card, args.out or args.card.parent, data_dir)
    except (mnist.MnistDataError, QuantisationRejected) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
