"""Memory under hostile uploads: many blank pictures at the pixel limit, several requests at once.
Before the decode budget, 16 such PNGs in one 2.6 MB request took a worker to 3.5 GB."""

from __future__ import annotations

import logging
import sys
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.inputs import blank_png, multipart
from bench.load import process_tree, status_mb
from bench.report import Report
from bench.spec import RunSpec
from service.settings import Settings
from tests.utils import free_port, running

log = logging.getLogger("bench")


def _post(url: str, body: bytes, content_type: str) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def hostile_mix(report: Report, spec: RunSpec, work: Path) -> None:
    """For each picture mode: `hostile_requests` concurrent requests of `hostile_files` blank PNGs
    of max_pixels each, against a fresh service; the peak RSS (VmHWM) of its largest worker."""
    max_pixels = Settings().max_pixels
    for mode in ("RGB", "RGBA"):
        png = blank_png(mode, max_pixels)
        body, content_type = multipart([(f"blank{i}.png", png) for i in range(spec.hostile_files)])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", str(spec.workers)]
        env = {"MNIST_DATA_DIR": str(work / f"hostile-{mode}")}
        with running(cmd, base + "/readyz", env, work / f"hostile-{mode}.log") as (proc, _):
            with ThreadPoolExecutor(spec.hostile_requests) as pool:
                sent = [
                    pool.submit(_post, base + "/v1/predict", body, content_type) for _ in range(spec.hostile_requests)
                ]
                statuses = Counter(f.result() for f in sent)
            peak = max(status_mb(p, "VmHWM") for p in process_tree(proc.pid))
            with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
                alive = resp.status == 200
        key = f"hostile_{mode.lower()}"
        report.facts[f"{key}_peak_worker_rss_mb"] = round(peak, 1)
        report.facts[f"{key}_statuses"] = dict(sorted(statuses.items()))
        report.facts[f"{key}_request"] = (
            f"{spec.hostile_requests} at once x {spec.hostile_files} blank {mode} PNGs of {max_pixels} px "
            f"({len(body) / 1e6:.1f} MB each request), {spec.workers} worker(s); alive after: {alive}"
        )
        log.info("hostile mix %s: peak worker RSS %.0f MB, statuses %s", mode, peak, dict(statuses))
