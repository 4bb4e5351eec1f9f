"""Choose and open the store the settings ask for."""

from __future__ import annotations

from service.metrics import Metrics
from service.records import PredictionStore
from service.settings import Settings
from service.sqlite_store import SqliteStore

DB_FILE = "predictions.sqlite3"


async def open_store(settings: Settings, metrics: Metrics) -> PredictionStore:
    """The embedded SQLite store, or Cassandra behind a SQLite outbox when contact points are set."""
    path = settings.data_dir / DB_FILE
    if not settings.cassandra_enabled:
        store: PredictionStore = SqliteStore(path, table="predictions")
    else:
        from service.cassandra_store import CassandraStore

        store = CassandraStore(settings, SqliteStore(path, table="outbox"), metrics)
    await store.start()
    return store
