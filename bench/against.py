"""This service against an earlier commit of itself, side by side: the other commit checked out
in a git worktree, both started the same way (this venv, `python -m service`, the run's worker
count), measured in alternating rounds at concurrency 8 and 64 on the raw 28x28 PNG. Both record
in the embedded store, or with `--against-store cassandra` in one Cassandra node started for the
run (a keyspace each; the node warmed up under load first, each outbox drained after every point,
so the next point starts on a quiet machine). The machine drifts by 20-40 % within the hour, so
a change is judged by the rounds' paired ratios (each round measures both, one right after the
other), not by figures from different runs.

    bench/run --only against --against <commit> --rounds 6 --out bench/against
    bench/run --only against --against <commit> --against-store cassandra --out bench/against-cassandra
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.inputs import Upload
from bench.load import Target, wrk
from bench.peers import System, measure_point
from bench.report import Report, Result
from bench.spec import RunSpec
from bench.systems import Variant, cassandra_node
from tests.cassandra_node import Node, wait_drained
from tests.utils import ROOT, free_port, running

log = logging.getLogger("bench")
CONCURRENCIES = (8, 64)
SCENARIO = "png28"


def _commit(ref: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench/run --against: {ref!r} is no commit here: {out.stderr.strip()}")
    return out.stdout.strip()


def against(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path) -> None:
    if not spec.against:
        raise SystemExit("bench/run --only against needs --against <commit>")
    theirs = _commit(spec.against)
    ours = _commit("HEAD") + (" + changes" if _dirty() else "")
    checkout = work / f"against-{theirs}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(checkout), theirs], check=True)
    results: list[Result] = []
    node: Node | None = None
    try:
        with ExitStack() as stack:
            if spec.against_store == "cassandra":
                node = cassandra_node(work)
                stack.callback(node.stop)
            systems = []
            for k, (name, root) in enumerate(((f"this checkout ({ours})", ROOT), (f"commit {theirs}", checkout))):
                port = free_port()
                cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
                cmd += ["--workers", str(spec.workers)]
                env = {"MNIST_DATA_DIR": str(work / f"var-{port}"), "MNIST_LOG_LEVEL": "WARNING"}
                if node is not None:
                    env = Variant(store="cassandra", node=node).service_env(work) | env
                    env["CASSANDRA_KEYSPACE"] = f"against_{k}_{port}"
                url = f"http://127.0.0.1:{port}"
                proc, _ = stack.enter_context(
                    running(cmd, url + "/readyz", env, work / f"against-{port}.log", timeout=120, cwd=root)
                )
                systems.append(System(name, url + "/v1/predict", proc.pid, (SCENARIO,), base=url, node=node))
            if node is not None and spec.cassandra_warmup_s > 0:  # a fresh JVM compiles its hot paths first
                for system in systems:
                    warm = Target("warm-up", SCENARIO, system.url, inputs[SCENARIO], "raw")
                    wrk(warm, 64, spec.cassandra_warmup_s / len(systems), spec.max_requests)
                    wait_drained(system.base, timeout=300)
            for k in range(spec.rounds):
                for c in CONCURRENCIES:
                    for system in systems if k % 2 == 0 else systems[::-1]:
                        results.append(measure_point(system, inputs[SCENARIO], SCENARIO, c, spec))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], check=False)
    report.results += results
    report.facts["against"] = _ratios(results, [s.name for s in systems], spec)


def _dirty() -> bool:
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True)
    return bool(out.stdout.strip())


def _ratios(results: list[Result], names: list[str], spec: RunSpec) -> dict[str, object]:
    mine, theirs = names
    figures: dict[str, object] = {
        "method": f"{spec.workers} workers each, raw 28x28 PNG, recorded in {spec.against_store}, {spec.rounds} "
        f"rounds alternating the order, {spec.seconds:.0f} s per point; ratios of each round's pair, median and range",
    }
    for c in CONCURRENCIES:
        a = [r for r in results if r.system == mine and r.concurrency == c]
        b = [r for r in results if r.system == theirs and r.concurrency == c]
        figures[f"c={c}"] = {
            "cpu_us_per_request": f"{statistics.median(r.cpu_us_per_request for r in a):.0f} vs "
            f"{statistics.median(r.cpu_us_per_request for r in b):.0f}",
            "req_per_s": f"{statistics.median(r.rps for r in a):.0f} vs {statistics.median(r.rps for r in b):.0f}",
            "p99_ms": f"{statistics.median(r.p99_ms for r in a):.1f} vs {statistics.median(r.p99_ms for r in b):.1f}",
            "p99_ratio": _paired(a, b, "p99_ms"),
            "cpu_ratio": _paired(a, b, "cpu_us_per_request"),
            "req_per_s_ratio": _paired(a, b, "rps"),
        }
    log.info("against: %s", figures)
    return figures


def _paired(a: list[Result], b: list[Result], key: str) -> str:
    """The ratio of each round's pair, median and range."""
    ratios = sorted(getattr(x, key) / max(getattr(y, key), 1e-9) for x, y in zip(a, b, strict=True))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"
