"""The Cassandra-backed store's background connect, against an in-memory sink: an attempt that
hangs (the driver's connect can, when a node dies during it) is abandoned and a fresh one made,
and the records that waited in the outbox are then relayed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from service.metrics import Metrics
from service.store import relay as relay_module
from service.store import relayed as relayed_module
from service.store.outbox import Outbox
from service.store.relayed import RelayedStore
from tests.fakes import MemorySink
from tests.utils import make_record


class ClosableSink(MemorySink):
    """What RelayedStore needs of a CassandraSink beyond the relay's part."""

    def __init__(self) -> None:
        super().__init__()
        self.durability = SimpleNamespace(summary="memory")
        self.shut_down = threading.Event()
        self.cluster = SimpleNamespace(shutdown=self.shut_down.set)

    async def close(self) -> None:
        self.shut_down.set()


def test_a_hung_connect_attempt_is_abandoned_and_a_fresh_one_connects(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(relayed_module, "MIN_ATTEMPT_S", 0.3)
    monkeypatch.setattr(relayed_module, "FIRST_RETRY_S", 0.01)
    monkeypatch.setattr(relay_module, "LINGER_S", 0.01)
    release = threading.Event()
    sinks: list[ClosableSink] = []

    def connect() -> ClosableSink:
        sink = ClosableSink()
        sinks.append(sink)
        if len(sinks) == 1:
            release.wait(30)  # the first attempt hangs, as the driver's did
        return sink

    async def main() -> None:
        store = RelayedStore(Outbox(tmp_path / "outbox.sqlite3"), connect, Metrics(), {}, connect_timeout_s=0.01)
        await store.start()
        try:
            record = make_record(7)
            await store.add([record])  # answered while not connected: it waits in the outbox
            health = await store.health()
            assert health.details["written"] == 0 and health.details["outbox_depth"] == 1
            for _ in range(500):
                if len(sinks) == 2 and record.id in sinks[1].rows:
                    break
                await asyncio.sleep(0.01)
            assert len(sinks) == 2, "no fresh attempt after the hung one"
            assert record.id in sinks[1].rows
            health = await store.health()
            assert health.details["cassandra_reachable"] is True and health.details["written"] == 1
            release.set()  # the hung attempt returns after all: its sink is shut, never used
            assert await asyncio.to_thread(sinks[0].shut_down.wait, 5)
            assert not sinks[1].shut_down.is_set()
        finally:
            release.set()
            await store.close()

    asyncio.run(main())


def test_strict_start_up_fails_when_the_attempt_hangs(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(relayed_module, "MIN_ATTEMPT_S", 0.2)
    release = threading.Event()

    def connect() -> ClosableSink:
        release.wait(30)
        return ClosableSink()

    async def main() -> None:
        outbox = Outbox(tmp_path / "o.sqlite3")
        store = RelayedStore(outbox, connect, Metrics(), {}, strict=True, connect_timeout_s=0.01)
        try:
            await store.start()
        except relayed_module.CassandraUnreachable as exc:
            assert "took over 0.2 s" in str(exc)
        else:
            raise AssertionError("strict start-up waited for a hung connect")
        finally:
            release.set()
            await store.outbox.close()

    asyncio.run(main())


def test_an_attempt_failing_in_an_unforeseen_way_is_retried(tmp_path: Path, monkeypatch: Any) -> None:
    """A node killed during the first connect once made the driver raise ConnectionShutdown raw,
    which ended the connecting task for good: the outbox filled and never drained (seen in CI)."""
    monkeypatch.setattr(relayed_module, "FIRST_RETRY_S", 0.01)
    sinks: list[ClosableSink] = []

    def connect() -> ClosableSink:
        sinks.append(ClosableSink())
        if len(sinks) == 1:
            raise RuntimeError("something no handler expects")
        return sinks[-1]

    async def main() -> None:
        store = RelayedStore(Outbox(tmp_path / "outbox.sqlite3"), connect, Metrics(), {})
        await store.start()
        try:
            for _ in range(500):
                if (await store.health()).details["cassandra_reachable"]:
                    break
                await asyncio.sleep(0.01)
            assert len(sinks) == 2 and (await store.health()).details["cassandra_reachable"] is True
        finally:
            await store.close()

    asyncio.run(main())
