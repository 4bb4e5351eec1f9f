"""The shipped ONNX model computes what the Keras model it came from computes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.utils import ROOT
from train import mnist

pytestmark = pytest.mark.train


def test_shipped_onnx_matches_keras_on_2000_test_images(mnist_test: mnist.Split) -> None:
    import keras
    import onnxruntime as ort

    x = (mnist_test.images[:2000].astype(np.float32) / 255.0)[..., None]
    expected = keras.models.load_model(ROOT / "models" / "mnist-cnn.keras").predict(x, batch_size=500, verbose=0)
    session = ort.InferenceSession(str(ROOT / "models" / "mnist-cnn.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    assert got.shape == (2000, 10)
    assert float(np.max(np.abs(expected - got))) <= 1e-5
    assert np.array_equal(expected.argmax(1), got.argmax(1))
