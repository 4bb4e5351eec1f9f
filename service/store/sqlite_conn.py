"""A connection to one SQLite file with its cross-process write lock: opened on first use,
dropped after a failure (the next use opens the file afresh)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

# FULL: the WAL is fsynced at every commit; NORMAL: for bookkeeping that may be redone (see SqliteFile).
SYNCHRONOUS = {"FULL": "PRAGMA synchronous=FULL", "NORMAL": "PRAGMA synchronous=NORMAL"}
DB_ERRORS = (sqlite3.Error, OSError)


class WriteLock:
    """An exclusive flock around each write transaction, shared by every worker process. SQLite's
    busy handler makes a second writer sleep in growing steps (1, 2, 5, ... 100 ms): 100-500 ms tails
    under load; a blocking flock wakes the next writer the moment the lock is free. One per
    connection: flock excludes open files, not threads, so each user opens its own."""

    def __init__(self, db: Path) -> None:
        self._fd = os.open(db.with_name(db.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def try_lock(self) -> bool:
        """Take the lock if no one holds it, without waiting. Taking it again on the same file
        (the `with` of the write) then succeeds at once, and its exit releases it."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class Conn:
    """A connection with its write lock, opened on first use and dropped after a failure."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path, self.synchronous = path, synchronous
        self.conn: sqlite3.Connection | None = None
        self.lock: WriteLock | None = None

    def get(self) -> tuple[sqlite3.Connection, WriteLock]:
        if self.conn is None or self.lock is None:
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            lock: WriteLock | None = None
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout=30000")
                lock = WriteLock(self.path)
                # Switching a new file to WAL turns a read lock into an exclusive one; when two
                # workers do so together SQLite fails one at once with 'database is locked' (a
                # deadlock, so no busy wait): 0.6-2.5 % of connections opened four at a time on new
                # files, and the worker refused records until its next try. Under the write lock
                # they take turns. A file in WAL already (every one after its first start) is not
                # switched, so the event loop's connection does not wait for the lock here.
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    with lock:
                        conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SYNCHRONOUS[self.synchronous])
            except DB_ERRORS:
                conn.close()
                if lock is not None:
                    lock.close()
                raise
            self.conn, self.lock = conn, lock
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
