"""The embedded store: every prediction in one local SQLite file, when no Cassandra is configured."""

from __future__ import annotations

import uuid
from pathlib import Path

from service.errors import StoreUnavailable
from service.store.record import PredictionRecord, StoreHealth
from service.store.sqlite import SqliteFile
from service.store.sqlite_conn import DB_ERRORS


class EmbeddedStore:
    backend = "sqlite"
    writes_to = "sqlite"

    def __init__(self, path: Path) -> None:
        self.file = SqliteFile(path, table="predictions")

    async def start(self) -> None:
        await self.file.start()

    async def add(self, records: list[PredictionRecord]) -> None:
        await self.file.add(records)

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        try:
            return await self.file.recent(limit, before)
        except DB_ERRORS as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from None

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        try:
            return await self.file.get(record_id)
        except DB_ERRORS as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from None

    async def health(self) -> StoreHealth:
        await self.file.opening.ensure()  # a file that could not be opened is tried again here too
        details: dict[str, object] = {"path": str(self.file.path), "write_failures": self.file.write_failures}
        problems = self.file.problems()
        if self.file.opening.error is not None:  # a read would fail for the same reason: said once
            return StoreHealth(ok=False, backend=self.backend, reasons=problems, details=details)
        try:
            details["last_seq"] = await self.file.last_seq()
        except DB_ERRORS as exc:
            return StoreHealth(
                ok=False, backend=self.backend, reasons=[*problems, f"cannot read: {exc}"], details=details
            )
        # A failed last write is reported, and the next request tries again (the disk may be back).
        return StoreHealth(ok=self.file.takes_records, backend=self.backend, reasons=problems, details=details)

    async def close(self) -> None:
        await self.file.close()
