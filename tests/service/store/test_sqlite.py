"""The embedded store's file: migrated in place (never dropped), records read back whole."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from service.store.embedded import EmbeddedStore
from service.store.sqlite import SqliteFile
from service.store.sqlite_conn import Conn
from tests.utils import make_reading, make_record

LOOP = threading.main_thread().name
WRITER = "sqlite-predictions"


def note_commits(db: SqliteFile) -> list[tuple[str, int]]:
    """Every commit of `db` from now on, as (the thread that made it, its rows)."""
    real, calls = db._insert, []

    def counted(writer: object, rows: list[object]) -> None:
        calls.append((threading.current_thread().name, len(rows)))
        real(writer, rows)  # type: ignore[arg-type]

    db._insert = counted  # type: ignore[method-assign]
    return calls


# The table as the first schema made it, before records said which door they came through.
FIRST_SCHEMA = """
CREATE TABLE predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    filename TEXT NOT NULL, digit INTEGER NOT NULL, confidence REAL NOT NULL, probabilities TEXT NOT NULL,
    model_sha TEXT NOT NULL, image_sha256 TEXT NOT NULL, image_bytes INTEGER NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, client TEXT NOT NULL, latency_ms REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0, acked_at REAL NOT NULL DEFAULT 0
)
"""


def test_a_file_of_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "predictions.sqlite3"
    old_id = uuid.uuid1()
    with sqlite3.connect(path) as conn:
        conn.execute(FIRST_SCHEMA)
        conn.execute(
            "INSERT INTO predictions (id, created_at, filename, digit, confidence, probabilities, model_sha, "
            "image_sha256, image_bytes, width, height, client, latency_ms) "
            "VALUES (?, '2026-01-02T03:04:05+00:00', 'old.png', 4, 0.5, '[0.5, 0.5]', 'm', 'i', 10, 28, 28, '', 1.5)",
            (str(old_id),),
        )
    conn.close()

    async def twice() -> None:
        new = make_record(7, door="oip")
        number = make_reading("2026")
        for _ in range(2):  # the migration runs at every start, and changes nothing the second time
            store = EmbeddedStore(path)
            await store.start()
            try:
                await store.add([new, number])  # the same records twice: stored once (idempotent by id)
                old = await store.get(old_id)
                assert old is not None and (old.filename, old.digit, old.door) == ("old.png", 4, "v1")
                assert (old.text, old.digits) == ("", "")  # columns added later read back as their defaults
                assert await store.get(number.id) == number
                assert old.probabilities == (0.5, 0.5) and old.created_at.tzinfo is not None
                assert await store.get(new.id) == new  # every field back as written
                assert [r.id for r in await store.recent(10)] == [number.id, new.id, old_id]
            finally:
                await store.close()

    asyncio.run(twice())


def test_a_stale_connection_is_retried_once_on_a_fresh_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that wrote nothing while its disk was remounted still holds the old file: its
    first write after the repair fails once, is retried on a fresh connection, and succeeds
    (before, that request got a 503). A fresh connection that fails is a real fault: no retry."""
    from service.errors import StoreUnavailable
    from service.store import sqlite as sqlite_file

    # Every commit on the loop's connection, however slow a busy machine makes the first one (a
    # slow commit sends the next to the writer thread, whose connection is fresh: no retry there).
    monkeypatch.setattr(sqlite_file, "SLOW_COMMIT_S", 60.0)

    async def scenario() -> None:
        db = SqliteFile(tmp_path / "p.sqlite3", "predictions")
        await db.start()
        real, calls = db._insert, []

        def stale_once(writer: object, rows: list[object]) -> None:
            calls.append(writer)
            if len(calls) == 2:  # the second write: its connection went stale
                raise sqlite3.OperationalError("disk I/O error")
            real(writer, rows)  # type: ignore[arg-type]

        db._insert = stale_once  # type: ignore[method-assign]
        try:
            await db.add([make_record(1)])
            await db.add([make_record(2)])  # fails once, retried afresh: answered
            assert len(calls) == 3 and db.write_failures == 0

            def full(writer: object, rows: list[object]) -> None:
                raise sqlite3.OperationalError("database or disk is full")

            db._insert = full  # type: ignore[method-assign]
            with pytest.raises(StoreUnavailable):
                await db.add([make_record(3)])
            assert db.write_failures == 1
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_bug_in_a_commit_fails_only_its_requests_on_the_loop_and_on_the_writer_thread(tmp_path: Path) -> None:
    """An exception that is no disk error (a bug) inside a commit: the requests of that commit get
    StoreUnavailable (not a future left waiting forever), the writer thread lives on, and the next
    records are committed on either path."""
    from service.errors import StoreUnavailable
    from service.store.sqlite import LOOP_MAX_GROUP

    async def scenario() -> None:
        db = SqliteFile(tmp_path / "p.sqlite3", "predictions")
        await db.start()
        real, calls = db._insert, []

        def buggy(writer: object, rows: list[object]) -> None:
            calls.append((threading.current_thread().name, len(rows)))
            if len(calls) in (1, 3):
                raise KeyError("a bug")
            real(writer, rows)  # type: ignore[arg-type]

        db._insert = buggy  # type: ignore[method-assign]
        try:
            with pytest.raises(StoreUnavailable, match="a bug"):
                await asyncio.wait_for(db.add([make_record(1)]), 10)  # on the loop
            await db.add([make_record(2)])
            large = [make_record(d) for d in range(LOOP_MAX_GROUP + 1)]
            failed = await asyncio.wait_for(asyncio.gather(*(db.add([r]) for r in large), return_exceptions=True), 10)
            assert all(isinstance(f, StoreUnavailable) for f in failed)  # one commit, by the writer
            await asyncio.wait_for(asyncio.gather(*(db.add([r]) for r in large)), 10)
            assert [name for name, _ in calls] == [LOOP, LOOP, WRITER, WRITER]
            assert db.writer_alive and db.write_failures == 2
            assert len(await db.recent(100)) == 1 + len(large)
        finally:
            await db.close()

    asyncio.run(scenario())


