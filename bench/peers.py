"""The fair comparison: this service against what a user would run instead, side by side in one
run, alternating, on free ports.

Every system runs the same int8 ONNX file with the same ONNX Runtime options (one intra-op
thread per worker, no spinning), the same preprocessing, and as many worker processes:

- this service, every prediction recorded in Cassandra (a node of its own, warmed up first);
- this service, embedded store;
- the floor: a bare Starlette + ONNX Runtime app recording nothing (bench/baselines/bare_starlette),
  uvicorn workers, uvloop and httptools, no access log;
- BentoML as its docs recommend for CPU throughput (bench/baselines/bentoml_onnx): workers equal
  to ours, an async API taking an image, no access log, uvloop installed in its venv.

All are started once; then each round measures every system at each point, the order rotated
between rounds (A B C D, then B C D A, ...). Per point: req/s, p50/p99, errors, CPU per request
(utime + stime of the server's whole process tree over the requests; for Cassandra recording,
also with the node's CPU), and how busy the machine was (saturated or not). Medians and ranges
over the rounds, and the ratios the targets are stated in."""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.inputs import Upload
from bench.load import Target, process_tree, tree_rss_mb, wrk
from bench.report import Report, Result
from bench.spec import BENCH, RunSpec
from bench.systems import VENVS, Variant, cassandra_node, venv
from service.core.card import ModelCard
from service.settings import default_card
from tests.cassandra_node import Node, wait_drained
from tests.utils import ROOT, free_port, running

log = logging.getLogger("bench")
PY = sys.executable
FLOOR = "bare Starlette + ORT (records nothing)"
BENTO = "BentoML (fair: async, image input)"
OURS_C = "this service, recorded in Cassandra"
OURS_E = "this service, embedded store"
# connected-components-3d: the shared preprocessing (service.core.framing) needs it.
BENTO_PACKAGES = ["bentoml", "onnxruntime", "pillow", "numpy", "uvloop", "connected-components-3d"]


@dataclass
class System:
    name: str
    url: str
    pid: int
    scenarios: tuple[str, ...]
    base: str = ""  # this service's base URL: drained between points
    node: Node | None = None  # the Cassandra node whose CPU counts too


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8]) / os.sysconf("SC_CLK_TCK")
    idle = (values[3] + values[4]) / os.sysconf("SC_CLK_TCK")
    return total - idle, total


