"""Where predictions are recorded: the embedded SQLite store, or Cassandra behind a durable
outbox and its relay. `open_store` chooses from the settings."""

from __future__ import annotations

from service.metrics import Metrics
from service.settings import Settings
from service.store.embedded import EmbeddedStore
from service.store.record import PredictionStore

DB_FILE = "predictions.sqlite3"


async def open_store(settings: Settings, metrics: Metrics) -> PredictionStore:
    """The embedded SQLite store, or Cassandra behind a SQLite outbox when contact points are set."""
    path = settings.data_dir / DB_FILE
    if not settings.cassandra_enabled:
        store: PredictionStore = EmbeddedStore(path)
    else:
        from service.store.cassandra_schema import connect
        from service.store.cassandra_sink import CassandraSink
        from service.store.durability import Durability, configured, probe
        from service.store.outbox import Outbox
        from service.store.relayed import RelayedStore

        def sink() -> CassandraSink:
            cluster, session = connect(settings, migrate_schema=settings.cassandra_migrate)
            hold_s = settings.cassandra_ack_hold_s

            def durability() -> Durability:  # asked at connect, and again as nodes come and go
                if hold_s is not None:
                    return configured(hold_s)
                return probe(session, [h for h in cluster.metadata.all_hosts() if h.is_up])

            keyspace, in_flight = settings.cassandra_keyspace, settings.cassandra_max_in_flight
            return CassandraSink(cluster, session, keyspace, in_flight, durability)

        where: dict[str, object] = {
            "keyspace": settings.cassandra_keyspace,
            "contact_points": list(settings.cassandra_contact_points),
        }
        store = RelayedStore(
            Outbox(path), sink, metrics, where, settings.cassandra_strict_startup, settings.cassandra_connect_timeout_s
        )
    await store.start()
    return store
