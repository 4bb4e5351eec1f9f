"""Peer: BentoML serving the same ONNX file through the same preprocessing (the project's
service.core.framing, put on sys.path by the benchmark), configured as BentoML's docs recommend
for CPU throughput: as many workers as this service runs, an async API taking an image (BentoML
decodes the multipart upload with Pillow itself), the access log off, ONNX Runtime's session
options the same as this service's (one intra-op thread per worker, no spinning), uvloop in its
venv. Lives in its own venv; never imported by the project."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["BENCH_PROJECT_ROOT"])

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402

from service.core import framing  # noqa: E402
from service.core.decode import Decoded  # noqa: E402

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


@bentoml.service(workers=WORKERS, traffic={"timeout": 30}, logging={"access": {"enabled": False}})
class Mnist:
    def __init__(self) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, (os.cpu_count() or 1) // WORKERS)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(os.environ["BENCH_ONNX_MODEL"], opts, providers=["CPUExecutionProvider"])

    @bentoml.api(route="/predict")
    async def predict(self, file: Image.Image) -> dict:
        frame = framing.prepare_image(Decoded(file, file.format or "PNG", *file.size)).pixels
        x = (frame.astype(np.float32) / 255.0).reshape(1, 28, 28, 1)
        probs = self.session.run(None, {"image": x})[0][0]
        return {"digit": int(probs.argmax()), "confidence": float(probs.max())}
