"""The embedded store: SQLite in WAL mode, with group commit.

Used alone when no Cassandra is configured, and as the durable outbox in front of Cassandra.
A record is acknowledged only after the transaction holding it is committed with
`synchronous=FULL` (fsync of the WAL), so an answered prediction survives a crash. Records
that arrive together are committed together: one fsync for many requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.futures import settle
from service.records import PredictionRecord, StoreHealth

log = logging.getLogger(__name__)

COLUMNS = (
    "id",
    "created_at",
    "filename",
    "digit",
    "confidence",
    "probabilities",
    "model_sha",
    "image_sha256",
    "image_bytes",
    "width",
    "height",
    "client",
    "latency_ms",
    "seq",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    filename TEXT NOT NULL,
    digit INTEGER NOT NULL,
    confidence REAL NOT NULL,
    probabilities TEXT NOT NULL,
    model_sha TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    client TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    acked_at REAL NOT NULL DEFAULT 0
)
"""
# Table names are fixed identifiers of this module, never user input; every statement below is
# filled in once per store, with values always bound as parameters.
TABLES = ("predictions", "outbox")
STATEMENTS = {
    "index": "CREATE INDEX IF NOT EXISTS {t}_created ON {t}(created_at)",
    # The outbox holds acknowledged records for a while (thousands under load): without these
    # partial indexes every claim, depth count and purge scanned all of them (~1.7 ms each at
    # 15,000 held rows, several times per drain cycle). The plain store never sets acked_at.
    "index_pending": "CREATE INDEX IF NOT EXISTS {t}_pending ON {t}(seq) WHERE acked_at = 0",
    "index_acked": "CREATE INDEX IF NOT EXISTS {t}_acked ON {t}(acked_at) WHERE acked_at > 0",
    "insert": f"INSERT OR IGNORE INTO {{t}} ({', '.join(COLUMNS[:-1])}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))})",
    "recent": "SELECT * FROM {t} ORDER BY seq DESC LIMIT ?",
    "recent_before": "SELECT * FROM {t} WHERE seq < (SELECT seq FROM {t} WHERE id = ?) ORDER BY seq DESC LIMIT ?",
    "get": "SELECT * FROM {t} WHERE id = ?",
    "last_seq": "SELECT COALESCE(MAX(seq), 0) AS n FROM {t}",
    "pending": "SELECT COUNT(*) AS n FROM {t} WHERE acked_at = 0",
    "claim": "UPDATE {t} SET claimed_until = ? WHERE seq IN (SELECT seq FROM {t} "
    "WHERE acked_at = 0 AND claimed_until < ? ORDER BY seq LIMIT ?) RETURNING *",
    "release": "UPDATE {t} SET claimed_until = 0 WHERE id = ?",
    "mark_acked": "UPDATE {t} SET acked_at = ? WHERE id = ?",
    "purge_acked": "DELETE FROM {t} WHERE acked_at > 0 AND acked_at < ?",
    "requeue_acked": "UPDATE {t} SET acked_at = 0, claimed_until = 0 WHERE acked_at > 0 RETURNING seq",
}
MAX_GROUP = 512


class StoreError(Exception):
    """The embedded store could not take a record."""


def _row(rec: PredictionRecord) -> tuple[object, ...]:
    return (
        str(rec.id),
        rec.created_at.isoformat(),
        rec.filename,
        rec.digit,
        rec.confidence,
        json.dumps(rec.probabilities),
        rec.model_sha,
        rec.image_sha256,
        rec.image_bytes,
        rec.width,
        rec.height,
        rec.client,
        rec.latency_ms,
    )


def _record(row: sqlite3.Row) -> PredictionRecord:
    return PredictionRecord(
        id=uuid.UUID(row["id"]),
        created_at=dt.datetime.fromisoformat(row["created_at"]),
        filename=row["filename"],
        digit=int(row["digit"]),
        confidence=float(row["confidence"]),
        probabilities=tuple(float(p) for p in json.loads(row["probabilities"])),
        model_sha=row["model_sha"],
        image_sha256=row["image_sha256"],
        image_bytes=int(row["image_bytes"]),
        width=int(row["width"]),
        height=int(row["height"]),
        client=row["client"],
        latency_ms=float(row["latency_ms"]),
    )


