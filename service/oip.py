"""The subset of the Open Inference Protocol (v2) that Triton/KServe/MLServer clients use.

Tensors arrive already in the model's input space (FP32, normalised as the card says),
[N, 28, 28, 1] or [N, 784]. Errors follow the protocol: {"error": "<message>"}, plus our code.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from service.state import AppState, app_state
from service.uploads import read_body

MODEL_NAME = "mnist"
MAX_TENSOR_BATCH = 1024


class OipError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def oip_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OipError)
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.status)


def _check_model(request: Request) -> AppState:
    if request.path_params.get("model") != MODEL_NAME:
        raise OipError(404, "model_not_found", f"unknown model {request.path_params.get('model')!r}")
    return app_state(request)


async def live(request: Request) -> JSONResponse:
    """
    summary: OIP v2 liveness.
    responses: {200: {description: "live"}}
    """
    return JSONResponse({"live": True})


async def ready(request: Request) -> JSONResponse:
    """
    summary: OIP v2 readiness (the model is loaded and warm).
    responses: {200: {description: "ready"}, 503: {description: "not ready"}}
    """
    state = app_state(request)
    return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)


async def model_ready(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model readiness.
    responses: {200: {description: "ready"}, 404: {description: "unknown model"}}
    """
    state = _check_model(request)
    return JSONResponse({"name": MODEL_NAME, "ready": state.ready}, status_code=200 if state.ready else 503)


def _shapes(state: AppState) -> tuple[list[int], list[int]]:
    assert state.model is not None
    card = state.model.card
    return [-1, card.height, card.width, 1], [-1, card.height * card.width]


async def metadata(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model metadata.
    responses: {200: {description: "name, versions, platform, inputs, outputs"}}
    """
    state = _check_model(request)
    assert state.model is not None
    card = state.model.card
    nhwc, flat = _shapes(state)
    return JSONResponse(
        {
            "name": MODEL_NAME,
            "versions": [card.version],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": card.input_name, "datatype": "FP32", "shape": nhwc}],
            "outputs": [{"name": card.output_name, "datatype": "FP32", "shape": [-1, len(card.labels)]}],
            "parameters": {"accepted_input_shapes": [nhwc, flat], "normalisation": card.raw["normalisation"]},
        }
    )


def _tensor(body: Any, state: AppState) -> tuple[np.ndarray, str]:
    assert state.model is not None
    card = state.model.card
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or len(body["inputs"]) != 1:
        raise OipError(400, "bad_request", 'the body must be {"inputs": [one tensor]}')
    spec = body["inputs"][0]
    if not isinstance(spec, dict):
        raise OipError(400, "bad_request", "an input must be an object")
    if spec.get("datatype") != "FP32":
        raise OipError(400, "bad_datatype", f"datatype must be FP32, got {spec.get('datatype')!r}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise OipError(400, "bad_shape", "shape must be a list of positive integers")
    hw = card.height * card.width
    if shape[1:] not in ([card.height, card.width, 1], [hw]):
        raise OipError(400, "bad_shape", f"shape must be [N,{card.height},{card.width},1] or [N,{hw}], got {shape}")
    if shape[0] > MAX_TENSOR_BATCH:
        raise OipError(413, "batch_too_large", f"at most {MAX_TENSOR_BATCH} images per request")
    try:
        data = np.asarray(spec.get("data"), dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise OipError(400, "bad_data", f"data must be numbers: {exc}") from exc
    if data.size != shape[0] * hw:
        raise OipError(400, "bad_data", f"data has {data.size} values, shape {shape} needs {shape[0] * hw}")
    if not np.all(np.isfinite(data)):
        raise OipError(400, "bad_data", "data must be finite numbers")
    return data.reshape(shape[0], card.height, card.width, 1), str(spec.get("name", card.input_name))


async def infer(request: Request) -> JSONResponse:
    """
    summary: OIP v2 inference on an FP32 tensor [N,28,28,1] or [N,784] (already normalised).
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {inputs: {type: array, items: {type: object}}}}
    responses:
      200: {description: "outputs: the probabilities [N,10]"}
      400: {description: "bad JSON, datatype, shape or data"}
      404: {description: "unknown model"}
      413: {description: "body or batch over the limit"}
    """
    state = _check_model(request)
    assert state.model is not None
    raw = await read_body(request, state.settings.max_body_bytes)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OipError(400, "bad_json", f"the body is not JSON: {exc}") from exc
    tensor, _ = _tensor(body, state)
    layout = state.model.card.layout
    x = (
        tensor
        if layout == "NHWC"
        else (
            tensor.reshape(len(tensor), 1, *tensor.shape[1:3]) if layout == "NCHW" else tensor.reshape(len(tensor), -1)
        )
    )
    probs = await run_in_threadpool(state.model.run_tensor, x)
    for digit in probs.argmax(axis=1):
        state.metrics.predictions.labels(digit=str(int(digit))).inc()
    out: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": state.model.card.version,
        "outputs": [
            {
                "name": state.model.card.output_name,
                "datatype": "FP32",
                "shape": list(probs.shape),
                "data": probs.ravel().tolist(),
            }
        ],
    }
    if isinstance(body.get("id"), str):
        out["id"] = body["id"]
    return JSONResponse(out)