def test_records_of_one_loop_iteration_are_one_commit_on_the_loop_or_for_many_by_the_writer(tmp_path: Path) -> None:
    """Requests recording at once: one commit (one fsync), made on the event loop's own thread
    for a small group (no other process holds the write lock, commits are fast), by the writer
    thread for a larger one (the loop serves other requests meanwhile)."""
    from service.store.sqlite import LOOP_MAX_GROUP

    async def scenario() -> None:
        db = SqliteFile(tmp_path / "p.sqlite3", "predictions")
        await db.start()
        calls = note_commits(db)
        try:
            small = [make_record(d) for d in range(LOOP_MAX_GROUP)]
            await asyncio.gather(*(db.add([r]) for r in small))
            large = [make_record(d) for d in range(LOOP_MAX_GROUP + 1)]
            await asyncio.gather(*(db.add([r]) for r in large))
            assert calls == [(LOOP, len(small)), (WRITER, len(large))]
            records = small + large
            assert [r.id for r in await db.recent(len(records))] == [r.id for r in reversed(records)]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_briefly_held_write_lock_keeps_the_commit_on_the_loop_and_gathers_what_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's commit holds the lock for a moment: the group waits on the loop (the loop
    runs meanwhile), records added during the wait join it, and one commit on the loop takes all."""
    import fcntl
    import os

    from service.store import sqlite

    monkeypatch.setattr(sqlite, "LOCK_WAIT_S", 5.0)  # "briefly" however slow the machine is

    async def scenario() -> None:
        path = tmp_path / "p.sqlite3"
        db = SqliteFile(path, "predictions")
        await db.start()
        calls = note_commits(db)
        other = os.open(path.with_name(path.name + ".lock"), os.O_RDWR)  # another worker's lock
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            first = asyncio.ensure_future(db.add([make_record(1)]))
            await asyncio.sleep(0.05)
            later = asyncio.ensure_future(db.add([make_record(2)]))
            await asyncio.sleep(0.05)
            assert not first.done() and calls == []  # waiting, and the loop ran meanwhile
            fcntl.flock(other, fcntl.LOCK_UN)
            await asyncio.wait_for(asyncio.gather(first, later), 10)
            assert calls == [(LOOP, 2)]
        finally:
            os.close(other)
            await db.close()

    asyncio.run(scenario())


def test_a_held_write_lock_or_a_slow_disk_sends_commits_to_the_writer_thread(tmp_path: Path) -> None:
    """The loop never waits long for another process's write: once the lock has been held for
    LOCK_WAIT_S, the writer thread waits for it and commits. A slow disk (commits slow on average,
    not one late fsync) sends the next commits to the thread too, for a while."""
    import fcntl
    import os
    import time

    from service.store import sqlite

    async def scenario() -> None:
        path = tmp_path / "p.sqlite3"
        db = SqliteFile(path, "predictions")
        await db.start()
        calls = note_commits(db)
        noted = db._insert
        other = os.open(path.with_name(path.name + ".lock"), os.O_RDWR)  # another worker's lock
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            adding = asyncio.ensure_future(db.add([make_record(1)]))
            await asyncio.sleep(sqlite.LOCK_WAIT_S * 10)
            assert not adding.done()  # waits for the lock, but not on the loop (we ran meanwhile)
            fcntl.flock(other, fcntl.LOCK_UN)
            await asyncio.wait_for(adding, 10)
            assert calls == [(WRITER, 1)]

            def slow(writer: object, rows: list[object]) -> None:
                time.sleep(sqlite.SLOW_COMMIT_S * 3)
                noted(writer, rows)

            db._insert = slow  # type: ignore[method-assign]
            for n in range(2, 12):  # slow commits on the loop, until the average passes the limit
                await db.add([make_record(n)])
                if calls[-1][0] != LOOP:
                    break
            on_loop = {thread for thread, _ in calls[1:-1]}
            assert len(calls) >= 4 and on_loop == {LOOP}  # one late commit is no slow disk
            assert calls[-1][0] == WRITER
            db._insert = noted  # type: ignore[method-assign]
            await db.add([make_record(20)])  # fast again, but the thread keeps them for a while
            assert calls[-1][0] == WRITER
            assert len(await db.recent(20)) == len(calls)
        finally:
            os.close(other)
            await db.close()

    asyncio.run(scenario())


def test_workers_starting_together_migrate_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker migrates the shared file at start-up: two that both read the columns before
    either adds the missing one would fail one of them ('duplicate column name': a CI run's 503s).
    Here two files (two workers: each its own write lock) are made to meet right after reading
    the columns; the whole migration holds the cross-process lock, so the second never gets there
    while the first is inside, waits its turn, and finds the column added."""
    from service.store import sqlite_schema

    path = tmp_path / "predictions.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(FIRST_SCHEMA)
    conn.close()
    meet = threading.Barrier(2)
    real = sqlite_schema.added_columns

    def after_reading(table: str, have: set[str]) -> list[str]:
        # The other may not come: it waits for the lock this one holds.
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=1.0)
        return real(table, have)

    monkeypatch.setattr(sqlite_schema, "added_columns", after_reading)

    async def together() -> None:
        files = [SqliteFile(path, "predictions") for _ in range(2)]
        await asyncio.gather(*(f.start() for f in files))
        try:
            assert [f.opening.error for f in files] == [None, None]
        finally:
            await asyncio.gather(*(f.close() for f in files))

    asyncio.run(together())


