"""SQLite files the service writes records to: WAL, fsync at every commit, group commit.

A record is acknowledged only after the transaction holding it is committed with
`synchronous=FULL` (fsync of the WAL), so an answered prediction survives a crash. Records that
arrive together (in one iteration of the event loop, while another worker's commit holds the
file, or while a commit is under way) are committed together: one fsync for many requests. A
small group is committed right on the event loop, a large one (or any, while the disk is slow)
by a writer thread; see SLOW_COMMIT_S and LOOP_MAX_GROUP. A failed write (disk full, read-only,
I/O error) fails only the requests in it, as StoreUnavailable; the connections are then
reopened on next use, so the store recovers by itself when the disk does.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from service.core.futures import settle
from service.errors import StoreUnavailable
from service.store.record import PredictionRecord, to_values
from service.store.sqlite_conn import DB_ERRORS, Conn
from service.store.sqlite_open import Opening
from service.store.sqlite_reads import SqliteReads
from service.store.sqlite_schema import (
    CODEC,
    ROWS_PER_INSERT,
    SCHEMA,
    insert_rows,
    migrate,
)

log = logging.getLogger(__name__)

MAX_GROUP = 512

# Requests whose records are committed together: each one's records and the future it awaits.
Group = list[tuple[list[PredictionRecord], asyncio.Future[None]]]
Job = tuple[Group, asyncio.AbstractEventLoop]
# Commits are made right on the event loop: through the writer thread one costs 33-55 % more CPU
# (the hand-off's wake-ups; one record: 267 against 413 us, four: 411 against 588; `bench/run
# --only commits`). The disk counts as slow (commits go to the thread for THREAD_FOR_S) once the
# moving average of commit times (weight SLOW_WEIGHT) passes SLOW_COMMIT_S, not at one late
# fsync: under load (2 workers, c=8) 10 % of commits took over 1 ms, 3 % over 2 ms, 0.4 % over
# 5 ms (one over 2 ms used to send all commits to the thread for 10 s, within seconds of load).
SLOW_COMMIT_S = 0.005
SLOW_WEIGHT = 0.2
THREAD_FOR_S = 10.0
# While another worker holds the write lock (for its own commit, ~0.3-1 ms), the group stays on
# the loop and tries again every LOCK_POLL_S, gathering the records that arrive meanwhile (one
# commit for more of them); after LOCK_WAIT_S the writer thread takes it and waits there.
LOCK_POLL_S = 0.001
LOCK_WAIT_S = 0.02
# A larger group goes to the writer thread: a worker with that many requests at once has others
# to serve while the fsync runs, and the group shares the hand-off's cost.
LOOP_MAX_GROUP = 4


def _settle_all(group: Group, error: BaseException | None) -> None:
    for _, fut in group:
        settle(fut, None, error)


class SqliteFile(SqliteReads):
    """One table of records in one SQLite file, safe to share between worker processes: group
    commits (on the loop, or by the writer thread), and a connection for reads and bookkeeping."""

    def __init__(self, path: Path, table: str, indexes: tuple[str, ...] = ()) -> None:
        super().__init__(path, table)
        self._ddl = (SCHEMA.format(t=table), self.sql["index"], *(i.format(t=table) for i in indexes))
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._pending: Group = []  # records of this loop iteration, committed together
        self._inline = Conn(path, "FULL")  # commits made on the event loop
        self._thread_until = 0.0  # commits go to the writer thread until then (monotonic)
        self._commit_s = 0.0  # moving average of the loop's commit times
        self._lock_wait_since: float | None = None  # the pending group waits for the write lock
        self.write_failures = 0
        self.last_write_error: str | None = None
        self.opening = Opening(path, table, self._migrate)

    # --- lifecycle ---
    async def start(self) -> None:
        """Starts even when the file cannot be opened (see sqlite_open): `add` then refuses records."""
        self._writer = threading.Thread(target=self._write_loop, name=f"sqlite-{self.table}", daemon=True)
        self._writer.start()
        await self.opening.ensure()

    def _migrate(self) -> None:
        """Create the table if missing and add columns of later fields; idempotent, never drops."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.locked(lambda conn: migrate(conn, self.table, self._ddl, self.sql["columns"]))

    async def close(self) -> None:
        if self._writer is not None:
            if self._pending:  # a group waiting for the write lock: the writer commits it first
                group, self._pending = self._pending, []
                self._queue.put((group, asyncio.get_running_loop()))
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join, 30.0)
            self._writer = None
        self.drop_reader()
        self._inline.drop()

    @property
    def writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    @property
    def takes_records(self) -> bool:
        return self.opening.error is None and self.writer_alive

    # --- writes (group commit) ---
    async def add(self, records: list[PredictionRecord]) -> None:
        """Returns once the records are committed and fsynced; raises StoreUnavailable if not."""
        if self._writer is None:
            raise StoreUnavailable("the store is not started")
        if not records:
            return
        if self.opening.error is not None and not await self.opening.ensure():
            raise StoreUnavailable(
                f"the prediction could not be recorded: cannot open {self.path.name}: {self.opening.error}"
            )
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not self._pending:  # the first of this loop iteration: commit them all after it
            loop.call_soon(self._flush, loop)
        self._pending.append((records, fut))
        await fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._pending:  # taken by close() meanwhile
            return
        if self._writer is None:  # closed meanwhile: nothing will commit these
            group, self._pending = self._pending, []
            _settle_all(group, StoreUnavailable("the store is closing"))
            return
        where = self._where_to_commit(len(self._pending))
        if where == "wait":  # the group stays pending; records added meanwhile join it
            loop.call_later(LOCK_POLL_S, self._flush, loop)
            return
        group, self._pending, self._lock_wait_since = self._pending, [], None
        if where == "thread":
            self._queue.put((group, loop))  # the writer commits them and settles the futures
            return
        started = time.monotonic()
        error = self._commit(self._inline, [group])
        self._commit_s += SLOW_WEIGHT * (time.monotonic() - started - self._commit_s)
        if self._commit_s > SLOW_COMMIT_S:
            self._thread_until = time.monotonic() + THREAD_FOR_S
            self._commit_s = SLOW_COMMIT_S  # after the pause, one more slow commit sends them back
        _settle_all(group, error)

    def _where_to_commit(self, requests: int) -> str:
        """Where the pending group of `requests` is committed: "loop" (the write lock is taken),
        "wait" (another process holds it: try again soon) or "thread" (a large group, the disk has
        been slow, the connection failed, or the lock stayed held)."""
        now = time.monotonic()
        if now < self._thread_until or requests > LOOP_MAX_GROUP:
            return "thread"
        try:
            _, lock = self._inline.get()
            if lock.try_lock():
                return "loop"
        except DB_ERRORS:
            self._inline.drop()
            return "thread"  # the writer thread reports the failure, once
        if self._lock_wait_since is None:
            self._lock_wait_since = now
        return "wait" if now - self._lock_wait_since < LOCK_WAIT_S else "thread"

    def _write_loop(self) -> None:
        writer = Conn(self.path, "FULL")  # FULL: the WAL is fsynced at every commit
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                jobs, stop = self._gather(item)
                error = self._commit(writer, [group for group, _ in jobs])
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

    def _commit(self, writer: Conn, groups: list[Group]) -> StoreUnavailable | None:
        opened_before = writer.conn is not None
        try:
            rows = [to_values(r, CODEC) for group in groups for records, _ in group for r in records]
            try:
                self._insert(writer, rows)
            except DB_ERRORS:
                # An older connection may hold a file of a file system since remounted: try once
                # afresh (inserts are idempotent by id). A fresh one that failed is the fault.
                writer.drop()
                if not opened_before:
                    raise
                self._insert(writer, rows)
        except Exception as exc:  # the disk's, or a bug's (with its trace): these requests fail, not the store
            writer.drop()
            self.write_failures += 1
            message = str(exc) or type(exc).__name__
            if message != self.last_write_error:  # one line per new kind of failure, not per request
                bug = not isinstance(exc, DB_ERRORS)
                log.error("cannot record in %s (%s): %s", self.path, self.table, message, exc_info=bug)
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

    def problems(self) -> list[str]:
        """What stops this file from taking records right now (empty when it works)."""
        out = []
        if self.opening.error is not None:
            out.append(f"cannot open {self.path.name}: {self.opening.error}")
        if not self.writer_alive:
            out.append("the writer thread is not running")
        if self.last_write_error is not None:
            out.append(f"the last write to {self.path.name} failed: {self.last_write_error}")
        return out
