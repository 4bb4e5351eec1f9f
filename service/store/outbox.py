"""The durable outbox in front of Cassandra: records are committed here before the client is
answered, and leave only once the store behind has acknowledged them and the hold has passed."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from service.core.futures import in_slices
from service.store.record import PredictionRecord
from service.store.sqlite import SqliteFile
from service.store.sqlite_schema import record_of

# The outbox holds acknowledged records for a while (thousands under load): without these
# partial indexes every claim, depth count and purge scanned all of them (~1.7 ms each at
# 15,000 held rows, several times per drain cycle).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS {t}_pending ON {t}(seq) WHERE acked_at = 0",
    "CREATE INDEX IF NOT EXISTS {t}_acked ON {t}(acked_at) WHERE acked_at > 0",
)
BOOKS = {
    "pending": "SELECT COUNT(*) AS n FROM outbox WHERE acked_at = 0",
    "claim": "UPDATE outbox SET claimed_until = ? WHERE seq IN (SELECT seq FROM outbox "
    "WHERE acked_at = 0 AND claimed_until < ? ORDER BY seq LIMIT ?) RETURNING *",
    "release": "UPDATE outbox SET claimed_until = 0 WHERE id = ?",
    "mark_acked": "UPDATE outbox SET acked_at = ? WHERE id = ?",
    "purge_acked": "DELETE FROM outbox WHERE acked_at > 0 AND acked_at < ?",
    "forget": "DELETE FROM outbox WHERE id = ?",
    "requeue_acked": "UPDATE outbox SET acked_at = 0, claimed_until = 0 WHERE acked_at > 0 RETURNING seq",
}


class Outbox(SqliteFile):
    """Shared by every worker: each claims the oldest records no other worker holds."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, table="outbox", indexes=INDEXES)
        self.sql |= BOOKS

    async def pending(self) -> int:
        """Records not yet acknowledged by the store behind (the outbox depth)."""
        rows = await self.call(self.sql["pending"])
        return int(rows[0]["n"])

    async def claim(self, limit: int, lease_s: float) -> list[PredictionRecord]:
        """The oldest unacknowledged records no other worker holds, leased to this one for
        `lease_s` seconds. A worker that dies mid-drain simply lets its lease run out."""
        now = time.time()
        rows = await self.call(self.sql["claim"], (now + lease_s, now, limit))
        return sorted(await in_slices(record_of, rows), key=lambda r: r.id.time)

    async def release(self, ids: list[uuid.UUID]) -> None:
        """Give claimed records back (the write failed): the next attempt may take them at once."""
        await self.call(self.sql["release"], [(str(i),) for i in ids], True)

    async def mark_acked(self, ids: list[uuid.UUID]) -> None:
        now = time.time()
        await self.call(self.sql["mark_acked"], [(now, str(i)) for i in ids], True)

    async def forget(self, ids: list[uuid.UUID]) -> None:
        """Delete acknowledged records at once (an acknowledgement that means fsynced: no hold)."""
        await self.call(self.sql["forget"], [(str(i),) for i in ids], True)

    async def purge_acked(self, older_than_s: float) -> None:
        """Delete acknowledged records once the store behind has had time to make them durable."""
        await self.call(self.sql["purge_acked"], (time.time() - older_than_s,))

    async def requeue_acked(self) -> int:
        """Acknowledged but still held records go out again (the store behind may have lost them)."""
        rows = await self.call(self.sql["requeue_acked"])
        return len(rows)
