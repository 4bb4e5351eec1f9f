"""What a door hands the prediction core (pictures) and gets back (one outcome per picture)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.core import framing, reading
from service.errors import Failure
from service.store.record import PredictionRecord


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
