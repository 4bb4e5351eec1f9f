"""Reading and writing prediction rows in Cassandra (prepared, asynchronous, idempotent)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Cluster, Session
from cassandra.policies import HostStateListener
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from service.core.futures import in_slices, settle
from service.errors import StoreUnavailable
from service.store.cassandra_schema import DRIVER_ERRORS, one_line
from service.store.durability import Durability
from service.store.record import FIELDS, Codec, PredictionRecord, from_values, time_of, to_values

log = logging.getLogger(__name__)
CODEC: Codec = {"probabilities": (list, tuple)}
# Tables named with their keyspace ({ks}, a validated identifier): Cassandra 5 warns about
# prepared statements that rely on the session's keyspace (`USE`), once per statement per worker.
INSERT = f"INSERT INTO {{ks}}.predictions (day, {', '.join(FIELDS)}) VALUES (?, {', '.join('?' * len(FIELDS))})"
INSERT_DAY = "INSERT INTO {ks}.prediction_days (bucket, day) VALUES (0, ?)"
SELECT_ONE = "SELECT * FROM {ks}.predictions WHERE day = ? AND id = ?"
SELECT_DAY = "SELECT * FROM {ks}.predictions WHERE day = ? LIMIT ?"
SELECT_DAY_BEFORE = "SELECT * FROM {ks}.predictions WHERE day = ? AND id < ? LIMIT ?"
SELECT_DAYS = "SELECT day FROM {ks}.prediction_days WHERE bucket = 0 AND day <= ? LIMIT 400"
# Rows per unlogged batch, all of one partition (one day): since Cassandra 3.6 (CASSANDRA-10876) the
# batch size thresholds (5 KiB warn, 50 KiB fail) apply only to batches over several partitions;
# Cassandra 5.0 logged nothing for 256 rows here. Measured, the driver's CPU per row written
# (batches of 130): 148 us with 12 rows per batch, 100 with 64, 88 with 256.
ROWS_PER_BATCH = 128


class ReadUnavailable(StoreUnavailable):
    """Cassandra did not answer a read."""


async def _await(future: Any) -> Any:
    """Bridge a driver ResponseFuture to asyncio."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Any] = loop.create_future()

    def ok(rows: Any) -> None:
        loop.call_soon_threadsafe(settle, result, rows, None)

    def err(exc: BaseException) -> None:
        loop.call_soon_threadsafe(settle, result, None, exc)

    future.add_callbacks(ok, err)
    return await result


def _record(row: Any) -> PredictionRecord:
    return from_values(lambda name: getattr(row, name, None), CODEC)


