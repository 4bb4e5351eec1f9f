"""The embedded store's file: migrated in place (never dropped), records read back whole."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest

from service.store.embedded import EmbeddedStore
from tests.utils import make_reading, make_record

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


def test_a_stale_connection_is_retried_once_on_a_fresh_one(tmp_path: Path) -> None:
    """A worker that wrote nothing while its disk was remounted still holds the old file: its
    first write after the repair fails once, is retried on a fresh connection, and succeeds
    (before, that request got a 503). A fresh connection that fails is a real fault: no retry."""
    from service.errors import StoreUnavailable
    from service.store.sqlite import SqliteFile

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
