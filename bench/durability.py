"""What the durability contract costs: Cassandra's commit-log sync modes side by side.

Two nodes on this machine, one per mode: `periodic` (Cassandra's default: acknowledged before the
fsync, which comes every 10 s) and `group` (the project's: acknowledged after the fsync, writes
within 15 ms sharing one). Each is written to through the relay's own write path (CassandraSink:
unlogged per-partition batches, a round of 256 records, one round in flight per service worker),
after the same unmeasured warm-up; then measured rounds alternate between the two nodes. Reported:
rows/s, the node's CPU per row, and how long one relay round takes (p50/p99).

Clients do not wait for any of this: the service answers once the record is in its outbox, and
the relay moves it on. The cost shows as relay capacity (rows/s it can move), lag, and the node's
CPU, which on a small host the service shares: so the service itself is measured against each
node too (28x28 PNG, raw body, concurrency 8 and 64, alternating), then both outboxes drained."""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench.inputs import Upload
from bench.load import Target, measure
from bench.report import Report
from bench.spec import RunSpec
from service.settings import Settings
from service.store.cassandra_schema import connect
from service.store.cassandra_sink import CassandraSink
from service.store.durability import configured
from service.store.relay import DRAIN_BATCH
from tests.cassandra_node import Node, wait_drained
from tests.utils import free_port, make_record, running

log = logging.getLogger("bench")
MODES = ("periodic", "group")
ROUNDS = 2  # measured rounds per mode, alternating which mode goes first


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _sink(node: Node) -> CassandraSink:
    settings = Settings(
        cassandra_contact_points=(node.host,),
        cassandra_port=node.port,
        cassandra_username="cassandra",
        cassandra_password="cassandra",
        cassandra_keyspace=f"bench_sync_{int(time.time())}",
        cassandra_consistency="LOCAL_QUORUM",
    )
    cluster, session = connect(settings, migrate_schema=True)
    keyspace, in_flight = settings.cassandra_keyspace, settings.cassandra_max_in_flight
    return CassandraSink(cluster, session, keyspace, in_flight, lambda: configured(0.0))


async def _load(sink: CassandraSink, writers: int, seconds: float) -> tuple[int, list[float]]:
    """`writers` relays, each writing round after round for `seconds`; (rows, round latencies)."""
    deadline = time.monotonic() + seconds
    rounds: list[float] = []

    async def relay() -> int:
        rows = 0
        while time.monotonic() < deadline:
            batch = [make_record(n) for n in range(DRAIN_BATCH)]
            started = time.monotonic()
            results = await sink.write(batch)
            rounds.append(time.monotonic() - started)
            failed = [r for r in results if r is not None]
            if failed:
                raise RuntimeError(f"{len(failed)} writes failed: {failed[0]}")
            rows += len(batch)
        return rows

    counts = await asyncio.gather(*(relay() for _ in range(writers)))
    return sum(counts), rounds


async def _measure(node: Node, sink: CassandraSink, writers: int, seconds: float) -> dict[str, float]:
    cpu0, t0 = _cpu_s(node.pid()), time.monotonic()
    rows, rounds = await _load(sink, writers, seconds)
    wall, cpu = time.monotonic() - t0, _cpu_s(node.pid()) - cpu0
    rounds.sort()
    return {
        "rows_per_s": rows / wall,
        "node_cpu_us_per_row": cpu / rows * 1e6,
        "round_p50_ms": statistics.median(rounds) * 1000,
        "round_p99_ms": rounds[min(len(rounds) - 1, int(len(rounds) * 0.99))] * 1000,
    }


async def _rounds(nodes: dict[str, Node], spec: RunSpec) -> dict[str, list[dict[str, float]]]:
    sinks = {mode: _sink(node) for mode, node in nodes.items()}
    try:
        for mode in MODES:  # a fresh JVM compiles its hot paths under load first
            log.info("sync cost: warming the %s node for %.0f s", mode, spec.cassandra_warmup_s / 2)
            await _load(sinks[mode], spec.workers, spec.cassandra_warmup_s / 2)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for k in range(ROUNDS):
            for mode in MODES if k % 2 == 0 else MODES[::-1]:
                runs[mode].append(await _measure(nodes[mode], sinks[mode], spec.workers, spec.seconds))
                log.info("sync cost: %s round %d: %s", mode, k + 1, runs[mode][-1])
        return runs
    finally:
        for sink in sinks.values():
            await sink.close()


