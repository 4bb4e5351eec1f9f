"""SQLite files the service writes records to: WAL, fsync at every commit, group commit.

A record is acknowledged only after the transaction holding it is committed with
`synchronous=FULL` (fsync of the WAL), so an answered prediction survives a crash. Records that
arrive together are committed together: one fsync for many requests. A failed write (disk full,
read-only, I/O error) fails only the requests in it, as StoreUnavailable; the connections are
then reopened on next use, so the store recovers by itself when the disk does.
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
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.core.futures import settle
from service.errors import StoreUnavailable
from service.store.record import ADDED_FIELDS, FIELDS, Codec, PredictionRecord, from_values, to_values

log = logging.getLogger(__name__)

CODEC: Codec = {
    "id": (str, uuid.UUID),
    "created_at": (dt.datetime.isoformat, dt.datetime.fromisoformat),
    "probabilities": (json.dumps, json.loads),
}
_SQL_TYPES = {"digit": "INTEGER", "image_bytes": "INTEGER", "width": "INTEGER", "height": "INTEGER"}
_SQL_TYPES |= {"confidence": "REAL", "latency_ms": "REAL"}
# Table names are fixed identifiers of this package, never user input; every statement is
# filled in once per file, with values always bound as parameters.
TABLES = ("predictions", "outbox")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {t} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(
        f"{f} {_SQL_TYPES.get(f, 'TEXT')} NOT NULL" + (" UNIQUE" if f == "id" else "")
        for f in FIELDS
        if f not in ADDED_FIELDS
    )
    + ", claimed_until REAL NOT NULL DEFAULT 0, acked_at REAL NOT NULL DEFAULT 0)"
)
STATEMENTS = {
    "index": "CREATE INDEX IF NOT EXISTS {t}_created ON {t}(created_at)",
    "insert": f"INSERT OR IGNORE INTO {{t}} ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
    "recent": "SELECT * FROM {t} ORDER BY seq DESC LIMIT ?",
    "recent_before": "SELECT * FROM {t} WHERE seq < (SELECT seq FROM {t} WHERE id = ?) ORDER BY seq DESC LIMIT ?",
    "get": "SELECT * FROM {t} WHERE id = ?",
    "last_seq": "SELECT COALESCE(MAX(seq), 0) AS n FROM {t}",
    "columns": "SELECT name FROM pragma_table_info('{t}')",
}
# Columns of fields added after the first schema: name and default from record.ADDED_FIELDS.
ADD_COLUMN = "ALTER TABLE {t} ADD COLUMN {name} TEXT NOT NULL DEFAULT '{default}'"
MAX_GROUP = 512
# FULL: the WAL is fsynced at every commit; NORMAL: for bookkeeping that may be redone (see SqliteFile).
SYNCHRONOUS = {"FULL": "PRAGMA synchronous=FULL", "NORMAL": "PRAGMA synchronous=NORMAL"}
DB_ERRORS = (sqlite3.Error, OSError)


def record_of(row: sqlite3.Row) -> PredictionRecord:
    columns = set(row.keys())  # a Row's `in` looks at values, not column names
    return from_values(lambda name: row[name] if name in columns else None, CODEC)


class _WriteLock:
    """An exclusive flock around each write transaction, shared by every worker process. SQLite's
    busy handler makes a second writer sleep in growing steps (1, 2, 5, ... 100 ms): 100-500 ms tails
    under load; a blocking flock wakes the next writer the moment the lock is free. One per
    connection: flock excludes open files, not threads, so each user opens its own."""

    def __init__(self, db: Path) -> None:
        self._fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class _Conn:
    """A connection with its write lock, opened on first use and dropped after a failure."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path, self.synchronous = path, synchronous
        self.conn: sqlite3.Connection | None = None
        self.lock: _WriteLock | None = None

    def get(self) -> tuple[sqlite3.Connection, _WriteLock]:
        if self.conn is None or self.lock is None:
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SYNCHRONOUS[self.synchronous])
                conn.execute("PRAGMA busy_timeout=30000")
                self.lock = _WriteLock(self.path)
            except DB_ERRORS:
                conn.close()
                raise
            self.conn = conn
        return self.conn, self.lock

    def drop(self) -> None:
        """Forget a connection that failed: the next use opens the file afresh (the disk may
        have been remounted, repaired or freed meanwhile)."""
        conn, lock, self.conn, self.lock = self.conn, self.lock, None, None
        try:
            if conn is not None:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.close()
        except DB_ERRORS:
            pass
        if lock is not None:
            lock.close()


Job = tuple[list[PredictionRecord], asyncio.Future[None], asyncio.AbstractEventLoop]


