"""What the service records about every prediction, and the store interface it goes through."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PredictionRecord:
    id: uuid.UUID  # a time-based UUID (CQL timeuuid): unique, and sorts by time
    created_at: dt.datetime  # UTC
    filename: str
    digit: int
    confidence: float
    probabilities: tuple[float, ...]
    model_sha: str
    image_sha256: str
    image_bytes: int
    width: int
    height: int
    client: str
    latency_ms: float

    @property
    def day(self) -> dt.date:
        return self.created_at.date()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "created_at": self.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "filename": self.filename,
            "digit": self.digit,
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
        }


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


class StoreUnavailable(Exception):
    """The store could not answer a read right now (503 to the client; retry later)."""


@dataclass
class StoreHealth:
    ok: bool
    backend: str
    details: dict[str, Any] = field(default_factory=dict)


class PredictionStore(Protocol):
    """Where predictions are recorded. `add` returns only once the record is durable."""

    async def start(self) -> None: ...

    async def add(self, records: list[PredictionRecord]) -> None: ...

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]: ...

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None: ...

    async def health(self) -> StoreHealth: ...

    async def close(self) -> None: ...
