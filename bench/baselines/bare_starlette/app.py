"""The floor: what a user writes instead of this service — Starlette + ONNX Runtime, the same
model file, session options and preprocessing (the project's service.core.framing, put on
sys.path by the benchmark), recording nothing, no limits, no metrics. Run with uvicorn's workers.
Never imported by the project."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ["BENCH_PROJECT_ROOT"])

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from service.core import framing  # noqa: E402

opts = ort.SessionOptions()
opts.intra_op_num_threads = int(os.environ.get("BENCH_ORT_THREADS", "1"))
opts.inter_op_num_threads = 1
opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(os.environ["BENCH_ONNX_MODEL"], opts, providers=["CPUExecutionProvider"])


async def predict(request: Request) -> JSONResponse:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:
            data = await form["file"].read()  # type: ignore[union-attr]
    else:
        data = await request.body()
    frame = framing.prepare(data).pixels
    probs = session.run(None, {"image": (frame.astype(np.float32) / 255.0).reshape(1, 28, 28, 1)})[0][0]
    return JSONResponse({"digit": int(probs.argmax()), "confidence": float(probs.max())})


async def ready(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ready"})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])