def _through_the_service(
    report: Report, spec: RunSpec, nodes: dict[str, Node], upload: Upload, work: Path
) -> dict[str, dict[str, list[float]]]:
    """The service against each node, measured rounds alternating; req/s and p99 per concurrency."""
    out: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    with ExitStack() as stack:
        bases: dict[str, tuple[str, int]] = {}
        for mode, node in nodes.items():
            port = free_port()
            env = {
                "MNIST_DATA_DIR": str(work / f"var-sync-{mode}"),
                "MNIST_LOG_LEVEL": "WARNING",
                "CASSANDRA_CONTACT_POINTS": node.host,
                "CASSANDRA_PORT": str(node.port),
                "CASSANDRA_USERNAME": "cassandra",
                "CASSANDRA_PASSWORD": "cassandra",
                "CASSANDRA_KEYSPACE": f"bench_sync_e2e_{mode}",
            }
            cmd = [sys.executable, "-m", "service", "--port", str(port), "--workers", str(spec.workers)]
            proc, _ = stack.enter_context(running(cmd, f"http://127.0.0.1:{port}/readyz", env, work / f"{mode}.log"))
            bases[mode] = (f"http://127.0.0.1:{port}", proc.pid)
        for k in range(ROUNDS):
            for mode in MODES if k % 2 == 0 else MODES[::-1]:
                base, pid = bases[mode]
                target = Target(f"this service (cassandra, {mode} sync)", "png28", base + "/v1/predict", upload, "raw")
                for c in (8, 64):
                    result = measure(target, c, pid, spec)
                    if k == ROUNDS - 1:
                        report.results.append(result)
                    out[mode].setdefault(f"c{c}_rps", []).append(result.rps)
                    out[mode].setdefault(f"c{c}_p99_ms", []).append(result.p99_ms)
                wait_drained(base, timeout=300)  # the next round starts with an empty outbox
    return out


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def sync_cost(report: Report, spec: RunSpec, work: Path, inputs: dict[str, Upload]) -> None:
    nodes = {
        mode: Node(
            home=work / f"cassandra-{mode}",
            port=free_port(),
            storage_port=free_port(),
            jmx_port=free_port(),
            extra={"CASSANDRA_COMMITLOG_SYNC": mode, "CASSANDRA_HEAP": "1g"},
        )
        for mode in MODES
    }
    try:
        for node in nodes.values():
            node.start()
        runs = asyncio.run(_rounds(nodes, spec))
        e2e = _through_the_service(report, spec, nodes, inputs["png28"], work)
    finally:
        for node in nodes.values():
            node.stop()
    figures: dict[str, dict[str, str]] = {}
    for mode, measured in runs.items():
        figures[mode] = {key: _median_range([m[key] for m in measured]) for key in measured[0]}
        figures[mode] |= {f"service_{key}": _median_range(values) for key, values in e2e[mode].items()}

    def ratio(values: dict[str, list[float]]) -> str:
        return f"{statistics.median(values['group']) / statistics.median(values['periodic']):.2f}x"

    rows_per_s = {mode: [m["rows_per_s"] for m in measured] for mode, measured in runs.items()}
    report.facts["commitlog_sync_cost"] = {
        "method": f"{spec.workers} relay writers, rounds of {DRAIN_BATCH} records, {ROUNDS} alternating rounds of "
        f"{spec.seconds:.0f} s per mode after {spec.cassandra_warmup_s / 2:.0f} s warm-up each; median (range)",
        **figures,
        "group_vs_periodic_rows_per_s": ratio(rows_per_s),
        **{
            f"group_vs_periodic_service_c{c}_rps": ratio({mode: e2e[mode][f"c{c}_rps"] for mode in MODES})
            for c in (8, 64)
        },
    }