def test_workers_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    """Workers start together on a new file, and each connection switches it to WAL: two doing so
    at once deadlocked in SQLite, which failed one at once with 'database is locked', and that
    worker refused records until its next try (a CI run's 503s at start-up). Four connections
    opened together on each of 100 new files (3 runs of 3 failed before)."""
    failures: list[str] = []
    for round_ in range(100):
        path = tmp_path / f"{round_}.sqlite3"
        conns = [Conn(path, "FULL") for _ in range(4)]
        meet = threading.Barrier(len(conns))

        def open_(conn: Conn, meet: threading.Barrier) -> None:
            meet.wait(timeout=10.0)
            try:
                conn.get()
            except sqlite3.Error as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=open_, args=(c, meet)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in conns:
            c.drop()
    assert failures == []


def test_a_store_whose_file_cannot_be_opened_starts_refuses_and_opens_once_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under the store is unusable when the worker starts (here: its folder's place is
    taken by a file, so it cannot be made). The store starts anyway, is not ready and says why,
    refuses records with StoreUnavailable, and takes them once the folder can be made: a worker
    that raised here would stop the whole multi-worker service."""
    from service.errors import StoreUnavailable
    from service.store import sqlite_open

    monkeypatch.setattr(sqlite_open, "REOPEN_S", 0.0)
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")

    async def scenario() -> None:
        store = EmbeddedStore(blocker / "predictions.sqlite3")
        await store.start()
        try:
            health = await store.health()
            assert health.status == "failing"
            assert any("cannot open predictions.sqlite3" in r for r in health.reasons), health.reasons
            with pytest.raises(StoreUnavailable, match=r"cannot open predictions\.sqlite3"):
                await store.add([make_record(1)])
            blocker.unlink()
            await store.add([make_record(2)])
            health = await store.health()
            assert health.status == "ok", health.reasons
            assert [r.digit for r in await store.recent(10)] == [2]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_file_that_failed_to_open_is_tried_again_at_most_every_reopen_s(tmp_path: Path) -> None:
    """Requests arriving while the disk is still unusable are refused without touching it again."""
    from service.store.sqlite_open import REOPEN_S

    blocker = tmp_path / "data"
    blocker.write_text("not a folder")

    async def scenario() -> None:
        db = SqliteFile(blocker / "p.sqlite3", "predictions")
        tries = []
        real = db.opening._migrate

        def counted() -> None:
            tries.append(1)
            real()

        db.opening._migrate = counted
        await db.start()
        try:
            assert [await db.opening.ensure() for _ in range(5)] == [False] * 5
            assert len(tries) == 1 and REOPEN_S >= 0.5
        finally:
            await db.close()

    asyncio.run(scenario())
