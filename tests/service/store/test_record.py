from __future__ import annotations

import datetime as dt
import os

from service.store import record as records
from service.store.record import new_record_id, time_of


def test_record_ids_are_unique_time_ordered_timeuuids() -> None:
    before = dt.datetime.now(dt.UTC)
    ids = [new_record_id() for _ in range(50_000)]
    after = dt.datetime.now(dt.UTC)
    assert len(set(ids)) == len(ids)
    assert all(i.version == 1 for i in ids)
    assert [i.time for i in ids] == sorted(i.time for i in ids)  # Cassandra's timeuuid order
    slack = dt.timedelta(milliseconds=1)
    assert before - slack <= time_of(ids[0]) and time_of(ids[-1]) <= after + slack
    assert ids[0].node & (1 << 40)  # a random node, marked as not a MAC address


def test_a_forked_worker_draws_its_own_node() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its node and leave at once
        os.write(write, str(new_record_id().node).encode())
        os._exit(0)
    os.close(write)
    child_node = int(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
    assert child_node != records._NODE == new_record_id().node
