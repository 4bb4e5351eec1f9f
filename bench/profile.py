"""Where a request's CPU goes: this service (embedded store; and recorded in Cassandra) beside the
floor (bare Starlette + ONNX Runtime, recording nothing), each under the same load (28x28 PNG as a
multipart form, concurrency 8, the peers' worker count), with py-spy sampling every process of the
system's tree while the CPU per request is measured (bench.peers.measure_point).

py-spy samples only threads holding the GIL (`--gil`): the Python work. Idle waits (a queue, the
event loop's poll, fsync) are never counted (without `--gil`, py-spy counted this service's idle
writer and batcher threads as busy here). Each sample is put in the stage its innermost recognised
frame belongs to (STAGES), and the measured CPU per request is divided among the stages in
proportion to their samples. That is an approximation: ONNX Runtime's kernels, socket and disk
syscalls run without the GIL, so their CPU is spread over every stage in proportion, and GIL-held
wall time on an oversubscribed machine is not CPU time (hence shares, not the samples' own time).
`bench/run --only profile --out bench/profile`."""

from __future__ import annotations

import collections
import dataclasses
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from bench.inputs import Upload
from bench.load import Target, wrk
from bench.peers import FLOOR, OURS_E, System, measure_point, start_systems
from bench.report import Report, Result
from bench.spec import RunSpec
from bench.systems import cassandra_node

log = logging.getLogger("bench")
CONCURRENCY = 8
SCENARIO = "png28-form"
SAMPLES_PER_S = 100
OTHER = "HTTP, ASGI, routing, event loop"
# A stage and the frames (substrings of py-spy's "function (file:line)") that mark it; the first
# stage matching a sample's innermost frame wins, so a stage nested in another is listed first.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inference (ONNX Runtime)", ("Session.run", "run_tensor")),
    ("record: commit to SQLite", ("SqliteFile._insert", "SqliteFile._commit")),
    ("relay to Cassandra, driver", ("service/store/relay", "service/store/cassandra", "cassandra/")),
    ("decode (Pillow)", ("service/core/decode.py", "PIL/")),
    ("framing", ("service/core/framing.py", "service/core/lines.py", "service/core/paper.py", "to_tensor")),
    ("upload parsing", ("service/api/uploads.py", "multipart", "formparsers", "email/")),
    ("record: building it", ("Predictor._record", "service/store/record.py", "uuid.py")),
    ("answer and JSON", ("_digit_answer", "service/api/answers.py", "JSONResponse", "json/")),
    (
        "metrics and headers middleware",
        ("service/api/middleware.py", "service/api/headers.py", "prometheus_client", "MutableHeaders"),
    ),
    ("hand-offs (batcher, store futures)", ("service/core/batcher.py", "SqliteFile", "service/core/futures.py")),
)


# The web stack's own frames: a sample whose innermost recognised frame lies above one of these
# (a middleware that called the router) is the web stack's work, not that stage's.
WEB_STACK = ("starlette/", "uvicorn/", "asyncio/", "contextlib", "service/api/protocol.py")


def stage_of(frames: list[str]) -> str:
    """The stage of one sample: walking out from its innermost frame, the first that marks a stage
    (STAGES), or OTHER at the first frame of the web stack."""
    for frame in reversed(frames):
        for stage, marks in STAGES:
            if any(mark in frame for mark in marks):
                return stage
        if any(part in frame for part in WEB_STACK):
            return OTHER
    return OTHER


def stage_samples(lines: Iterable[str]) -> dict[str, int]:
    """py-spy's raw (collapsed) output -> samples per stage, the largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack.split(";"))] += int(n)
    return dict(counts.most_common())


def _profiled_point(system: System, upload: Upload, spec: RunSpec, work: Path) -> tuple[Result, dict[str, float]]:
    """One measured point with py-spy over it; the CPU per request divided among the stages."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = work / f"{system.name.split(',')[-1].strip().replace(' ', '-')}.pyspy.txt"
    target = Target(system.name, SCENARIO, system.url, upload, "multipart")
    wrk(target, CONCURRENCY, max(spec.warmup_s, 2.0), spec.max_requests)  # warm, before py-spy attaches
    seconds = round(spec.seconds)
    cmd = [pyspy, "record", "--gil", "--subprocesses", "-r", str(SAMPLES_PER_S), "-f", "raw", "-o", str(raw)]
    cmd += ["-d", str(seconds), "--pid", str(system.pid)]
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as sampler:
        result = measure_point(system, upload, SCENARIO, CONCURRENCY, dataclasses.replace(spec, warmup_s=0))
        sampler.wait(timeout=seconds + 60)
    lines = raw.read_text(errors="replace").splitlines() if raw.exists() else []
    samples = stage_samples(lines)
    total = sum(samples.values()) or 1
    return result, {stage: n / total * result.cpu_us_per_request for stage, n in samples.items()}


def profile(report: Report, spec: RunSpec, inputs: dict[str, Upload], work: Path) -> None:
    node = cassandra_node(work)
    table: dict[str, dict[str, int]] = {}
    try:
        with ExitStack() as stack:
            systems = start_systems(stack, spec, work, node, inputs["png28"], bento=False)
            for system in systems:
                result, stages = _profiled_point(system, inputs["png28"], spec, work)
                report.results.append(result)
                table[system.name] = {stage: round(us) for stage, us in stages.items()}
                log.info("%s: %s", system.name, table[system.name])
    finally:
        node.stop()
    report.facts["profile"] = {
        "method": f"py-spy --gil {SAMPLES_PER_S} Hz over every process, {SCENARIO} c={CONCURRENCY}, {spec.workers} "
        "workers; the measured CPU per request (us) divided among the stages as their GIL-held samples",
        **{name: dict(sorted(stages.items(), key=lambda kv: -kv[1])) for name, stages in table.items()},
    }
    if FLOOR in table and OURS_E in table:
        extra = {s: table[OURS_E].get(s, 0) - table[FLOOR].get(s, 0) for s in set(table[OURS_E]) | set(table[FLOOR])}
        report.facts["profile: embedded store minus floor (us per request)"] = dict(
            sorted(extra.items(), key=lambda kv: -kv[1])
        )
