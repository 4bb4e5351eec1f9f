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
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import numpy as np

from service.core import decode, framing, reading, surer
from service.core.batcher import Batcher
from service.core.groups import GroupModel
from service.core.memory import DecodeBudget
from service.core.model import OnnxModel
from service.core.outcome import Outcome, Picture
from service.errors import Failure, ServiceError, StoreUnavailable
from service.metrics import Metrics
from service.store.record import PredictionRecord, PredictionStore, new_record_id

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
        groups: GroupModel,
    ) -> None:
        self.model, self.batcher, self.store, self.metrics = model, batcher, store, metrics
        self.groups = groups  # reads whole groups of ink for /v1/read (core/groups.py)
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
            small = self._open_small(pictures[0]) if len(pictures) == 1 else None
            if small is not None:
                # A thread hand-off would cost more than the work; tiny pictures take no budget.
                outcomes = self._prepare_all(pictures, None, opened=small)
            else:
                outcomes = await anyio.to_thread.run_sync(
                    self._prepare_all, pictures, self.budget, limiter=self._threads
                )
            self._count_failures(outcomes)
            good = [o for o in outcomes if o.frame is not None]
            if good:
                prepared = [o.frame for o in good if o.frame is not None]
                t_inf = time.perf_counter()
                probs = await self.batcher.predict(surer.frames(prepared), busy=self.in_flight)
                inference_ms = (time.perf_counter() - t_inf) * 1e3
                for o, (frame, p) in zip(good, surer.chosen(prepared, probs), strict=True):
                    o.frame, o.inference_ms = frame, inference_ms  # the frame read, where there were two
                    o.record = self._record(
                        (door, client, started), o, frame.width, frame.height, **self._digit_answer(p)
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
                segmented = [o.segmented for o in good if o.segmented is not None]
                frames = [s.frames() for s in segmented]
                wholes = [s.whole_frames() for s in segmented]
                t_inf = time.perf_counter()
                probs = await self.batcher.predict(np.concatenate(frames), busy=self.in_flight)
                # A few groups per picture: one small ORT call, off the event loop.
                group_probs = await anyio.to_thread.run_sync(self.groups.predict, np.concatenate(wholes))
                inference_ms = (time.perf_counter() - t_inf) * 1e3
                at = at_group = 0
                for o, s, f in zip(good, segmented, frames, strict=True):
                    rows, at = probs[at : at + len(f)], at + len(f)
                    n_groups = len(s.groups)
                    whole, at_group = group_probs[at_group : at_group + n_groups], at_group + n_groups
                    o.inference_ms = inference_ms
                    try:
                        o.digits = s.choose(rows, whole, self.groups.classes)
                    except ServiceError as exc:
                        o.failure = Failure.of(exc)
                        continue
                    answer = self._number_answer(o.digits)
                    o.record = self._record((door, client, started), o, s.width, s.height, **answer)
            self._count_failures(outcomes)
            await self._store([o.record for o in outcomes if o.record is not None])
            return outcomes
        finally:
            self.in_flight -= 1

    def uncertain(self, confidence: float) -> bool:
        return confidence < self.uncertain_below

    def _open_small(self, picture: Picture) -> decode.Opened | None:
        """The header of a picture small enough to prepare on the event loop; else None (also
        when refused: the regular path refuses it again, with its own error)."""
        try:
            opened = decode.open_image(picture.data, self.limits)
        except ServiceError:
            return None
        if max(opened.width, opened.height) > decode.SMALL_SIDE:
            opened.image.close()
            return None
        return opened

    def _prepare_all(
        self,
        pictures: list[Picture],
        budget: DecodeBudget | None,
        whole: bool = False,
        opened: decode.Opened | None = None,  # the one picture's header, already read
    ) -> list[Outcome]:
        """Decode and prepare each picture: its frame, or (whole) its number's segments."""
        side = reading.READ_SIDE if whole else decode.WORK_SIDE
        outcomes = []
        used = 0
        for pic in pictures:
            started = time.perf_counter()
            out = Outcome(pic.filename, image_sha256=hashlib.sha256(pic.data).hexdigest(), image_bytes=len(pic.data))
            try:
                opened = opened or decode.open_image(pic.data, self.limits, side)
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
            size = self.model.card.input.width, self.model.card.input.height  # a tensor: the model's own
            uploads = [
                Outcome("", image_sha256=hashlib.sha256(t.tobytes()).hexdigest(), image_bytes=t.nbytes) for t in tensor
            ]
            records = [
                self._record((door, client, started), u, *size, **self._digit_answer(p))
                for u, p in zip(uploads, probs, strict=True)
            ]
            await self._store(records)
            return probs
        finally:
            self.in_flight -= 1

    # --- shared ---
    def _record(
        self, origin: tuple[str, str, float], o: Outcome, width: int, height: int, **answer: Any
    ) -> PredictionRecord:
        """One record, whatever was answered: the fields every record shares, from the request
        (door, client, when it started) and the upload, plus the answer's own fields."""
        door, client, started = origin
        return PredictionRecord(
            id=new_record_id(),
            created_at=dt.datetime.now(dt.UTC),
            filename=o.filename,
            model_sha=self.model.card.sha256,
            image_sha256=o.image_sha256,
            image_bytes=o.image_bytes,
            width=width,
            height=height,
            client=client,
            latency_ms=round((time.perf_counter() - started) * 1e3, 3),
            door=door,
            **answer,
        )

    @staticmethod
    def _digit_answer(probs: np.ndarray) -> dict[str, Any]:
        digit = int(np.argmax(probs))
        values = probs.astype(float).tolist()  # Python floats at once: ~5 us less than one by one
        return {
            "digit": digit,
            "text": str(digit),
            "confidence": round(values[digit], 6),
            "probabilities": tuple(round(v, 6) for v in values),
        }

    @staticmethod
    def _number_answer(digits: list[reading.Digit]) -> dict[str, Any]:
        return {
            "digit": -1,
            "text": "".join(str(d.digit) for d in digits),
            "confidence": round(float(np.prod([d.confidence for d in digits])), 6),
            "probabilities": (),
            "digits": json.dumps([d.as_json() for d in digits], separators=(",", ":")),
        }

    def _count_failures(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.failure is not None:
                self.metrics.image_errors.labels(code=o.failure.code).inc()

    async def _store(self, records: list[PredictionRecord]) -> None:
        """Durable before answered: returns once the records are committed."""
        try:
            await self.store.add(records)
        except StoreUnavailable:
            self.metrics.store_failures.labels(store=self.store.writes_to).inc()
            raise
        for r in records:
            self.metrics.predicted[str(r.digit) if r.digit >= 0 else "number"].inc()
