"""The /v1 API: predict, recorded predictions, the model card."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from service import preprocess
from service.errors import ApiError, error_body
from service.records import PredictionRecord, new_record_id
from service.state import AppState, app_state
from service.uploads import Upload, read_uploads


@dataclass
class Outcome:
    """One uploaded file's fate: a record, or the error that belongs to it alone."""

    upload: Upload
    record: PredictionRecord | None = None
    prepared: preprocess.Prepared | None = None
    error: preprocess.ImageError | None = None
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0


def frame_png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _prepare_all(uploads: list[Upload], limits: preprocess.Limits) -> list[Outcome]:
    outcomes = []
    for up in uploads:
        started = time.perf_counter()
        out = Outcome(upload=up)
        try:
            out.prepared = preprocess.prepare(up.data, limits)
        except preprocess.ImageError as exc:
            out.error = exc
        out.preprocess_ms = (time.perf_counter() - started) * 1e3
        outcomes.append(out)
    return outcomes


async def predict_uploads(state: AppState, uploads: list[Upload], client: str) -> list[Outcome]:
    """Preprocess, infer as one batch, record durably. Errors stay with their own file."""
    state.in_flight += 1
    try:
        return await _predict_uploads(state, uploads, client)
    finally:
        state.in_flight -= 1


async def _predict_uploads(state: AppState, uploads: list[Upload], client: str) -> list[Outcome]:
    assert state.batcher is not None and state.store is not None and state.model is not None
    started = time.perf_counter()
    if len(uploads) == 1 and preprocess.is_small(uploads[0].data):
        outcomes = _prepare_all(uploads, state.limits)  # a thread hand-off would cost more than the work
    else:
        outcomes = await run_in_threadpool(_prepare_all, uploads, state.limits)
    good = [o for o in outcomes if o.prepared is not None]
    for o in outcomes:
        if o.error is not None:
            state.metrics.image_errors.labels(code=o.error.code).inc()
    if not good:
        return outcomes
    t_inf = time.perf_counter()
    frames = np.stack([o.prepared.pixels for o in good if o.prepared is not None])
    probs = await state.batcher.predict(frames, busy=state.in_flight)
    inference_ms = (time.perf_counter() - t_inf) * 1e3
    now = dt.datetime.now(dt.UTC)
    latency_ms = (time.perf_counter() - started) * 1e3
    model_sha = state.model.card.sha256
    for o, p in zip(good, probs, strict=True):
        assert o.prepared is not None
        digit = int(np.argmax(p))
        o.inference_ms = inference_ms
        o.record = PredictionRecord(
            id=new_record_id(),
            created_at=now,
            filename=o.upload.filename,
            digit=digit,
            confidence=round(float(p[digit]), 6),
            probabilities=tuple(round(float(v), 6) for v in p),
            model_sha=model_sha,
            image_sha256=hashlib.sha256(o.upload.data).hexdigest(),
            image_bytes=len(o.upload.data),
            width=o.prepared.width,
            height=o.prepared.height,
            client=client,
            latency_ms=round(latency_ms, 3),
        )
    # Durable before answered: `add` returns once the records are committed.
    await state.store.add([o.record for o in good if o.record is not None])
    for o in good:
        assert o.record is not None
        state.metrics.predictions.labels(digit=str(o.record.digit)).inc()
    return outcomes


def outcome_json(state: AppState, o: Outcome, started: float, include_frame: bool) -> dict[str, Any]:
    if o.error is not None or o.record is None or o.prepared is None:
        err = o.error or preprocess.ImageError("not processed")
        return {"filename": o.upload.filename, "status": err.status, **error_body(err.code, err.message)}
    assert state.model is not None
    body = o.record.as_json()
    body["model"] = {"version": state.model.card.version, "sha256": state.model.card.sha256}
    body["image"] |= {
        "format": o.prepared.format,
        "mode": o.prepared.mode,
        "inverted": o.prepared.inverted,
        "reframed": o.prepared.framed,
    }
    body["timings_ms"] = {
        "preprocess": round(o.preprocess_ms, 3),
        "inference": round(o.inference_ms, 3),
        "total": round((time.perf_counter() - started) * 1e3, 3),
    }
    if include_frame:
        body["frame_png"] = frame_png(o.prepared.pixels)
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
      415: {description: "not an image, or an unsupported Content-Type"}
      422: {description: "a blank picture with no ink"}
    """
    started = time.perf_counter()
    state = app_state(request)
    s = state.settings
    uploads = await read_uploads(request, s.max_body_bytes, s.max_files, s.max_filename_chars)
    client = request.client.host if request.client else ""
    outcomes = await predict_uploads(state, uploads, client)
    include_frame = "frame" in request.query_params.get("include", "").split(",")
    items = [outcome_json(state, o, started, include_frame) for o in outcomes]
    if all(o.record is None for o in outcomes):
        first = next(o.error for o in outcomes if o.error is not None)
        return JSONResponse({**error_body(first.code, first.message), "predictions": items}, status_code=first.status)
    return JSONResponse({"predictions": items})


def _parse_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise ApiError(400, "bad_id", f"{text!r} is not a prediction id (a UUID)") from exc


async def list_predictions(request: Request) -> JSONResponse:
    """
    summary: Recent predictions, newest first.
    parameters:
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
      - {name: before, in: query, description: "an id: the page after it", schema: {type: string}}
    responses:
      200: {description: "items and the id to pass as 'before' for the next page"}
      400: {description: "bad limit or id"}
    """
    state = app_state(request)
    assert state.store is not None
    raw_limit = request.query_params.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError as exc:
        raise ApiError(400, "bad_limit", f"limit {raw_limit!r} is not a number") from exc
    if not 1 <= limit <= state.settings.recent_limit_max:
        raise ApiError(400, "bad_limit", f"limit must be 1..{state.settings.recent_limit_max}")
    before_raw = request.query_params.get("before")
    before = _parse_id(before_raw) if before_raw else None
    records = await state.store.recent(limit, before)
    items = [r.as_json() for r in records]
    nxt = items[-1]["id"] if len(items) == limit else None
    return JSONResponse({"items": items, "next": nxt})


async def get_prediction(request: Request) -> JSONResponse:
    """
    summary: One recorded prediction by id.
    responses:
      200: {description: "the record"}
      400: {description: "not a UUID"}
      404: {description: "no such prediction"}
    """
    state = app_state(request)
    assert state.store is not None
    record_id = _parse_id(request.path_params["id"])
    record = await state.store.get(record_id)
    if record is None:
        raise ApiError(404, "not_found", f"no prediction with id {record_id}")
    return JSONResponse(record.as_json())


async def model_card(request: Request) -> JSONResponse:
    """
    summary: The model card of the model being served, and how it runs here.
    responses:
      200: {description: "the card"}
    """
    state = app_state(request)
    assert state.model is not None
    import onnxruntime as ort

    return JSONResponse(
        state.model.card.raw
        | {
            "runtime": {
                "onnxruntime": ort.__version__,
                "intra_op_threads": state.model.threads,
                "max_batch": state.settings.max_batch,
            },
        }
    )
