"""The prediction use case, shared by every door (/v1, the page, OIP v2, the CLI).

Doors parse their transport and hand the core pictures (bytes) or tensors (already in the
model's input space); the core decodes and frames pictures within the memory limits, runs the
model through the batcher, and records every answer durably before it is returned. An error
that belongs to one picture stays with that picture, as a Failure (never an exception object,
which would keep the decoded picture alive through its traceback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.to_thread
import numpy as np

from service.core import decode, framing, reading
from service.core.batcher import Batcher
from service.core.memory import DecodeBudget
from service.core.model import OnnxModel
from service.errors import Failure, ServiceError, StoreUnavailable
from service.metrics import Metrics
from service.store.record import PredictionRecord, PredictionStore, new_record_id


@dataclass(frozen=True)
class Picture:
    """One uploaded file, as a door read it."""

    filename: str
    data: bytes


@dataclass
class Outcome:
    """One picture's fate: its record and frame, or the failure that belongs to it alone."""

    filename: str
    record: PredictionRecord | None = None
    frame: framing.Prepared | None = None  # a digit: the frame the model saw
    segmented: reading.Segmented | None = None  # a number: its digits' options
    digits: list[reading.Digit] = field(default_factory=list)  # a number: the digits read
    failure: Failure | None = None
    image_sha256: str = ""  # of the uploaded bytes
    image_bytes: int = 0
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0


def refused(outcomes: list[Outcome]) -> Failure | None:
    """The request's own failure when no picture in it was answered: that of the first one."""
    if any(o.record is not None for o in outcomes):
        return None
    return next(o.failure for o in outcomes if o.failure is not None)


T = TypeVar("T")


class RequestTooLarge(decode.ImageTooLarge):
    code = "request_too_large"


