"""Reads and bookkeeping on one SQLite file: short statements on one shared connection (the
outbox's claims, acks and purges; `/v1/predictions`; the schema's migration)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from service.store.record import PredictionRecord
from service.store.sqlite_conn import DB_ERRORS, Conn, WriteLock
from service.store.sqlite_schema import STATEMENTS, TABLES, record_of


class SqliteReads:
    """One table's reads and short bookkeeping statements, on a connection that need not fsync."""

    def __init__(self, path: Path, table: str) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self.path = path
        self.table = table
        self.sql = {name: sql.format(t=table) for name, sql in STATEMENTS.items()}
        self._read_lock = threading.Lock()
        # Reads and the outbox's books (claims, acks, purges): losing their last commits in a
        # power cut only makes records go out again, and the writes behind are idempotent, so
        # this connection need not fsync. Records themselves are committed with FULL.
        self._reader = Conn(path, "NORMAL")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[tuple[sqlite3.Connection, WriteLock]]:
        """The shared connection and its write lock, one thread at a time; dropped after a disk
        error (the next use opens the file afresh)."""
        with self._read_lock:
            try:
                yield self._reader.get()
            except DB_ERRORS:
                self._reader.drop()
                raise

    def locked(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """`work` on the shared connection in one hold of the cross-process write lock."""
        with self._connection() as (conn, lock), lock:
            work(conn)

    def drop_reader(self) -> None:
        with self._read_lock:
            self._reader.drop()

    def run(self, sql: str, params: Iterable[Any] = (), many: bool = False) -> list[sqlite3.Row]:
        with self._connection() as (conn, lock):
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
