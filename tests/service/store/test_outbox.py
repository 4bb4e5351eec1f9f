"""The embedded store used as Cassandra's outbox: its bookkeeping, and that it stays cheap while
thousands of acknowledged records are held."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from service.store.outbox import Outbox
from tests.utils import make_record


def test_outbox_claims_leases_acks_requeues_and_purges(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Outbox(tmp_path / "o.sqlite3")
        await store.start()
        try:
            recs = [make_record(i) for i in range(5)]
            await store.add(recs)
            assert await store.pending() == 5
            first = await store.claim(3, lease_s=30)
            assert [r.id for r in first] == [r.id for r in recs[:3]]  # oldest first
            second = await store.claim(10, lease_s=30)
            assert [r.id for r in second] == [r.id for r in recs[3:]]  # leased ones are skipped
            assert await store.claim(10, lease_s=30) == []
            await store.release([recs[4].id])
            assert [r.id for r in await store.claim(10, lease_s=30)] == [recs[4].id]
            await store.mark_acked([r.id for r in recs])
            assert await store.pending() == 0
            await store.purge_acked(older_than_s=60)  # held: not old enough to delete
            assert await store.requeue_acked() == 5
            assert await store.pending() == 5
            await store.mark_acked([r.id for r in recs])
            time.sleep(0.01)
            await store.purge_acked(older_than_s=0)
            assert await store.requeue_acked() == 0
            assert await store.pending() == 0
            assert await store.get(recs[0].id) is None
        finally:
            await store.close()

    asyncio.run(scenario())


def test_outbox_bookkeeping_does_not_scan_held_records(tmp_path: Path) -> None:
    """Claims, depth counts and purges run several times per drain cycle while ~15 s of
    acknowledged records are held: they must use the partial indexes, not scan the table."""
    path = tmp_path / "o.sqlite3"

    async def fill() -> None:
        store = Outbox(path)
        await store.start()
        try:
            recs = [make_record(i) for i in range(2000)]
            await store.add(recs)
            await store.mark_acked([r.id for r in recs])
            await store.add([make_record(i) for i in range(3)])
        finally:
            await store.close()

    asyncio.run(fill())
    store = Outbox(path)
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")  # the planner's choice with real statistics, as after a long run
    try:
        for name, params in (
            ("claim", (0.0, 0.0, 10)),
            ("pending", ()),
            ("purge_acked", (0.0,)),
        ):
            plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + store.sql[name], params))
            assert "USING" in plan and "INDEX outbox_" in plan, f"{name}: {plan}"
            assert "SCAN outbox" not in plan.replace("SCAN outbox USING INDEX outbox_pending", ""), f"{name}: {plan}"
    finally:
        conn.close()