class SqliteFile:
    """One table of records in one SQLite file, safe to share between worker processes: a
    writer thread that group-commits, and a second connection for reads and bookkeeping."""

    def __init__(self, path: Path, table: str, indexes: tuple[str, ...] = ()) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self.path = path
        self.table = table
        self.sql = {name: sql.format(t=table) for name, sql in STATEMENTS.items()}
        self._ddl = (SCHEMA.format(t=table), self.sql["index"], *(i.format(t=table) for i in indexes))
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._read_lock = threading.Lock()
        # Reads and the outbox's books (claims, acks, purges): losing their last commits in a
        # power cut only makes records go out again, and the writes behind are idempotent, so
        # this connection need not fsync. Records themselves are written (FULL) by the writer.
        self._reader = _Conn(path, "NORMAL")
        self.write_failures = 0
        self.last_write_error: str | None = None

    # --- lifecycle ---
    async def start(self) -> None:
        await asyncio.to_thread(self._migrate)
        self._writer = threading.Thread(target=self._write_loop, name=f"sqlite-{self.table}", daemon=True)
        self._writer.start()

    def _migrate(self) -> None:
        """Create the table if missing and add columns of later fields; idempotent, never drops."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn, lock = self._reader.get()
        with lock:
            for ddl in self._ddl:
                conn.execute(ddl)
            have = {row[0] for row in conn.execute(self.sql["columns"])}
            for name, default in ADDED_FIELDS.items():
                if name not in have:
                    # Identifiers and the default come from this package (ADDED_FIELDS), not input.
                    conn.execute(ADD_COLUMN.format(t=self.table, name=name, default=default))

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join, 30.0)
            self._writer = None
        with self._read_lock:
            self._reader.drop()

    @property
    def writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    # --- writes (group commit) ---
    async def add(self, records: list[PredictionRecord]) -> None:
        """Returns once the records are committed and fsynced; raises StoreUnavailable if not."""
        if self._writer is None:
            raise StoreUnavailable("the store is not started")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put((records, fut, loop))
        await fut

    def _write_loop(self) -> None:
        writer = _Conn(self.path, "FULL")  # FULL: the WAL is fsynced at every commit
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                group, stop = self._gather(item)
                error = self._commit(writer, [to_values(r, CODEC) for recs, _, _ in group for r in recs])
                for _, fut, loop in group:
                    loop.call_soon_threadsafe(settle, fut, None, error)
                if stop:
                    return
        finally:
            writer.drop()

    def _gather(self, first: Job) -> tuple[list[Job], bool]:
        group = [first]
        while len(group) < MAX_GROUP:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return group, True
            group.append(nxt)
        return group, False

    def _commit(self, writer: _Conn, rows: list[tuple[Any, ...]]) -> StoreUnavailable | None:
        opened_before = writer.conn is not None
        try:
            try:
                self._insert(writer, rows)
            except DB_ERRORS:
                # An older connection may hold a file of a file system since remounted: try once
                # afresh (inserts are idempotent by id). A fresh one that failed is the fault.
                writer.drop()
                if not opened_before:
                    raise
                self._insert(writer, rows)
        except DB_ERRORS as exc:
            writer.drop()
            self.write_failures += 1
            message = str(exc) or type(exc).__name__
            if message != self.last_write_error:  # one line per new kind of failure, not per request
                log.error("cannot record in %s (%s): %s", self.path, self.table, message)
            self.last_write_error = message
            return StoreUnavailable(f"the prediction could not be recorded: {message}")
        if self.last_write_error is not None:
            log.info("recording in %s works again after %d failed writes", self.path, self.write_failures)
            self.last_write_error = None
        return None

    def _insert(self, writer: _Conn, rows: list[tuple[Any, ...]]) -> None:
        conn, lock = writer.get()
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(self.sql["insert"], rows)
            conn.execute("COMMIT")

    # --- reads and bookkeeping (short statements on the shared connection) ---
    def run(self, sql: str, params: Iterable[Any] = (), many: bool = False) -> list[sqlite3.Row]:
        with self._read_lock:
            try:
                conn, lock = self._reader.get()
                if many:
                    with lock:
                        conn.execute("BEGIN IMMEDIATE")  # one transaction, not one per row
                        conn.executemany(sql, params)
                        conn.execute("COMMIT")
                    return []
                if sql.startswith("SELECT"):
                    return list(conn.execute(sql, tuple(params)))
                with lock:
                    return list(conn.execute(sql, tuple(params)))
            except DB_ERRORS:
                self._reader.drop()
                raise

    async def call(self, sql: str, params: Iterable[Any] = (), many: bool = False) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self.run, sql, params, many)

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        if before is None:
            rows = await self.call(self.sql["recent"], (limit,))
        else:
            rows = await self.call(self.sql["recent_before"], (str(before), limit))
        return [record_of(r) for r in rows]

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        rows = await self.call(self.sql["get"], (str(record_id),))
        return record_of(rows[0]) if rows else None

    async def last_seq(self) -> int:
        rows = await self.call(self.sql["last_seq"])
        return int(rows[0]["n"])

    def problems(self) -> list[str]:
        """What stops this file from taking records right now (empty when it works)."""
        out = []
        if not self.writer_alive:
            out.append("the writer thread is not running")
        if self.last_write_error is not None:
            out.append(f"the last write to {self.path.name} failed: {self.last_write_error}")
        return out
