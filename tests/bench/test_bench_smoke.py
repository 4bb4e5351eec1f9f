"""A short run of the benchmark, so that it cannot rot. The figures themselves are not judged here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.utils import ROOT, need

pytestmark = pytest.mark.slow


def test_bench_smoke_writes_its_results(tmp_path: Path) -> None:
    need(
        subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True, check=False).returncode == 0,
        "wrk is not installed (scripts/setup-system installs it)",
    )
    subprocess.run([str(ROOT / "bench" / "run"), "--smoke", "--out", str(tmp_path)], check=True, timeout=600, cwd=ROOT)
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["results"]
    assert {(r["scenario"], r["concurrency"]) for r in rows} == {
        ("png28", 1),
        ("png28", 8),
        ("jpeg640", 1),
        ("jpeg640", 8),
    }
    for r in rows:
        assert r["requests"] > 0 and r["rps"] > 0 and r["errors"] == 0 and r["rss_mb"] > 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
    facts = results["facts"]
    assert facts["process_start_to_ready_s_median"] > 0
    for mode in ("rgb", "rgba"):  # the hostile mix ran, was refused with 4xx only, the server lived
        assert facts[f"hostile_{mode}_peak_worker_rss_mb"] > 0
        assert all(400 <= int(s) < 500 for s in facts[f"hostile_{mode}_statuses"]), facts
        assert facts[f"hostile_{mode}_request"].endswith("alive after: True")
    for length in ("2 digits", "4 digits", "8 digits"):  # reading a number, stage by stage
        stages = facts["reading_ms_per_number"][length]
        assert 0 < stages["segment_ms"] < stages["all_ms"] and stages["digit_frames"] >= int(length[0])
    commits = facts["commit_cost"]  # one durable commit, by the records it carries and where it is made
    for point in ("1 per commit, loop", "4 per commit, loop", "1 per commit, thread", "16 per commit, thread"):
        assert 0 < commits[point]["cpu_us_per_record"] <= commits[point]["cpu_us_per_commit"]
    assert "16 per commit, loop" not in commits  # the loop takes small groups only, as the service does
    md = (tmp_path / "results.md").read_text()
    assert "| this service (sqlite, 1w) | png28 | 8 |" in md and results["commit"] in md
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"
