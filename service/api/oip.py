"""The Open Inference Protocol (v2) door, as Triton/KServe/MLServer clients use it: health, server
and model metadata, Triton's model configuration, repository index and statistics, and inference
with JSON or binary tensors (oip_wire.py), on the unversioned and the versioned routes.

Tensors arrive already in the model's input space (FP32, normalised as the card says),
[N, 28, 28, 1] or [N, 784]; they go through the same core as uploads (batcher, records).
Errors follow the protocol: {"error": "<message>"}, plus our code.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service.api.access import PREDICT
from service.api.answers import JSONResponse
from service.api.oip_wire import (
    MAX_TENSOR_BATCH,
    MODEL_NAME,
    MODEL_VERSION,
    UNCERTAIN,
    InferRequest,
    infer_response,
)
from service.api.state import Services, services
from service.api.uploads import read_body
from service.errors import ServiceError

DOOR = "oip"
SERVER = {
    "name": "mnist-onnx-service",
    "version": "1.0.0",
    "extensions": ["binary_tensor_data", "statistics", "model_configuration"],
}


def _model(request: Request) -> Services:
    name, version = request.path_params.get("model"), request.path_params.get("version")
    if name != MODEL_NAME:
        raise ServiceError(f"unknown model {name!r}", status=404, code="model_not_found")
    svc = services(request)
    if version is not None and version not in (MODEL_VERSION, svc.predictor.model.card.version):
        raise ServiceError(f"model {name!r} has no version {version!r}", status=404, code="model_not_found")
    return svc


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


async def server_metadata(request: Request) -> JSONResponse:
    """
    summary: OIP v2 server metadata (name, version, extensions).
    responses: {200: {description: "server metadata"}}
    """
    return JSONResponse(SERVER)


async def model_ready(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model readiness.
    responses:
      200: {description: "ready"}
      404: {description: "unknown model or version"}
      503: {description: "not ready"}
    """
    alive = _model(request).predictor.batcher.alive
    return JSONResponse({"name": MODEL_NAME, "ready": alive}, status_code=200 if alive else 503)


async def metadata(request: Request) -> JSONResponse:
    """
    summary: OIP v2 model metadata.
    responses:
      200: {description: "name, versions, platform, inputs, outputs"}
      404: {description: "unknown model or version"}
    """
    card = _model(request).predictor.model.card
    nhwc, flat = [-1, card.input.height, card.input.width, 1], [-1, card.input.height * card.input.width]
    return JSONResponse(
        {
            "name": MODEL_NAME,
            "versions": [MODEL_VERSION],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": card.input.name, "datatype": "FP32", "shape": nhwc}],
            "outputs": [
                {"name": card.output.name, "datatype": "FP32", "shape": [-1, len(card.labels)]},
                {"name": UNCERTAIN, "datatype": "BOOL", "shape": [-1]},
            ],
            "parameters": {
                "model_card_version": card.version,
                "accepted_input_shapes": [nhwc, flat],
                "normalisation": card.normalisation.to_json(),
            },
        }
    )


async def config(request: Request) -> JSONResponse:
    """
    summary: The model's configuration, in Triton's shape.
    responses: {200: {description: "model configuration"}, 404: {description: "unknown model or version"}}
    """
    card = _model(request).predictor.model.card
    return JSONResponse(
        {
            "name": MODEL_NAME,
            "platform": "onnxruntime_onnx",
            "backend": "onnxruntime",
            "max_batch_size": MAX_TENSOR_BATCH,
            "input": [
                {"name": card.input.name, "data_type": "TYPE_FP32", "dims": [card.input.height, card.input.width, 1]}
            ],
            "output": [
                {"name": card.output.name, "data_type": "TYPE_FP32", "dims": [len(card.labels)]},
                {"name": UNCERTAIN, "data_type": "TYPE_BOOL", "dims": [1], "reshape": {"shape": []}},
            ],
        }
    )


async def repository_index(request: Request) -> JSONResponse:
    """
    summary: The models served (Triton's repository index).
    responses: {200: {description: "one entry per model"}}
    """
    return JSONResponse([{"name": MODEL_NAME, "version": MODEL_VERSION, "state": "READY"}])


async def statistics(request: Request) -> JSONResponse:
    """
    summary: Inference statistics of the worker that answers, in Triton's shape.
    responses: {200: {description: "statistics"}, 404: {description: "unknown model or version"}}
    """
    svc = _model(request) if "model" in request.path_params else services(request)
    st = svc.oip_stats
    stat: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "last_inference": st.last_ms,
        "inference_count": st.images,
        "execution_count": st.success,
        "inference_stats": {
            "success": {"count": st.success, "ns": st.success_ns},
            "fail": {"count": st.fail, "ns": st.fail_ns},
        },
    }
    return JSONResponse({"model_stats": [stat]})


async def infer(request: Request) -> Response:
    """
    summary: OIP v2 inference on an FP32 tensor [N,28,28,1] or [N,784] (already normalised), as JSON
      or with the binary tensor data extension.
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {inputs: {type: array, items: {type: object}}}}
        application/octet-stream:
          schema: {type: string, format: binary}
    responses:
      200: {description: "outputs: the probabilities [N,10] and uncertain [N] (BOOL), as JSON or binary"}
      400: {description: "bad JSON, header length, datatype, shape, data, or an unknown input or output name"}
      401: {description: "a token is needed to predict (when predict tokens are configured)"}
      403: {description: "this token may not predict"}
      404: {description: "unknown model or version"}
      413: {description: "body or batch over the limit"}
      503: {description: "the predictions could not be recorded; retry after Retry-After seconds"}
    """
    started = time.perf_counter_ns()
    svc = _model(request)
    svc.access.check(request, PREDICT)
    card = svc.predictor.model.card
    ok = False
    try:
        body = await read_body(request, svc.settings)
        parsed = InferRequest.parse(body, request.headers.get("inference-header-content-length"), card)
        probs = await svc.predictor.predict_tensor(parsed.tensor, DOOR, svc.client_address(request))
        uncertain = probs.max(axis=1) < svc.predictor.uncertain_below
        content, headers = infer_response(parsed, probs, uncertain, card)
        ok = True
        return Response(content, headers=headers)
    finally:
        svc.oip_stats.record(started, len(parsed.tensor) if ok else 0, ok)
