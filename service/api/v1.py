"""The /v1 door: predict, recorded predictions, the model card."""

from __future__ import annotations

import base64
import io
import re
import time
import uuid
from typing import Any

import numpy as np
from PIL import Image
from starlette.requests import Request

from service.api.access import PREDICT, READ
from service.api.answers import JSONResponse
from service.api.errors import error_body
from service.api.state import allowed, services
from service.api.uploads import read_pictures
from service.core.outcome import Outcome, refused
from service.core.predictor import Predictor
from service.errors import ServiceError

DOOR = "v1"


def frame_png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def failure_json(o: Outcome) -> dict[str, Any]:
    """A picture's own error, as an item of the answer."""
    failure = o.failure
    assert failure is not None
    return {"filename": o.filename, "status": failure.status, **error_body(failure.code, failure.message)}


def timings_json(o: Outcome, started: float) -> dict[str, float]:
    return {
        "preprocess": round(o.preprocess_ms, 3),
        "inference": round(o.inference_ms, 3),
        "total": round((time.perf_counter() - started) * 1e3, 3),
    }


def outcome_json(predictor: Predictor, o: Outcome, started: float, include_frame: bool) -> dict[str, Any]:
    if o.record is None or o.frame is None:
        return failure_json(o)
    card = predictor.model.card
    body = o.record.as_json()
    body["uncertain"] = predictor.uncertain(o.record.confidence)
    body["model"] = {"version": card.version, "sha256": card.sha256}
    body["image"] |= {
        "format": o.frame.format,
        "mode": o.frame.mode,
        "inverted": o.frame.inverted,
        "reframed": o.frame.framed,
    }
    body["timings_ms"] = timings_json(o, started)
    if include_frame:
        body["frame_png"] = frame_png(o.frame.pixels)
    return body


async def predict(request: Request) -> JSONResponse:
    """
    summary: Predict the digit in one or several pictures and record each prediction.
    description: >
      Send multipart/form-data with one or more file parts, or a raw image body with
      Content-Type image/* (name it with the X-Filename header or ?filename=).
      Add ?include=frame for the 28x28 frame the model saw, as a PNG data URL.
      When some files fail and others succeed, the answer is 200 and each failed item
      carries its own error; when every file fails, the status is that of the first error.
    requestBody:
      content:
        multipart/form-data: {schema: {type: object, properties: {file: {type: string, format: binary}}}}
        image/*: {schema: {type: string, format: binary}}
    responses:
      200: {description: "predictions: one item per file"}
      400: {description: "empty, missing, truncated or corrupt file; bad multipart"}
      413: {description: "body, pixel count or number of files over the limit"}
      401: {description: "a token is needed to predict (when predict tokens are configured)"}
      403: {description: "this token may not predict"}
      415: {description: "not an image, or an unsupported Content-Type"}
      422: {description: "a blank picture with no ink"}
      503: {description: "the prediction could not be recorded; retry after Retry-After seconds"}
    """
    started = time.perf_counter()
    svc = allowed(request, PREDICT)
    pictures = await read_pictures(request, svc.settings)
    outcomes = await svc.predictor.predict_pictures(pictures, DOOR, svc.client_address(request))
    include_frame = "frame" in request.query_params.get("include", "").split(",")
    items = [outcome_json(svc.predictor, o, started, include_frame) for o in outcomes]
    failure = refused(outcomes)
    if failure is not None:
        return JSONResponse(
            {**error_body(failure.code, failure.message), "predictions": items}, status_code=failure.status
        )
    return JSONResponse({"predictions": items})


def reading_json(predictor: Predictor, o: Outcome, started: float) -> dict[str, Any]:
    if o.record is None or o.segmented is None:
        return failure_json(o)
    r = o.record
    card = predictor.model.card
    return {
        "id": str(r.id),
        "filename": r.filename,
        "text": r.text,
        "confidence": r.confidence,
        # The number is uncertain when any of its digits is.
        "uncertain": any(predictor.uncertain(d.confidence) for d in o.digits),
        "digits": [d.as_json() | {"uncertain": predictor.uncertain(d.confidence)} for d in o.digits],
        "created_at": r.created_text,
        "model": {"version": card.version, "sha256": card.sha256},
        "image": {
            "sha256": r.image_sha256,
            "bytes": r.image_bytes,
            "width": r.width,
            "height": r.height,
            "format": o.segmented.format,
            "mode": o.segmented.mode,
            "inverted": o.segmented.inverted,
        },
        "timings_ms": timings_json(o, started),
    }