class NodeWatch(HostStateListener):  # type: ignore[misc]
    """Driver thread -> relay: a node went down, came back (it may lack its last writes), joined
    or left (what an acknowledgement means may have changed)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.changed = False  # set from the driver's threads; a plain flag is enough
        self.seen = self.up()

    def up(self) -> frozenset[str]:
        return frozenset(str(h.address) for h in self.cluster.metadata.all_hosts() if h.is_up)

    def take(self) -> bool:
        """True once after a change. The nodes that are up are compared too, not only the events:
        in one CI run a third node of a new cluster was never in the durability summary (its
        event likely came while it was still marked down, and the probe asks nodes that are up)."""
        up = self.up()
        changed, self.changed, self.seen = self.changed or up != self.seen, False, up
        return changed

    def on_down(self, host: Any) -> None:
        self.changed = True

    def on_up(self, host: Any) -> None:
        self.changed = True

    def on_add(self, host: Any) -> None:
        self.changed = True

    def on_remove(self, host: Any) -> None:
        self.changed = True


@dataclass
class _Statements:
    insert: PreparedStatement
    insert_day: PreparedStatement
    select_one: PreparedStatement
    select_day: PreparedStatement
    select_day_before: PreparedStatement
    select_days: PreparedStatement


class CassandraSink:
    """Where the relay writes to, and where reads of recorded predictions go."""

    name = "cassandra"

    def __init__(
        self,
        cluster: Cluster,
        session: Session,
        keyspace: str,
        max_in_flight: int,
        durability: Callable[[], Durability],
    ) -> None:
        self.cluster, self.session = cluster, session
        self._assess = durability
        # Before the first probe: a node that comes up meanwhile counts as a change.
        self._watch = NodeWatch(cluster)
        self.durability = durability()  # what its acknowledgements mean; asked again as nodes change
        queries = (INSERT, INSERT_DAY, SELECT_ONE, SELECT_DAY, SELECT_DAY_BEFORE, SELECT_DAYS)
        self._ps = _Statements(*[session.prepare(q.format(ks=keyspace)) for q in queries])
        self._ps.insert.is_idempotent = True
        self._ps.insert_day.is_idempotent = True
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._known_days: set[dt.date] = set()
        cluster.register_listener(self._watch)

    @property
    def hold_s(self) -> float:
        return self.durability.hold_s

    async def reassess(self) -> None:
        found = await asyncio.to_thread(self._assess)
        if found != self.durability:
            log.info("Cassandra durability now: %s", found.summary)
        self.durability = found

    def take_node_change(self) -> bool:
        """True once after a node went down, came up, joined or left: recently acknowledged
        writes may be lost, and the nodes are asked again what an acknowledgement means."""
        return self._watch.take()

    async def write(self, records: list[PredictionRecord]) -> list[BaseException | None]:
        """Write the records; one result per record (None: acknowledged)."""
        # Rows of one day share a partition: send them as small unlogged batches, one request
        # (and one replica set) per chunk instead of one per row.
        chunks: list[list[PredictionRecord]] = []
        for day in sorted({r.day for r in records}):
            rows = [r for r in records if r.day == day]
            chunks += [rows[k : k + ROWS_PER_BATCH] for k in range(0, len(rows), ROWS_PER_BATCH)]
        results = await asyncio.gather(*(self._write_chunk(c) for c in chunks), return_exceptions=True)
        by_id = {
            r.id: (res if isinstance(res, BaseException) else None)
            for c, res in zip(chunks, results, strict=True)
            for r in c
        }
        return [by_id[r.id] for r in records]

    async def _write_chunk(self, rows: list[PredictionRecord]) -> None:
        """One partition's rows in one unlogged batch (idempotent: same keys, same values)."""
        day = rows[0].day
        async with self._in_flight:
            if day not in self._known_days:
                await _await(self.session.execute_async(self._ps.insert_day, (day,)))
                self._known_days.add(day)
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            await in_slices(lambda r: batch.add(self._ps.insert, (day, *to_values(r, CODEC))), rows)
            batch.is_idempotent = True
            await _await(self.session.execute_async(batch))

    async def get(self, record_id: uuid.UUID) -> PredictionRecord | None:
        if record_id.version != 1:
            return None
        try:
            rows = await _await(self.session.execute_async(self._ps.select_one, (time_of(record_id).date(), record_id)))
        except DRIVER_ERRORS as exc:
            raise ReadUnavailable(one_line(exc)) from None
        # The callback gets the first page as a list; these reads ask for one page at most.
        return _record(rows[0]) if rows else None

    async def recent(self, limit: int, before: uuid.UUID | None = None) -> list[PredictionRecord]:
        out: list[PredictionRecord] = []
        start_day = time_of(before).date() if before else dt.datetime.now(dt.UTC).date()
        try:
            days = await _await(self.session.execute_async(self._ps.select_days, (start_day,)))
            for row in days:
                need = limit - len(out)
                if need <= 0:
                    break
                if before is not None and row.day == start_day:
                    query = self.session.execute_async(self._ps.select_day_before, (row.day, before, need))
                else:
                    query = self.session.execute_async(self._ps.select_day, (row.day, need))
                out.extend(_record(r) for r in await _await(query))
        except DRIVER_ERRORS as exc:
            raise ReadUnavailable(one_line(exc)) from None
        return out

    async def close(self) -> None:
        await asyncio.to_thread(self.cluster.shutdown)