class Predictor:
    """Built once per worker by the lifespan, with everything it needs; nothing optional."""

    def __init__(
        self,
        model: OnnxModel,
        batcher: Batcher,
        store: PredictionStore,
        metrics: Metrics,
        limits: decode.Limits,
        budget: DecodeBudget,
        decode_threads: int,
        uncertain_below: float,
    ) -> None:
        self.model, self.batcher, self.store, self.metrics = model, batcher, store, metrics
        # Answers less confident than this are flagged `uncertain` (calibrated in the card).
        self.uncertain_below = uncertain_below
        self.limits, self.budget = limits, budget
        # Large pictures are prepared in worker threads, at most this many at once; further
        # requests wait without holding a thread.
        self._threads = anyio.CapacityLimiter(decode_threads)
        self.in_flight = 0  # predictions under way in this worker

    # --- pictures ---
    async def predict_pictures(self, pictures: list[Picture], door: str, client: str) -> list[Outcome]:
        """Frame, infer as one batch, record durably. Raises StoreUnavailable when the records
        cannot be stored (then nothing is answered)."""
        self.in_flight += 1
        try:
            started = time.perf_counter()
            if len(pictures) == 1 and decode.is_small(pictures[0].data):
                # A thread hand-off would cost more than the work; tiny pictures take no budget.
                outcomes = self._prepare_all(pictures, None)
            else:
                outcomes = await anyio.to_thread.run_sync(
                    self._prepare_all, pictures, self.budget, limiter=self._threads
                )
            for o in outcomes:
                if o.failure is not None:
                    self.metrics.image_errors.labels(code=o.failure.code).inc()
            good = [o for o in outcomes if o.frame is not None]
            if good:
                frames = np.stack([o.frame.pixels for o in good if o.frame is not None])
                t_inf = time.perf_counter()
                probs = await self.batcher.predict(frames, busy=self.in_flight)
                inference_ms = (time.perf_counter() - t_inf) * 1e3
                for o, p in zip(good, probs, strict=True):
                    assert o.frame is not None
                    o.inference_ms = inference_ms
                    o.record = self._record(
                        p, o.filename, o.image_sha256, o.image_bytes, o.frame, door, client, started
                    )
                await self._store([o.record for o in good if o.record is not None])
            return outcomes
        finally:
            self.in_flight -= 1

    # --- numbers ---
    async def read_pictures(self, pictures: list[Picture], door: str, client: str) -> list[Outcome]:
        """Read the whole number in each picture: segment, classify every digit option of every
        picture as one batch, choose, record durably. Raises StoreUnavailable like predict."""
        self.in_flight += 1
        try:
            started = time.perf_counter()
            outcomes = await anyio.to_thread.run_sync(
                self._prepare_all, pictures, self.budget, True, limiter=self._threads
            )
            good = [o for o in outcomes if o.segmented is not None]
            if good:
                frames = [o.segmented.frames() for o in good if o.segmented is not None]
                t_inf = time.perf_counter()
                probs = await self.batcher.predict(np.concatenate(frames), busy=self.in_flight)
                inference_ms = (time.perf_counter() - t_inf) * 1e3
                at = 0
                for o, f in zip(good, frames, strict=True):
                    assert o.segmented is not None
                    rows, at = probs[at : at + len(f)], at + len(f)
                    o.inference_ms = inference_ms
                    try:
                        o.digits = o.segmented.choose(rows)
                    except ServiceError as exc:
                        o.failure = Failure.of(exc)
                        continue
                    o.record = self._reading_record(o, door, client, started)
            for o in outcomes:
                if o.failure is not None:
                    self.metrics.image_errors.labels(code=o.failure.code).inc()
            await self._store([o.record for o in outcomes if o.record is not None])
            return outcomes
        finally:
            self.in_flight -= 1

    def _reading_record(self, o: Outcome, door: str, client: str, started: float) -> PredictionRecord:
        assert o.segmented is not None
        confidence = float(np.prod([d.confidence for d in o.digits]))
        text = "".join(str(d.digit) for d in o.digits)
        return PredictionRecord(
            id=new_record_id(),
            created_at=dt.datetime.now(dt.UTC),
            filename=o.filename,
            digit=-1,
            confidence=round(confidence, 6),
            probabilities=(),
            model_sha=self.model.card.sha256,
            image_sha256=o.image_sha256,
            image_bytes=o.image_bytes,
            width=o.segmented.width,
            height=o.segmented.height,
            client=client,
            latency_ms=round((time.perf_counter() - started) * 1e3, 3),
            door=door,
            text=text,
            digits=json.dumps([d.as_json() for d in o.digits], separators=(",", ":")),
        )

    def uncertain(self, confidence: float) -> bool:
        return confidence < self.uncertain_below

    def _prepare_all(self, pictures: list[Picture], budget: DecodeBudget | None, whole: bool = False) -> list[Outcome]:
        """Decode and prepare each picture: its frame, or (whole) its number's segments."""
        side = reading.READ_SIDE if whole else decode.WORK_SIDE
        outcomes = []
        used = 0
        for pic in pictures:
            started = time.perf_counter()
            out = Outcome(pic.filename, image_sha256=hashlib.sha256(pic.data).hexdigest(), image_bytes=len(pic.data))
            opened: decode.Opened | None = None
            try:
                opened = decode.open_image(pic.data, self.limits, side)
                used += opened.pixels  # counted whether or not the picture turns out usable
                if used > self.limits.max_request_pixels:
                    raise RequestTooLarge(
                        f"the pictures of this request add up to more than {self.limits.max_request_pixels} pixels",
                        limit_pixels=self.limits.max_request_pixels,
                    )
                if whole:
                    out.segmented = self._frame(opened, budget, reading.segment)
                else:
                    out.frame = self._frame(opened, budget, framing.prepare_image)
            except ServiceError as exc:
                out.failure = Failure.of(exc)
            finally:
                opened = None  # the decoded picture goes now, not when the next file is opened
            out.preprocess_ms = (time.perf_counter() - started) * 1e3
            outcomes.append(out)
        return outcomes

    @staticmethod
    def _frame(opened: decode.Opened, budget: DecodeBudget | None, prepare: Callable[[decode.Decoded], T]) -> T:
        if budget is None:
            return prepare(decode.load(opened))
        if opened.cost > budget.capacity:
            raise decode.ImageTooLarge(
                f"decoded, this picture would take {opened.cost // 2**20} MiB, over this worker's "
                f"budget of {budget.capacity // 2**20} MiB",
            )
        with budget.hold(opened.cost):
            try:
                return prepare(decode.load(opened))
            finally:
                opened.image.close()  # release the pixels before giving the budget back

    # --- tensors ---
    async def predict_tensor(self, tensor: np.ndarray, door: str, client: str) -> np.ndarray:
        """A float tensor already in the model's input space ([N, H, W, 1] or [N, H*W]) ->
        probabilities [N, classes], each row recorded like any prediction."""
        self.in_flight += 1
        try:
            started = time.perf_counter()
            probs = await self.batcher.run(self.model.to_layout(tensor), busy=self.in_flight)
            records = [
                self._record(p, "", hashlib.sha256(row.tobytes()).hexdigest(), row.nbytes, None, door, client, started)
                for p, row in zip(probs, tensor, strict=True)
            ]
            await self._store(records)
            return probs
        finally:
            self.in_flight -= 1

    # --- shared ---
    def _record(
        self,
        probs: np.ndarray,
        filename: str,
        sha: str,
        size: int,
        frame: framing.Prepared | None,  # None: a tensor, the model's own size
        door: str,
        client: str,
        started: float,
    ) -> PredictionRecord:
        digit = int(np.argmax(probs))
        return PredictionRecord(
            text=str(digit),
            id=new_record_id(),
            created_at=dt.datetime.now(dt.UTC),
            filename=filename,
            digit=digit,
            confidence=round(float(probs[digit]), 6),
            probabilities=tuple(round(float(v), 6) for v in probs),
            model_sha=self.model.card.sha256,
            image_sha256=sha,
            image_bytes=size,
            width=frame.width if frame else self.model.card.input.width,
            height=frame.height if frame else self.model.card.input.height,
            client=client,
            latency_ms=round((time.perf_counter() - started) * 1e3, 3),
            door=door,
        )

    async def _store(self, records: list[PredictionRecord]) -> None:
        """Durable before answered: returns once the records are committed."""
        try:
            await self.store.add(records)
        except StoreUnavailable:
            self.metrics.store_failures.labels(store=self.store.writes_to).inc()
            raise
        for r in records:
            self.metrics.predictions.labels(digit=str(r.digit) if r.digit >= 0 else "number").inc()
