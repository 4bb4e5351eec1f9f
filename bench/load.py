"""Load from wrk, one bounded run per point, and the footprint of the server under it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.inputs import Upload
from bench.report import Result
from bench.spec import BENCH, RunSpec

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Target:
    """One system's endpoint, and what is sent to it."""

    system: str
    scenario: str
    url: str
    upload: Upload
    mode: str  # raw | multipart


def process_tree(pid: int) -> list[int]:
    pids, out = [pid], []
    while pids:
        p = pids.pop()
        out.append(p)
        try:
            pids.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def status_mb(pid: int, field: str) -> float:
    """A memory figure of one process from /proc: VmRSS now, VmHWM its peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory of a process tree: (all processes, the largest single one -- a worker)."""
    sizes = [status_mb(p, "VmRSS") for p in process_tree(pid)]
    return sum(sizes), max(sizes, default=0.0)


def wrk(target: Target, concurrency: int, seconds: float, max_requests: int) -> dict[str, float]:
    threads = 1 if concurrency < 8 else 2
    env = {
        **os.environ,
        "BODY_FILE": str(target.upload.path),
        "MODE": target.mode,
        "CONTENT_TYPE": target.upload.content_type,
        "MAX_REQUESTS": str(max(1, max_requests // threads)),
    }
    cmd = ["wrk", "-s", str(BENCH / "post.lua"), "-t", str(threads), "-c", str(concurrency), "--timeout", "30s"]
    out = subprocess.run(
        [*cmd, "-d", f"{max(1, round(seconds))}s", target.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=True,
    ).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    return json.loads(line)  # type: ignore[no-any-return]


def measure(target: Target, concurrency: int, pid: int, spec: RunSpec) -> Result:
    if spec.warmup_s > 0:
        wrk(target, concurrency, spec.warmup_s, spec.max_requests)
    raw = wrk(target, concurrency, spec.seconds, spec.max_requests)
    secs = raw["duration_us"] / 1e6
    errors = int(raw["non2xx"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"])
    rss, worker_rss = tree_rss_mb(pid)
    res = Result(
        system=target.system,
        scenario=target.scenario,
        concurrency=concurrency,
        requests=int(raw["requests"]),
        seconds=round(secs, 2),
        rps=round(raw["requests"] / secs, 1),
        p50_ms=raw["p50_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        errors=errors,
        rss_mb=round(rss, 1),
        worker_rss_mb=round(worker_rss, 1),
    )
    log.info(
        "%-28s %-10s c=%-3d %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d  rss %.0f MB",
        res.system,
        res.scenario,
        concurrency,
        res.rps,
        res.p50_ms,
        res.p99_ms,
        res.errors,
        res.rss_mb,
    )
    return res
