"""What the service records about every prediction, the one map of its fields, and the store
interface every backend implements."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PredictionRecord:
    id: uuid.UUID  # a time-based UUID (CQL timeuuid): unique, and sorts by time
    created_at: dt.datetime  # UTC
    filename: str  # as the client named it ("" for tensors)
    digit: int
    confidence: float
    probabilities: tuple[float, ...]
    model_sha: str
    image_sha256: str  # of the uploaded bytes (of the tensor's bytes for OIP)
    image_bytes: int
    width: int
    height: int
    client: str
    latency_ms: float
    door: str = "v1"  # which door it came through: v1, page, oip, cli
    # A whole number read (/v1/read): its text, and per digit (JSON) digit, confidence and box;
    # `digit` is then -1 and `probabilities` empty. A single digit has text = the digit.
    text: str = ""
    digits: str = ""

    @property
    def day(self) -> dt.date:
        return self.created_at.date()

    @property
    def created_text(self) -> str:
        """created_at as the API writes it: ISO 8601, microseconds, Z."""
        return self.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z")

    def as_json(self) -> dict[str, Any]:
        reading = {"digits": json.loads(self.digits)} if self.digits else {}
        return {
            "id": str(self.id),
            "created_at": self.created_text,
            "filename": self.filename,
            "text": self.text,
            **reading,
            "digit": self.digit if self.digit >= 0 else None,
            "confidence": self.confidence,
            "probabilities": list(self.probabilities),
            "model_sha256": self.model_sha,
            "image": {
                "sha256": self.image_sha256,
                "bytes": self.image_bytes,
                "width": self.width,
                "height": self.height,
            },
            "client": self.client,
            "latency_ms": self.latency_ms,
            "door": self.door,
        }


# The one field-to-column map: every backend stores these columns under these names, in this
# order, and encodes only the few whose type it lacks (see Codec).
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PredictionRecord))
# Fields added after the first schema: backends add their columns with a guarded migration,
# and rows written before them read back with the default.
ADDED_FIELDS: dict[str, Any] = {"door": "v1", "text": "", "digits": ""}
_TYPES = {"digit": int, "confidence": float, "image_bytes": int, "width": int, "height": int, "latency_ms": float}

Codec = dict[str, tuple[Any, Any]]  # field -> (encode, decode) for a backend's own types


def to_values(rec: PredictionRecord, codec: Codec | None = None) -> tuple[Any, ...]:
    """The record's values in FIELDS order, encoded for one backend."""
    codec = codec or {}
    return tuple(codec[f][0](getattr(rec, f)) if f in codec else getattr(rec, f) for f in FIELDS)


def from_values(get: Any, codec: Codec | None = None) -> PredictionRecord:
    """A record from a row that maps column names to values (`get(name)`), decoded for one backend."""
    codec = codec or {}
    values: dict[str, Any] = {}
    for f in FIELDS:
        raw = get(f)
        if raw is None and f in ADDED_FIELDS:
            values[f] = ADDED_FIELDS[f]
            continue
        value = codec[f][1](raw) if f in codec else raw
        values[f] = _TYPES[f](value) if f in _TYPES else value
    values["probabilities"] = tuple(float(p) for p in values["probabilities"] or ())
    created: dt.datetime = values["created_at"]
    if created.tzinfo is None:
        values["created_at"] = created.replace(tzinfo=dt.UTC)
    return PredictionRecord(**values)


# uuid.uuid1() without arguments asks libuuid, which tries the uuidd daemon over a socket on
# every call (~19 us). Given a node and clock sequence, Python builds the same version-1 UUID
# itself (~5 us). The node is random with the multicast bit set (RFC 4122, 4.5) and drawn per
# process, so two workers never share one.
def _reseed() -> None:
    global _NODE, _CLOCK_SEQ
    _NODE = secrets.randbits(48) | (1 << 40)
    _CLOCK_SEQ = secrets.randbits(14)


_NODE = 0
_CLOCK_SEQ = 0
_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_record_id() -> uuid.UUID:
    return uuid.uuid1(_NODE, _CLOCK_SEQ)


def time_of(record_id: uuid.UUID) -> dt.datetime:
    """The timestamp inside a version-1 UUID."""
    ticks = record_id.time - 0x01B21DD213814000  # 100-ns ticks between 1582-10-15 and 1970-01-01
    return dt.datetime.fromtimestamp(ticks / 1e7, tz=dt.UTC)


@dataclass
class StoreHealth:
    """`ok`: records can be taken. `degraded`: they are taken, but something behind is failing
    (the reasons say what); the service stays ready."""

    ok: bool
    backend: str
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.ok:
            return "failing"
        return "degraded" if self.reasons else "ok"

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "backend": self.backend, "reasons": self.reasons, **self.details}


class PredictionStore(Protocol):
    """Where predictions are recorded. `add` returns only once the records are durable, and
    raises StoreUnavailable when they are not."""

    backend: str
    # What `add` commits to, as the metrics label it (mnist_store_write_failures_total{store=...}):
    # the SQLite file itself, or the outbox in front of Cassandra (the relay counts Cassandra's).
    writes_to: str

    async def start(self) -> None: ...

    async def add(self, records: list[PredictionRecord]) -> None: ...

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]: ...

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None: ...

    async def health(self) -> StoreHealth: ...

    async def close(self) -> None: ...