def measure_point(system: System, upload: Upload, scenario: str, concurrency: int, spec: RunSpec) -> Result:
    """One load point against a running system: wrk at `concurrency`, with the CPU its whole process
    tree spent (the parts that compare systems side by side all measure through this)."""
    mode = "multipart" if scenario.endswith("-form") else "raw"
    target = Target(system.name, scenario, system.url, upload, mode)
    wrk(target, concurrency, spec.warmup_s, spec.max_requests)
    pids = process_tree(system.pid)
    node_pids = [system.node.pid()] if system.node else []
    cpu0, node0, (busy0, all0) = _cpu_s(pids), _cpu_s(node_pids), _machine()
    raw = wrk(target, concurrency, spec.seconds, spec.max_requests)
    cpu, node_cpu, (busy1, all1) = _cpu_s(pids) - cpu0, _cpu_s(node_pids) - node0, _machine()
    requests = max(1, int(raw["requests"]))
    secs = raw["duration_us"] / 1e6
    rss, worker_rss = tree_rss_mb(system.pid)
    note = f"machine busy {100 * (busy1 - busy0) / max(all1 - all0, 1e-9):.0f} %"
    if requests >= spec.max_requests - 2:  # wrk splits the cap between its threads
        note += f"; stopped at the cap of {spec.max_requests} requests (req/s understated)"
    if system.node:
        note += f"; with the node's CPU {(cpu + node_cpu) / requests * 1e6:.0f} us/req"
    result = Result(
        system=system.name,
        scenario=scenario,
        concurrency=concurrency,
        requests=requests,
        seconds=round(secs, 2),
        rps=round(requests / secs, 1),
        p50_ms=raw["p50_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        errors=int(raw["non2xx"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]),
        rss_mb=round(rss, 1),
        worker_rss_mb=round(worker_rss, 1),
        cpu_us_per_request=round(cpu / requests * 1e6),
        note=note,
    )
    log.info(
        "%-40s %-10s c=%-3d %7.0f req/s  p99 %6.1f ms  cpu %5.0f us/req  %s",
        system.name,
        scenario,
        concurrency,
        result.rps,
        result.p99_ms,
        result.cpu_us_per_request,
        note,
    )
    if system.base and system.node:
        wait_drained(system.base, timeout=300)  # the next system starts on a quiet machine
    return result


def _start_ours(stack: ExitStack, spec: RunSpec, work: Path, variant: Variant, name: str) -> System:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [PY, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", str(spec.workers)]
    env = variant.service_env(work)
    proc, _ = stack.enter_context(running(cmd, base + "/readyz", env, work / f"{variant.store}.log", timeout=120))
    return System(name, base + "/v1/predict", proc.pid, ("png28-form", "png28"), base, variant.node)


def _start_floor(stack: ExitStack, spec: RunSpec, work: Path, model: Path) -> System:
    port = free_port()
    env = {
        "BENCH_PROJECT_ROOT": str(ROOT),
        "BENCH_ONNX_MODEL": str(model),
        "BENCH_ORT_THREADS": str(max(1, (os.cpu_count() or 1) // spec.workers)),
    }
    cmd = [PY, "-m", "uvicorn", "app:app", "--app-dir", str(BENCH / "baselines" / "bare_starlette")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(spec.workers), "--no-access-log"]
    cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    proc, _ = stack.enter_context(running(cmd, url + "/readyz", env, work / "floor.log", timeout=60))
    return System(FLOOR, url + "/predict", proc.pid, ("png28-form", "png28"))


def _start_bento(stack: ExitStack, spec: RunSpec, work: Path, model: Path) -> System:
    python = venv("bentoml-uvloop", BENTO_PACKAGES)
    port = free_port()
    env = {
        "BENCH_PROJECT_ROOT": str(ROOT),
        "BENCH_ONNX_MODEL": str(model),
        "BENCH_WORKERS": str(spec.workers),
        "BENTOML_HOME": str(work / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    cmd = [str(python), "-m", "bentoml", "serve", "bento_mnist:Mnist", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--working-dir", str(BENCH / "baselines" / "bentoml_onnx")]
    url = f"http://127.0.0.1:{port}"
    proc, _ = stack.enter_context(running(cmd, url + "/readyz", env, work / "bentoml.log", timeout=180))
    return System(BENTO, url + "/predict", proc.pid, ("png28-form",))


def _versions() -> dict[str, str]:
    bento = VENVS / "bentoml-uvloop" / "bin" / "python"
    code = "import bentoml, importlib.util; print(bentoml.__version__, bool(importlib.util.find_spec('uvloop')))"
    out = subprocess.run([str(bento), "-c", code], capture_output=True, text=True, check=False).stdout.split()
    return {"bentoml": out[0] if out else "?", "bentoml_uvloop": out[1] if len(out) > 1 else "?"}


def _ratio(results: list[Result], a: str, b: str, scenario: str, c: int, key: str) -> float:
    def median(system: str) -> float:
        point = (system, scenario, c)
        return statistics.median(getattr(r, key) for r in results if (r.system, r.scenario, r.concurrency) == point)

    return median(a) / median(b)


def _summary(results: list[Result], concurrencies: tuple[int, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in concurrencies:
        for scenario in ("png28-form", "png28"):
            pairs = [(OURS_C, FLOOR), (OURS_E, FLOOR)]
            if scenario == "png28-form":  # BentoML takes the multipart form only
                pairs += [(OURS_C, BENTO), (FLOOR, BENTO)]
            for a, b in pairs:
                rps, cpu, p99 = (_ratio(results, a, b, scenario, c, k) for k in ("rps", "cpu_us_per_request", "p99_ms"))
                out[f"{a} / {b}, {scenario}, c={c}"] = f"req/s {rps:.2f}x, CPU/req {cpu:.2f}x, p99 {p99:.2f}x"
    return out


def start_systems(stack: ExitStack, spec: RunSpec, work: Path, node: Node, upload: Upload, bento: bool) -> list[System]:
    """This service recording in Cassandra (on `node`, warmed up), with its embedded store, the
    floor, and BentoML if asked: started once, stopped by `stack`."""
    model = ModelCard.load(default_card()).model_file
    systems = [
        _start_ours(stack, spec, work, Variant(store="cassandra", node=node), OURS_C),
        _start_ours(stack, spec, work, Variant(), OURS_E),
        _start_floor(stack, spec, work, model),
    ]
    if bento:
        systems.append(_start_bento(stack, spec, work, model))
    if spec.cassandra_warmup_s > 0:  # a fresh JVM compiles its hot paths under load first
        wrk(Target("warm-up", "png28", systems[0].url, upload, "raw"), 64, spec.cassandra_warmup_s, spec.max_requests)
        wait_drained(systems[0].base, timeout=300)
    return systems


def peers(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path) -> None:
    node = cassandra_node(work)
    concurrencies = tuple(c for c in spec.concurrencies if c > 1)
    measured: list[Result] = []
    try:
        with ExitStack() as stack:
            systems = start_systems(stack, spec, work, node, inputs["png28"], bento=True)
            for k in range(spec.rounds):
                order = systems[k % len(systems) :] + systems[: k % len(systems)]
                for c in concurrencies:
                    for system in order:
                        for scenario in system.scenarios:
                            measured.append(measure_point(system, inputs["png28"], scenario, c, spec))
    finally:
        node.stop()
    for system, scenario, c in sorted({(r.system, r.scenario, r.concurrency) for r in measured}):
        rows = [r for r in measured if (r.system, r.scenario, r.concurrency) == (system, scenario, c)]
        median = min(rows, key=lambda r: abs(r.rps - statistics.median(x.rps for x in rows)))
        rps = [r.rps for r in rows]
        median.note += f"; req/s over {len(rows)} rounds {min(rps):.0f}-{max(rps):.0f}"
        report.results.append(median)
    report.facts["peers"] = {
        "method": f"{spec.workers} workers each, {spec.rounds} rounds alternating, {spec.seconds:.0f} s per point "
        f"after {spec.warmup_s:.0f} s warm-up; the median round's row shown, range in its note",
        **_versions(),
        "ratios (medians)": _summary(measured, concurrencies),
    }
