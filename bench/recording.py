"""What recording costs inside this service: the same service, one worker, with its embedded
store as shipped and with the store's `add` switched off (bench/baselines/unrecorded), started
side by side and measured in alternating rounds at one concurrency. The difference in CPU per
request is the price of recording (the group commit, its hand-off to the writer thread, the
fsync); what remains is the rest of the service."""

from __future__ import annotations

import logging
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.inputs import Upload
from bench.peers import System, measure_point
from bench.report import Report, Result
from bench.spec import BENCH, RunSpec
from tests.utils import ROOT, free_port, running

log = logging.getLogger("bench")
ROUNDS = 3
CONCURRENCY = 4  # one worker: enough to keep it busy without queueing far behind it
VARIANTS = {"recorded (as shipped)": "1", "not recorded (store.add switched off)": "0"}


def recording_cost(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path) -> None:
    results: list[Result] = []
    with ExitStack() as stack:
        systems = []
        for name, record in VARIANTS.items():
            port = free_port()
            env = {
                "BENCH_PROJECT_ROOT": str(ROOT),
                "BENCH_RECORD": record,
                "MNIST_DATA_DIR": str(work / f"var-record-{record}"),
                "MNIST_LOG_LEVEL": "WARNING",
                "MNIST_ORT_THREADS": "1",
            }
            cmd = [sys.executable, "-m", "uvicorn", "app:app", "--factory", "--app-dir"]
            cmd += [str(BENCH / "baselines" / "unrecorded"), "--host", "127.0.0.1", "--port", str(port)]
            cmd += ["--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
            url = f"http://127.0.0.1:{port}"
            proc, _ = stack.enter_context(running(cmd, url + "/readyz", env, work / f"record-{record}.log"))
            systems.append(System(f"this service, 1 worker, {name}", url + "/v1/predict", proc.pid, ("png28",)))
        for k in range(ROUNDS):
            for system in systems if k % 2 == 0 else systems[::-1]:
                results.append(measure_point(system, inputs["png28"], "png28", CONCURRENCY, spec))

    def median(system: System, key: str) -> float:
        return statistics.median(getattr(r, key) for r in results if r.system == system.name)

    recorded, bare = systems
    cpu_rec, cpu_bare = median(recorded, "cpu_us_per_request"), median(bare, "cpu_us_per_request")
    report.results += results
    report.facts["recording_cost"] = {
        "method": f"1 worker each, raw 28x28 PNG, concurrency {CONCURRENCY}, {ROUNDS} alternating rounds of "
        f"{spec.seconds:.0f} s; medians",
        "cpu_us_per_request_recorded": round(cpu_rec),
        "cpu_us_per_request_not_recorded": round(cpu_bare),
        "recording_share_of_cpu": f"{100 * (cpu_rec - cpu_bare) / cpu_rec:.0f} %",
        "req_per_s_recorded_vs_not": f"{median(recorded, 'rps') / median(bare, 'rps'):.2f}x",
    }
