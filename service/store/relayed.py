"""Cassandra behind a durable outbox: the PredictionStore the service uses when Cassandra is
configured. Every record is committed to the outbox (fsynced) before the client is answered;
the relay moves it on; reads merge Cassandra with what is still on its way there.

Cassandra need not be there at start-up: the service then serves and records into the outbox,
connects in the background (backing off to every 10 s), and the relay drains what waited once it
is connected. `strict` start-up refuses to start instead."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import uuid
from collections.abc import Callable

from service.errors import StoreUnavailable
from service.metrics import Metrics
from service.store.cassandra_schema import CassandraStartupError, CassandraUnreachable
from service.store.cassandra_sink import CassandraSink
from service.store.outbox import Outbox
from service.store.record import PredictionRecord, StoreHealth
from service.store.relay import Relay
from service.store.sqlite_conn import DB_ERRORS

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0
# The most one connect attempt may take, per connect timeout: the driver waits on its pools'
# futures without a timeout of its own, so a connect that a dying node leaves half-made must not
# hold the service off Cassandra for good. A legitimate attempt is a control connection per contact
# point (each up to the connect timeout) plus, the first time, the schema's DDL and agreement
# waits; one that outlives this is left and a fresh one started.
ATTEMPT_TIMEOUTS = 6
MIN_ATTEMPT_S = 60.0


class RelayedStore:
    backend = "cassandra"
    writes_to = "outbox"  # the relay labels Cassandra's own failures

    def __init__(
        self,
        outbox: Outbox,
        connect: Callable[[], CassandraSink],
        metrics: Metrics,
        where: dict[str, object],
        strict: bool = False,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self._connect = connect
        self.metrics = metrics
        self.where = where  # keyspace and contact points, for /readyz
        self.strict = strict
        self.attempt_s = max(MIN_ATTEMPT_S, ATTEMPT_TIMEOUTS * connect_timeout_s)
        self._sink: CassandraSink | None = None
        self._relay: Relay | None = None
        self._connecting: asyncio.Task[None] | None = None
        self.connect_error: str | None = "connecting"

    async def start(self) -> None:
        await self.outbox.start()
        if self.strict:
            self._attach(await self._attempt())
        else:
            self._connecting = asyncio.create_task(self._connect_until_connected(), name="cassandra-connect")

    async def _connect_until_connected(self) -> None:
        delay = FIRST_RETRY_S
        while True:
            try:
                sink = await self._attempt()
            except CassandraStartupError as exc:  # down, or not reachable yet: the outbox holds on
                if str(exc) != self.connect_error:
                    log.warning("not connected to Cassandra yet (records wait in the outbox): %s", exc)
                self.connect_error = str(exc)
            except Exception as exc:  # a bug or a driver surprise must not end the connecting for good
                log.exception("connecting to Cassandra failed unexpectedly; trying again")
                self.connect_error = f"{type(exc).__name__}: {exc}"
            else:
                if self.connect_error != "connecting":
                    log.info("connected to Cassandra: draining the outbox")
                self._attach(sink)
                return
            self.metrics.cassandra_up.set(0)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_S)

    async def _attempt(self) -> CassandraSink:
        """One connect in a thread of its own, bounded by `attempt_s`. An attempt that outlives it
        is left to its thread (a daemon: it cannot hold the process up) and its sink, should it
        ever come, is closed; the caller starts afresh."""
        done: concurrent.futures.Future[CassandraSink] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(self._connect())
            except BaseException as exc:  # handed to the waiting side, which sorts it
                done.set_exception(exc)

        threading.Thread(target=run, name="cassandra-connect", daemon=True).start()
        waiting = asyncio.wrap_future(done)
        try:  # shielded: a timeout must not cancel the attempt's future under its thread
            return await asyncio.wait_for(asyncio.shield(waiting), self.attempt_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            done.add_done_callback(_close_late)
            waiting.add_done_callback(_retrieved)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise CassandraUnreachable(f"a connect attempt took over {self.attempt_s:g} s; trying afresh") from None

    def _attach(self, sink: CassandraSink) -> None:
        self._sink, self.connect_error = sink, None
        log.info("Cassandra durability: %s", sink.durability.summary)
        self._relay = Relay(self.outbox, sink, self.metrics)
        self.metrics.cassandra_up.set(1)
        self._relay.start()

    @property
    def sink(self) -> CassandraSink:
        if self._sink is None:
            raise StoreUnavailable(f"Cassandra is not connected yet: {self.connect_error}")
        return self._sink

    async def add(self, records: list[PredictionRecord]) -> None:
        await self.outbox.add(records)  # durable from here on
        if self._relay is not None:
            self._relay.wake()

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
        await self.outbox.opening.ensure()  # an outbox that could not be opened is tried again here too
        relay = self._relay
        reasons = self.outbox.problems() + (relay.problems() if relay else [])
        if relay is None:
            reasons.append(f"cassandra: not connected yet: {self.connect_error}")
        details: dict[str, object] = {
            "cassandra_reachable": relay is not None and relay.sink_error is None,
            "last_error": relay.error if relay else self.connect_error,
            "last_ok_unix": relay.last_ok if relay else None,
            "written": relay.written if relay else 0,
            "durability": self._sink.durability.summary if self._sink else None,
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
        return StoreHealth(ok=self.outbox.takes_records, backend=self.backend, reasons=reasons, details=details)

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._relay is not None:
            await self._relay.stop()
        await self.outbox.close()
        if self._sink is not None:
            await self._sink.close()


def _close_late(done: concurrent.futures.Future[CassandraSink]) -> None:
    """A sink that an abandoned attempt made after all: shut its cluster down (in that thread)."""
    if done.exception() is None:
        done.result().cluster.shutdown()


def _retrieved(waiting: asyncio.Future[CassandraSink]) -> None:
    """Nobody awaits an abandoned attempt: take its outcome, so asyncio does not report it unseen."""
    if not waiting.cancelled():
        waiting.exception()
