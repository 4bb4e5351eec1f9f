"""In-memory stand-ins for unit tests only (tests that claim a real part use the real one)."""

from __future__ import annotations

import uuid

from service.errors import StoreUnavailable
from service.store.record import PredictionRecord, StoreHealth


class MemoryStore:
    """A PredictionStore in a dict; `fail` makes every add raise StoreUnavailable."""

    backend = "memory"
    writes_to = "memory"

    def __init__(self) -> None:
        self.records: dict[uuid.UUID, PredictionRecord] = {}
        self.fail = False

    async def start(self) -> None:
        return None

    async def add(self, records: list[PredictionRecord]) -> None:
        if self.fail:
            raise StoreUnavailable("the memory store is set to fail")
        self.records.update({r.id: r for r in records})

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        rows = sorted(self.records.values(), key=lambda r: r.id.time, reverse=True)
        return [r for r in rows if before is None or r.id.time < before.time][:limit]

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        return self.records.get(record_id)

    async def health(self) -> StoreHealth:
        return StoreHealth(ok=True, backend=self.backend)

    async def close(self) -> None:
        return None


class MemorySink:
    """A relay sink that keeps what it is sent; `failures` rounds fail with `error` first."""

    name = "memory"

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, PredictionRecord] = {}
        self.writes = 0
        self.failures = 0
        self.error: BaseException = ConnectionError("the sink is down")
        self.changed = False
        self.hold_s = 60.0
        self.reassessed = 0

    async def reassess(self) -> None:
        self.reassessed += 1

    async def write(self, records: list[PredictionRecord]) -> list[BaseException | None]:
        self.writes += 1
        if self.failures > 0:
            self.failures -= 1
            return [self.error for _ in records]
        self.rows.update({r.id: r for r in records})
        return [None for _ in records]

    def take_node_change(self) -> bool:
        changed, self.changed = self.changed, False
        return changed
