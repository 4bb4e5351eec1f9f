"""Convert the trained Keras model to ONNX and verify parity with ONNX Runtime.

`tf2onnx.convert.from_keras` fails with Keras 3 (KeyError 'keras_tensor_N'), so the model is
wrapped in a `tf.function` with an explicit input signature and converted with
`from_function`. The batch dimension stays dynamic; the opset is pinned.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

from train import mnist
from train.train import add_data_args, prepare

log = logging.getLogger("convert")

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
PARITY_IMAGES = 2_000
PARITY_TOLERANCE = 1e-5


class ParityError(Exception):
    """ONNX Runtime and Keras disagree beyond the tolerance."""


@dataclass(frozen=True)
class Parity:
    images: int
    max_abs_diff: float
    argmax_mismatches: int

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "max_abs_diff": self.max_abs_diff,
            "argmax_mismatches": self.argmax_mismatches,
            "tolerance": PARITY_TOLERANCE,
        }


def convert(model: keras.Model, path: Path) -> onnx.ModelProto:
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
    def serve(image: tf.Tensor) -> tf.Tensor:
        return model(image, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET)
    # tf2onnx names the output after the graph's last op; give it a stable name.
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [OUTPUT_NAME if o == old else o for o in node.output]
    proto.graph.output[0].name = OUTPUT_NAME
    proto.producer_name = "mnist-onnx-service convert"
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return proto


def check_parity(model: keras.Model, onnx_path: Path, x: np.ndarray) -> Parity:
    """Compare probabilities of Keras and ONNX Runtime on the same images; raise if off."""
    expected = model.predict(x, batch_size=500, verbose=0)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {INPUT_NAME: x[i : i + 500]})[0] for i in range(0, len(x), 500)])
    parity = Parity(
        images=len(x),
        max_abs_diff=float(np.max(np.abs(expected - got))),
        argmax_mismatches=int(np.sum(expected.argmax(1) != got.argmax(1))),
    )
    if parity.max_abs_diff > PARITY_TOLERANCE or parity.argmax_mismatches:
        raise ParityError(f"ONNX and Keras disagree: {parity}")
    log.info("parity on %d images: max |diff| %.2e, argmax mismatches 0", len(x), parity.max_abs_diff)
    return parity


def run(keras_path: Path, onnx_path: Path, data_dir: Path, parity_images: int) -> Parity:
    model = keras.models.load_model(keras_path)
    convert(model, onnx_path)
    log.info("wrote %s (opset %d)", onnx_path, OPSET)
    test = mnist.load_split(data_dir, "t10k")
    return check_parity(model, onnx_path, prepare(test.images[:parity_images]))


def versions() -> dict[str, str]:
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_data_args(parser)
    parser.add_argument("--keras", type=Path, default=Path("artifacts/train/model.keras"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/model.onnx"))
    parser.add_argument("--parity-images", type=int, default=PARITY_IMAGES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        data_dir = mnist.resolve_data_dir(args.data, args.download, args.cache)
        run(args.keras, args.out, data_dir, args.parity_images)
    except (mnist.MnistDataError, ParityError) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
