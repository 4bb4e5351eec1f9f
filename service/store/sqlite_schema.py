"""The SQL of the files the service writes records to: one table per file, statements filled in
once per file, the column codec, and the idempotent migration's pieces."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
import uuid

from service.store.record import ADDED_FIELDS, FIELDS, Codec, PredictionRecord, from_values

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
ROWS_PER_INSERT = 64  # a group this small is one INSERT of many rows


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def insert_rows(insert: str, n: int) -> str:
    """The insert statement for n rows at once (SQLite takes up to 32,766 parameters)."""
    head, values = insert.rsplit(" VALUES ", 1)
    return head + " VALUES " + ",".join([values] * n)


def record_of(row: sqlite3.Row) -> PredictionRecord:
    columns = set(row.keys())  # a Row's `in` looks at values, not column names
    return from_values(lambda name: row[name] if name in columns else None, CODEC)


def added_columns(table: str, have: set[str]) -> list[str]:
    """The statements adding the columns of later fields that `table` does not have yet."""
    # Identifiers and the default come from this package (ADDED_FIELDS), not input.
    return [ADD_COLUMN.format(t=table, name=n, default=d) for n, d in ADDED_FIELDS.items() if n not in have]


def migrate(conn: sqlite3.Connection, table: str, ddl: tuple[str, ...], columns: str) -> None:
    """Create the table and its indexes if missing, add the columns of later fields: idempotent,
    never drops. Run inside one hold of the write lock: every worker migrates at start-up, and two
    that read the columns before either added one would both add it ('duplicate column name')."""
    for statement in ddl:
        conn.execute(statement)
    for statement in added_columns(table, {row[0] for row in conn.execute(columns)}):
        conn.execute(statement)
