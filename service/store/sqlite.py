"""SQLite files the service writes records to: WAL, fsync at every commit, group commit.

A record is acknowledged only after the transaction holding it is committed with
`synchronous=FULL` (fsync of the WAL), so an answered prediction survives a crash. Records that
arrive together (in one iteration of the event loop, or while a commit is under way) are
committed together: one fsync for many requests. A commit is made right on the event loop while
that is cheap, else by a writer thread (see SLOW_COMMIT_S). A failed write (disk full,
read-only, I/O error) fails only the requests in it, as StoreUnavailable; the connections are
then reopened on next use, so the store recovers by itself when the disk does.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.core.futures import settle
from service.errors import StoreUnavailable
from service.store.record import ADDED_FIELDS, PredictionRecord, to_values
from service.store.sqlite_conn import DB_ERRORS, Conn
from service.store.sqlite_schema import (
    ADD_COLUMN,
    CODEC,
    ROWS_PER_INSERT,
    SCHEMA,
    STATEMENTS,
    TABLES,
    insert_rows,
    record_of,
)

log = logging.getLogger(__name__)

MAX_GROUP = 512

# Requests whose records are committed together: each one's records and the future it awaits.
Group = list[tuple[list[PredictionRecord], asyncio.Future[None]]]
Job = tuple[Group, asyncio.AbstractEventLoop]
# A commit (one fsync) takes ~0.3 ms of wall time on this machine's disk. Up to SLOW_COMMIT_S it is
# done right on the event loop: the hand-off to the writer thread and back cost more CPU than that
# (2 workers, 28x28 PNGs, concurrency 8: 1,198 vs 1,384 us/request, 1,380 vs 1,235 req/s, side by
# side). A slower commit (a slow or busy disk) sends the next ones to the writer thread for
# THREAD_FOR_S, so the loop never waits on such a disk for long.
SLOW_COMMIT_S = 0.002
THREAD_FOR_S = 10.0


def _rows(group: Group) -> list[tuple[Any, ...]]:
    return [to_values(r, CODEC) for records, _ in group for r in records]


def _settle_all(group: Group, error: BaseException | None) -> None:
    for _, fut in group:
        settle(fut, None, error)


class SqliteFile:
    """One table of records in one SQLite file, safe to share between worker processes: group
    commits (on the loop, or by the writer thread), and a connection for reads and bookkeeping."""

    def __init__(self, path: Path, table: str, indexes: tuple[str, ...] = ()) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self.path = path
        self.table = table
        self.sql = {name: sql.format(t=table) for name, sql in STATEMENTS.items()}
        self._ddl = (SCHEMA.format(t=table), self.sql["index"], *(i.format(t=table) for i in indexes))
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._pending: Group = []  # records of this loop iteration, committed together
        self._inline = Conn(path, "FULL")  # commits made on the event loop
        self._thread_until = 0.0  # commits go to the writer thread until then (monotonic)
        self._read_lock = threading.Lock()
        # Reads and the outbox's books (claims, acks, purges): losing their last commits in a
        # power cut only makes records go out again, and the writes behind are idempotent, so
        # this connection need not fsync. Records themselves are committed with FULL.
        self._reader = Conn(path, "NORMAL")
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
        self._inline.drop()

    @property
    def writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    # --- writes (group commit) ---
    async def add(self, records: list[PredictionRecord]) -> None:
        """Returns once the records are committed and fsynced; raises StoreUnavailable if not."""
        if self._writer is None:
            raise StoreUnavailable("the store is not started")
        if not records:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not self._pending:  # the first of this loop iteration: commit them all after it
            loop.call_soon(self._flush, loop)
        self._pending.append((records, fut))
        await fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._pending = self._pending, []
        if self._writer is None:  # closed meanwhile: nothing will commit these
            _settle_all(group, StoreUnavailable("the store is closing"))
        elif not self._commit_inline(group):
            self._queue.put((group, loop))  # the writer commits them and settles the futures

    def _commit_inline(self, group: Group) -> bool:
        """Commit on the event loop when that is cheap: no other process is writing (the lock is
        free) and commits have been fast. False: the writer thread should do it."""
        now = time.monotonic()
        if now < self._thread_until:
            return False
        try:
            _, lock = self._inline.get()
        except DB_ERRORS:
            self._inline.drop()
            return False  # the writer thread reports the failure, once
        if not lock.try_lock():
            return False
        error = self._commit(self._inline, _rows(group))
        if time.monotonic() - now > SLOW_COMMIT_S:
            self._thread_until = time.monotonic() + THREAD_FOR_S
        _settle_all(group, error)
        return True

    def _write_loop(self) -> None:
        writer = Conn(self.path, "FULL")  # FULL: the WAL is fsynced at every commit
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                jobs, stop = self._gather(item)
                error = self._commit(writer, [row for group, _ in jobs for row in _rows(group)])
                for group, loop in jobs:
                    loop.call_soon_threadsafe(_settle_all, group, error)
                if stop:
                    return
        finally:
            writer.drop()

    def _gather(self, first: Job) -> tuple[list[Job], bool]:
        jobs = [first]
        while len(jobs) < MAX_GROUP:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return jobs, True
            jobs.append(nxt)
        return jobs, False

    def _commit(self, writer: Conn, rows: list[tuple[Any, ...]]) -> StoreUnavailable | None:
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

    def _insert(self, writer: Conn, rows: list[tuple[Any, ...]]) -> None:
        conn, lock = writer.get()
        with lock:
            if len(rows) <= ROWS_PER_INSERT:  # one statement, its own transaction: one step
                conn.execute(insert_rows(self.sql["insert"], len(rows)), [v for row in rows for v in row])
                return
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
