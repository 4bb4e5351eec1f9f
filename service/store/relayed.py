"""Cassandra behind a durable outbox: the PredictionStore the service uses when Cassandra is
configured. Every record is committed to the outbox (fsynced) before the client is answered;
the relay moves it on; reads merge Cassandra with what is still on its way there."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from service.errors import StoreUnavailable
from service.metrics import Metrics
from service.store.cassandra_sink import CassandraSink
from service.store.outbox import Outbox
from service.store.record import PredictionRecord, StoreHealth
from service.store.relay import Relay
from service.store.sqlite import DB_ERRORS


class RelayedStore:
    backend = "cassandra"

    def __init__(
        self,
        outbox: Outbox,
        connect: Callable[[], CassandraSink],
        metrics: Metrics,
        hold_s: float,
        where: dict[str, object],
    ) -> None:
        self.outbox = outbox
        self._connect = connect
        self.metrics = metrics
        self.hold_s = hold_s
        self.where = where  # keyspace and contact points, for /readyz
        self._sink: CassandraSink | None = None
        self._relay: Relay | None = None

    async def start(self) -> None:
        await self.outbox.start()
        self._sink = await asyncio.to_thread(self._connect)
        self._relay = Relay(self.outbox, self._sink, self.metrics, self.hold_s)
        self.metrics.cassandra_up.set(1)
        self._relay.start()

    @property
    def sink(self) -> CassandraSink:
        if self._sink is None:
            raise StoreUnavailable("the store is not started")
        return self._sink

    @property
    def relay(self) -> Relay:
        if self._relay is None:
            raise StoreUnavailable("the store is not started")
        return self._relay

    async def add(self, records: list[PredictionRecord]) -> None:
        await self.outbox.add(records)  # durable from here on
        self.relay.wake()

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        try:
            pending = await self.outbox.get(record_id)
        except DB_ERRORS as exc:
            raise StoreUnavailable(f"the outbox cannot be read: {exc}") from None
        return pending if pending is not None else await self.sink.get(record_id)

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        try:
            pending = [r for r in await self.outbox.recent(limit) if before is None or r.id.time < before.time]
        except DB_ERRORS as exc:
            raise StoreUnavailable(f"the outbox cannot be read: {exc}") from None
        merged = {r.id: r for r in await self.sink.recent(limit, before)}
        merged.update({r.id: r for r in pending})
        return sorted(merged.values(), key=lambda r: r.id.time, reverse=True)[:limit]

    async def health(self) -> StoreHealth:
        relay = self.relay
        reasons = self.outbox.problems() + relay.problems()
        details: dict[str, object] = {
            "cassandra_reachable": relay.sink_error is None,
            "last_error": relay.error,
            "last_ok_unix": relay.last_ok,
            "written": relay.written,
            **self.where,
        }
        try:
            depth = await self.outbox.pending()
            details["outbox_depth"] = depth
            self.metrics.outbox_depth.set(depth)
        except DB_ERRORS as exc:
            details["outbox_depth"] = None
            reasons.append(f"the outbox cannot be read: {exc}")
        # The outbox keeps every answer safe, so the service stays ready while Cassandra is down.
        return StoreHealth(ok=self.outbox.writer_alive, backend=self.backend, reasons=reasons, details=details)

    async def close(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        await self.outbox.close()
        if self._sink is not None:
            await self._sink.close()
