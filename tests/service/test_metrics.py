"""/metrics as Prometheus sees it: true with several workers (every scrape sums all of them),
bounded label values, and clean for `promtool check metrics` (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.utils import metric, need, png_bytes, post_image, running_service, scrape
from train import mnist

pytestmark = pytest.mark.slow


def test_every_scrape_of_two_workers_counts_everything(tmp_path: Path, mnist_test: mnist.Split) -> None:
    need(shutil.which("promtool") is not None, "promtool is not installed (scripts/setup-system installs it)")
    env = {"MNIST_DATA_DIR": str(tmp_path / "var")}
    data = png_bytes(np.asarray(mnist_test.images[0]))  # a 7
    before = set(Path("/tmp").glob("mnist-metrics-*"))
    with running_service(env=env, args=("--workers", "2")) as (base, _, _):
        for i in range(100):
            assert post_image(base + "/v1/predict", data, f"{i}.png")[0] == 200
        request = urllib.request.Request(base + "/v1/predict", method="PROPFIND")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)
        scrapes = [scrape(base) for _ in range(12)]  # spread over both workers
        dirs = set(Path("/tmp").glob("mnist-metrics-*")) - before
    for text in scrapes:
        assert metric(text, 'mnist_predictions_total{digit="7"}') == 100
        assert metric(text, 'mnist_http_requests_total{method="POST",route="/v1/predict",status="200"}') == 100
        assert metric(text, "mnist_model_ready") == 1
        assert 'method="PROPFIND"' not in text  # unknown methods share one label value
    assert any('method="other"' in text for text in scrapes)
    check = subprocess.run(["promtool", "check", "metrics"], input=scrapes[-1], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(dirs) == 1, "one fresh directory for this start's workers"
    assert not any(d.exists() for d in dirs), "the metrics directory outlived the service"
