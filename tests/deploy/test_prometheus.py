"""The Prometheus configuration in deploy/prometheus: valid for promtool, its alert rules pass
their own unit tests (`promtool test rules`), and every service metric they name exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.utils import ROOT, need

PROM = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    need(found is not None, "promtool is not installed (scripts/setup-system installs it)")
    assert found is not None
    return found


@pytest.mark.parametrize(
    "args",
    [("check", "config", "prometheus.yml"), ("check", "rules", "rules.yml"), ("test", "rules", "rules.test.yml")],
    ids=["config", "rules", "rule-tests"],
)
def test_promtool_accepts_it(promtool: str, args: tuple[str, ...]) -> None:
    out = subprocess.run([promtool, *args], cwd=PROM, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_metric_the_rules_name_is_served(client: Any) -> None:
    named = set(re.findall(r"\b(mnist_[a-z_]+)", (PROM / "rules.yml").read_text()))
    assert {"mnist_outbox_depth", "mnist_relay_degraded", "mnist_cassandra_up"} <= named
    served = client.get("/metrics").text
    assert sorted(n for n in named if not re.search(rf"^(# TYPE )?{n}\b", served, re.MULTILINE)) == []
