"""Baseline (c): a general-purpose model server, BentoML, serving the same ONNX model through
the same preprocessing (the project's service.core.framing, put on sys.path by the benchmark).
Lives in its own venv; never imported by the project."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["BENCH_PROJECT_ROOT"])

from pathlib import Path  # noqa: E402

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from service.core import framing  # noqa: E402


@bentoml.service(workers=1, traffic={"timeout": 30})
class Mnist:
    def __init__(self) -> None:
        # The ONNX file this service serves by default, so that both run the same model.
        model = os.environ["BENCH_ONNX_MODEL"]
        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    @bentoml.api(route="/predict")
    def predict(self, file: Path) -> dict:  # a multipart upload, BentoML's own file input
        frame = framing.prepare(file.read_bytes()).pixels
        x = (frame.astype(np.float32) / 255.0).reshape(1, 28, 28, 1)
        probs = self.session.run(None, {"image": x})[0][0]
        return {"digit": int(probs.argmax()), "confidence": float(probs.max())}
