"""The Open Inference Protocol (v2) door, as Triton/KServe/MLServer clients use it.

Tensors arrive already in the model's input space (FP32, normalised as the card says),
[N, 28, 28, 1] or [N, 784]; they go through the same core as uploads (batcher, records).
Errors follow the protocol: {"error": "<message>"}, plus our code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse

from service.api.state import Services, client_of, services
from service.api.uploads import read_body
from service.core.card import ModelCard
from service.errors import ServiceError

DOOR = "oip"
MODEL_NAME = "mnist"
MAX_TENSOR_BATCH = 1024


@dataclass(frozen=True)
class InferRequest:
    """A parsed, validated OIP inference request: one input tensor, the outputs asked for."""

    id: str | None
    tensor: np.ndarray  # float32 [N, H, W]
    outputs: tuple[str, ...]

    @classmethod
    def parse(cls, raw: bytes, card: ModelCard) -> InferRequest:
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ServiceError(f"the body is not JSON: {message}", code="bad_json") from None
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or len(body["inputs"]) != 1:
            raise ServiceError('the body must be {"inputs": [one tensor]}')
        spec = body["inputs"][0]
        if not isinstance(spec, dict):
            raise ServiceError("an input must be an object")
        if spec.get("name", card.input.name) != card.input.name:
            raise ServiceError(
                f"unknown input {spec.get('name')!r}: the model's input is {card.input.name!r}", code="unknown_input"
            )
        outputs = body.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ServiceError("outputs must be a list of objects")
        names = tuple(str(o.get("name")) for o in outputs) or (card.output.name,)
        unknown = [n for n in names if n != card.output.name]
        if unknown:
            raise ServiceError(
                f"unknown output {unknown[0]!r}: the model's output is {card.output.name!r}", code="unknown_output"
            )
        request_id = body.get("id")
        return cls(request_id if isinstance(request_id, str) else None, _tensor(spec, card), names)


def _tensor(spec: dict[str, Any], card: ModelCard) -> np.ndarray:
    if spec.get("datatype") != "FP32":
        raise ServiceError(f"datatype must be FP32, got {spec.get('datatype')!r}", code="bad_datatype")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ServiceError("shape must be a list of positive integers", code="bad_shape")
    hw = card.input.height * card.input.width
    if shape[1:] not in ([card.input.height, card.input.width, 1], [hw]):
        raise ServiceError(
            f"shape must be [N,{card.input.height},{card.input.width},1] or [N,{hw}], got {shape}", code="bad_shape"
        )
    if shape[0] > MAX_TENSOR_BATCH:
        raise ServiceError(f"at most {MAX_TENSOR_BATCH} images per request", status=413, code="batch_too_large")
    try:
        data = np.asarray(spec.get("data"), dtype=np.float32)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ServiceError(f"data must be numbers: {exc}", code="bad_data") from None
    if data.size != shape[0] * hw:
        raise ServiceError(f"data has {data.size} values, shape {shape} needs {shape[0] * hw}", code="bad_data")
    if not np.all(np.isfinite(data)):
        raise ServiceError("data must be finite numbers", code="bad_data")
    return data.reshape(shape[0], card.input.height, card.input.width)


def _model(request: Request) -> Services:
    if request.path_params.get("model") != MODEL_NAME:
        raise ServiceError(f"unknown model {request.path_params.get('model')!r}", status=404, code="model_not_found")
    return services(request)


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
    alive = services(request).predictor.batcher.alive
    return JSONResponse({"ready": alive}, status_code=200 if alive else 503)


async def model_ready(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model readiness.
    responses: {200: {description: "ready"}, 404: {description: "unknown model"}, 503: {description: "not ready"}}
    """
    alive = _model(request).predictor.batcher.alive
    return JSONResponse({"name": MODEL_NAME, "ready": alive}, status_code=200 if alive else 503)


async def metadata(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model metadata.
    responses: {200: {description: "name, versions, platform, inputs, outputs"}, 404: {description: "unknown model"}}
    """
    card = _model(request).predictor.model.card
    nhwc, flat = [-1, card.input.height, card.input.width, 1], [-1, card.input.height * card.input.width]
    return JSONResponse(
        {
            "name": MODEL_NAME,
            "versions": [card.version],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": card.input.name, "datatype": "FP32", "shape": nhwc}],
            "outputs": [{"name": card.output.name, "datatype": "FP32", "shape": [-1, len(card.labels)]}],
            "parameters": {"accepted_input_shapes": [nhwc, flat], "normalisation": card.normalisation.to_json()},
        }
    )


async def infer(request: Request) -> JSONResponse:
    """
    summary: OIP v2 inference on an FP32 tensor [N,28,28,1] or [N,784] (already normalised).
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {inputs: {type: array, items: {type: object}}}}
    responses:
      200: {description: "outputs: the probabilities [N,10]"}
      400: {description: "bad JSON, datatype, shape, data, or an unknown input or output name"}
      404: {description: "unknown model"}
      413: {description: "body or batch over the limit"}
      503: {description: "the predictions could not be recorded; retry after Retry-After seconds"}
    """
    svc = _model(request)
    card = svc.predictor.model.card
    parsed = InferRequest.parse(await read_body(request, svc.settings.max_body_bytes), card)
    probs = await svc.predictor.predict_tensor(parsed.tensor, DOOR, client_of(request))
    out: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": card.version,
        "outputs": [
            {"name": card.output.name, "datatype": "FP32", "shape": list(probs.shape), "data": probs.ravel().tolist()}
        ],
    }
    if parsed.id is not None:
        out["id"] = parsed.id
    return JSONResponse(out)
