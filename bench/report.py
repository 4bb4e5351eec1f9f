"""The results: one row per measured point, figures beside them, written as Markdown, JSON and a plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.utils import ROOT


@dataclass
class Result:
    system: str
    scenario: str
    concurrency: int
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    rss_mb: float = 0.0  # the whole process tree
    worker_rss_mb: float = 0.0  # its largest process
    cpu_us_per_request: float = 0.0  # utime + stime of the process tree over the requests (0: not measured)
    note: str = ""


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def ratios(report: Report) -> dict[str, str]:
    def best(prefix: str, scenario: str = "png28-form") -> Result | None:
        rows = [r for r in report.results if r.system.startswith(prefix) and r.scenario == scenario]
        return max(rows, key=lambda r: r.rps) if rows else None

    d = best("this service (cassandra") or best("this service")
    out: dict[str, str] = {}
    if d is None:
        return out
    for key, prefix in (("d/a", "(a)"), ("d/b", "(b)")):
        other = best(prefix)
        if other is not None and other.rps > 0:
            out[key] = f"{d.rps / other.rps:.1f}x req/s (best of each: {d.rps:.0f} vs {other.rps:.1f})"
    return out


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for system, scenario in sorted({(r.system, r.scenario) for r in report.results}):
        rows = sorted(
            (r for r in report.results if r.system == system and r.scenario == scenario), key=lambda r: r.concurrency
        )
        if len(rows) > 1:
            ax.plot([r.concurrency for r in rows], [r.p99_ms for r in rows], marker="o", label=f"{system} {scenario}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent connections")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("p99 latency vs concurrency (2 cores, load generator on the same machine)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: Report, out: Path, smoke: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report.facts["ratios"] = ratios(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (out / "results.json").write_text(
        json.dumps(
            {
                "date": stamp,
                "commit": git_commit(),
                "machine": machine(),
                "smoke": smoke,
                "facts": report.facts,
                "results": [asdict(r) for r in report.results],
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Benchmark results" + (" (smoke run)" if smoke else ""),
        "",
        f"- date: {stamp}",
        f"- commit: {git_commit()}",
        f"- machine: {machine()}",
        "- load: wrk on 127.0.0.1, same machine; every run bounded in time and requests",
        "",
        "| system | upload | conc. | req/s | p50 ms | p95 ms | p99 ms | errors | CPU µs/req "
        "| RSS MB (all / largest process) | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        cpu = f"{r.cpu_us_per_request:.0f}" if r.cpu_us_per_request else ""
        lines.append(
            f"| {r.system} | {r.scenario} | {r.concurrency} | {r.rps:.1f} | {r.p50_ms:.2f} | "
            f"{r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {cpu} | {r.rss_mb:.0f} / {r.worker_rss_mb:.0f} "
            f"| {r.note} |"
        )
    lines += ["", "## Other figures", ""]
    lines += [f"- {k}: {v}" for k, v in report.facts.items() if k != "ratios"]
    if report.facts["ratios"]:
        lines += ["", "## Ratios (this service with Cassandra vs the baselines, 28x28 PNG as a multipart form)", ""]
        lines += [f"- {k}: {v}" for k, v in report.facts["ratios"].items()]  # type: ignore[attr-defined]
    if report.results:  # a run of figures alone (e.g. --only hostile) has no latencies to plot
        lines += ["", "![p99 latency vs concurrency](latency.png)", ""]
        plot(report, out / "latency.png")
    (out / "results.md").write_text("\n".join(lines))
    sys.stdout.write((out / "results.md").read_text())
