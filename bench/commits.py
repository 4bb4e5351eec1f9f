"""What one durable commit costs, by how many records it carries and where it is made (on the
event loop, or through the writer thread): the embedded store's own SqliteFile (WAL, fsync at
every commit), in-process, on the disk of the run's work directory.

Records of one group are added together (one loop iteration: one commit); CPU is this process's
user + system time, so the fsync's kernel work and the thread hand-off's wake-ups count. This is
the figure behind the recording cost: at concurrency 8 on 2 workers a commit carries 2-3 records,
and a commit's CPU hardly grows with its records, so larger groups are the lever.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path

from bench.report import Report
from bench.spec import RunSpec
from service.store.sqlite import LOOP_MAX_GROUP, SqliteFile
from tests.utils import make_record

log = logging.getLogger("bench")
GROUPS = (1, 2, 4, 8, 16)
PATHS = ("loop", "thread")


async def _measure(path: Path, group: int, records: int, where: str = "loop") -> tuple[float, float, float]:
    """CPU us per record, CPU us per commit, wall us per commit."""
    db = SqliteFile(path, "predictions")
    await db.start()
    try:
        batch = [make_record(i) for i in range(records)]
        await db.add(batch[:group])  # the file, its pages and the connection warm
        # Where the commits go, whatever the warm-up took (creating the file is slow).
        db._commit_s, db._thread_until = 0.0, (float("inf") if where == "thread" else 0.0)
        # The process's CPU clock (every thread, user + system) to the nanosecond: os.times()
        # counts 10 ms ticks, too coarse for a smoke run's few commits.
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for k in range(0, records, group):
            await asyncio.gather(*(db.add([r]) for r in batch[k : k + group]))
        cpu1, wall1 = time.process_time(), time.perf_counter()
    finally:
        await db.close()
    cpu_us = (cpu1 - cpu0) * 1e6
    commits = -(-records // group)
    return cpu_us / records, cpu_us / commits, (wall1 - wall0) * 1e6 / commits


def commit_cost(report: Report, spec: RunSpec, work: Path) -> None:
    records = 160 if spec.smoke else 1600
    rounds = spec.rounds if spec.smoke else max(3, spec.rounds)
    # The loop takes groups up to LOOP_MAX_GROUP; the writer thread any.
    points = [(where, group) for where in PATHS for group in GROUPS if where == "thread" or group <= LOOP_MAX_GROUP]
    runs: dict[tuple[str, int], list[tuple[float, float, float]]] = {p: [] for p in points}
    for round_ in range(rounds):
        for where, group in points if round_ % 2 == 0 else points[::-1]:
            path = work / f"commits-{round_}-{where}-{group}.sqlite3"
            runs[where, group].append(asyncio.run(_measure(path, group, records, where)))
    figures = {
        f"{group} per commit, {where}": {
            name: round(statistics.median(r[i] for r in runs[where, group]))
            for i, name in enumerate(("cpu_us_per_record", "cpu_us_per_commit", "wall_us_per_commit"))
        }
        for where, group in points
    }
    report.facts["commit_cost"] = {
        "method": f"in-process SqliteFile (as the embedded store and the outbox use it), {records} records "
        f"per group size, committed on the event loop or through the writer thread, {rounds} rounds "
        "alternating the order; medians",
        **figures,
    }
    log.info("commits: %s", figures)