async def read(request: Request) -> JSONResponse:
    """
    summary: Read the whole handwritten number (1 to 12 digits) in one or several pictures.
    description: >
      Send pictures exactly as to /v1/predict (multipart/form-data file parts, or a raw image
      body). Each answer has the number as text, its confidence (the product of its digits'),
      an `uncertain` flag, and each digit left to right with its box [x, y, w, h] in the
      uploaded picture's pixels. Every reading is recorded like a prediction.
    requestBody:
      content:
        multipart/form-data: {schema: {type: object, properties: {file: {type: string, format: binary}}}}
        image/*: {schema: {type: string, format: binary}}
    responses:
      200: {description: "readings: one item per file"}
      400: {description: "empty, missing, truncated or corrupt file; bad multipart"}
      413: {description: "body, pixel count or number of files over the limit"}
      401: {description: "a token is needed to predict (when predict tokens are configured)"}
      403: {description: "this token may not predict"}
      415: {description: "not an image, or an unsupported Content-Type"}
      422: {description: "a blank picture, or more than 12 digits"}
      503: {description: "the reading could not be recorded; retry after Retry-After seconds"}
    """
    started = time.perf_counter()
    svc = allowed(request, PREDICT)
    pictures = await read_pictures(request, svc.settings)
    outcomes = await svc.predictor.read_pictures(pictures, DOOR, svc.client_address(request))
    items = [reading_json(svc.predictor, o, started) for o in outcomes]
    failure = refused(outcomes)
    if failure is not None:
        return JSONResponse(
            {**error_body(failure.code, failure.message), "readings": items}, status_code=failure.status
        )
    return JSONResponse({"readings": items})


# The canonical 8-4-4-4-12 form only (uuid.UUID would also take braces, "urn:uuid:" and no hyphens,
# which the OpenAPI "uuid" format does not).
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def _parse_id(text: str) -> uuid.UUID:
    if not UUID_TEXT.match(text):
        raise ServiceError(f"{text!r} is not a prediction id (a UUID)", code="bad_id")
    return uuid.UUID(text)


async def list_predictions(request: Request) -> JSONResponse:
    """
    summary: Recent predictions, newest first.
    parameters:
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
      - {name: before, in: query, description: "an id: the page after it", schema: {type: string, format: uuid}}
    responses:
      200: {description: "items and the id to pass as 'before' for the next page"}
      400: {description: "bad limit or id"}
      401: {description: "a read token is needed"}
      403: {description: "not allowed to read (with no read tokens configured: not a loopback client)"}
      503: {description: "the store cannot be read right now"}
    """
    svc = allowed(request, READ)
    raw_limit = request.query_params.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ServiceError(f"limit {raw_limit!r} is not a number", code="bad_limit") from None
    if not 1 <= limit <= svc.settings.recent_limit_max:
        raise ServiceError(f"limit must be 1..{svc.settings.recent_limit_max}", code="bad_limit")
    before_raw = request.query_params.get("before")
    before = _parse_id(before_raw) if before_raw is not None else None
    records = await svc.predictor.store.recent(limit, before)
    items = [r.as_json() for r in records]
    nxt = items[-1]["id"] if len(items) == limit else None
    return JSONResponse({"items": items, "next": nxt})


async def get_prediction(request: Request) -> JSONResponse:
    """
    summary: One recorded prediction by id.
    responses:
      200: {description: "the record"}
      400: {description: "not a UUID"}
      401: {description: "a read token is needed"}
      403: {description: "not allowed to read (with no read tokens configured: not a loopback client)"}
      404: {description: "no such prediction"}
      503: {description: "the store cannot be read right now"}
    """
    svc = allowed(request, READ)
    record_id = _parse_id(request.path_params["id"])
    record = await svc.predictor.store.get(record_id)
    if record is None:
        raise ServiceError(f"no prediction with id {record_id}", status=404, code="not_found")
    return JSONResponse(record.as_json())


async def model_card(request: Request) -> JSONResponse:
    """
    summary: The model card of the model being served, and how it runs here.
    responses:
      200: {description: "the card"}
    """
    import onnxruntime as ort

    svc = services(request)
    model = svc.predictor.model
    runtime = {"onnxruntime": ort.__version__, "intra_op_threads": model.threads, "max_batch": svc.settings.max_batch}
    return JSONResponse(model.card.to_json() | {"runtime": runtime})