class _WriteLock:
    """An exclusive flock around each write transaction, shared by every worker process.

    SQLite's own busy handler makes a second writer sleep in growing steps (1, 2, 5, ... 100 ms),
    which under load turns into 100-500 ms tail latencies; a blocking flock wakes the next
    writer the moment the lock is free. One per connection: flock excludes open files, not
    threads, so each user opens its own.
    """

    def __init__(self, db: Path) -> None:
        self._fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so a committed record survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SqliteStore:
    """A PredictionStore over one SQLite table; safe to share between worker processes."""

    backend = "sqlite"

    def __init__(self, path: Path, table: str = "predictions") -> None:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self.path = path
        self.table = table
        self._sql = {name: sql.format(t=table) for name, sql in STATEMENTS.items()}
        self._queue: queue.SimpleQueue[
            tuple[list[PredictionRecord], asyncio.Future[None], asyncio.AbstractEventLoop] | None
        ] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._reader_lock: _WriteLock | None = None
        self.write_failures = 0

    # --- lifecycle ---
    async def start(self) -> None:
        await asyncio.to_thread(self._open)
        self._writer = threading.Thread(target=self._write_loop, name=f"sqlite-{self.table}", daemon=True)
        self._writer.start()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            conn.execute(SCHEMA.format(table=self.table))
            conn.execute(self._sql["index"])
            if self.table == "outbox":
                conn.execute(self._sql["index_pending"])
                conn.execute(self._sql["index_acked"])
        finally:
            conn.close()
        self._reader = _connect(self.path)
        # This connection only reads and keeps the outbox's books (claims, acks, purges). Losing
        # its last commits in a power cut would only make records go out again, and Cassandra
        # writes are idempotent, so it need not fsync: records themselves are written (FULL) by
        # the writer thread.
        self._reader.execute("PRAGMA synchronous=NORMAL")
        self._reader_lock = _WriteLock(self.path)

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join, 30.0)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._reader_lock is not None:
            self._reader_lock.close()
            self._reader_lock = None

    # --- writes (group commit) ---
    async def add(self, records: list[PredictionRecord]) -> None:
        if self._writer is None:
            raise StoreError("the store is not started")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put((records, fut, loop))
        await fut

    def _write_loop(self) -> None:
        conn = _connect(self.path)
        lock = _WriteLock(self.path)
        insert = self._sql["insert"]
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                group = [item]
                stop = False
                while len(group) < MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    group.append(nxt)
                error: BaseException | None = None
                try:
                    with lock:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.executemany(insert, [_row(r) for recs, _, _ in group for r in recs])
                        conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    self.write_failures += 1
                    log.error("embedded store write failed: %s", exc)
                    error = StoreError(str(exc))
                for _, fut, loop in group:
                    loop.call_soon_threadsafe(settle, fut, None, error)
                if stop:
                    return
        finally:
            conn.close()
            lock.close()

    # --- reads, and the outbox's bookkeeping (short statements on the shared connection) ---
    def _run(self, sql: str, params: Iterable[Any] = (), many: bool = False) -> list[sqlite3.Row]:
        with self._read_lock:
            if self._reader is None or self._reader_lock is None:
                raise StoreError("the store is closed")
            if many:
                with self._reader_lock:
                    self._reader.execute("BEGIN IMMEDIATE")  # one transaction, not one per row
                    try:
                        self._reader.executemany(sql, params)
                    except sqlite3.Error:
                        self._reader.execute("ROLLBACK")
                        raise
                    self._reader.execute("COMMIT")
                return []
            if sql.startswith("SELECT"):
                return list(self._reader.execute(sql, tuple(params)))
            with self._reader_lock:
                return list(self._reader.execute(sql, tuple(params)))

    async def _call(self, sql: str, params: Iterable[Any] = (), many: bool = False) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self._run, sql, params, many)

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        if before is None:
            rows = await self._call(self._sql["recent"], (limit,))
        else:
            rows = await self._call(self._sql["recent_before"], (str(before), limit))
        return [_record(r) for r in rows]

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        rows = await self._call(self._sql["get"], (str(record_id),))
        return _record(rows[0]) if rows else None

    async def last_seq(self) -> int:
        rows = await self._call(self._sql["last_seq"])
        return int(rows[0]["n"])

    async def pending(self) -> int:
        """Records not yet acknowledged by the store behind (the outbox depth)."""
        rows = await self._call(self._sql["pending"])
        return int(rows[0]["n"])

    async def claim(self, limit: int, lease_s: float) -> list[PredictionRecord]:
        """The oldest unacknowledged records no other worker holds, leased to this one for
        `lease_s` seconds. A worker that dies mid-drain simply lets its lease run out."""
        now = time.time()
        rows = await self._call(
            self._sql["claim"],
            (now + lease_s, now, limit),
        )
        return sorted((_record(r) for r in rows), key=lambda r: r.id.time)

    async def release(self, ids: list[uuid.UUID]) -> None:
        """Give claimed records back (the write failed): the next attempt may take them at once."""
        await self._call(self._sql["release"], [(str(i),) for i in ids], True)

    async def mark_acked(self, ids: list[uuid.UUID]) -> None:
        now = time.time()
        await self._call(self._sql["mark_acked"], [(now, str(i)) for i in ids], True)

    async def purge_acked(self, older_than_s: float) -> None:
        """Delete acknowledged records once the store behind has had time to make them durable."""
        await self._call(self._sql["purge_acked"], (time.time() - older_than_s,))

    async def requeue_acked(self) -> int:
        """Acknowledged but still held records go out again (the store behind may have lost them)."""
        rows = await self._call(self._sql["requeue_acked"])
        return len(rows)

    async def health(self) -> StoreHealth:
        try:
            last = await self.last_seq()
        except (sqlite3.Error, StoreError) as exc:
            return StoreHealth(ok=False, backend=self.backend, details={"error": str(exc)})
        return StoreHealth(
            ok=self._writer is not None and self._writer.is_alive(),
            backend=self.backend,
            details={"path": str(self.path), "last_seq": last, "write_failures": self.write_failures},
        )
