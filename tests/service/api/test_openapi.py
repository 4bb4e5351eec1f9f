"""The OpenAPI document is complete and true: schemathesis, with every check, finds nothing
against the running service (bounded examples, fixed seed), with and without tokens; the README's
route table agrees with the document."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.utils import ROOT, running_service

pytestmark = pytest.mark.slow
READ_TOKEN = "read-token-for-the-fuzzer-0001"


def _schemathesis(base: str, *extra: str) -> str:
    result = subprocess.run(
        [
            str(Path(ROOT / ".venv" / "bin" / "schemathesis")),
            "run",
            base + "/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "20261125",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert re.search(r"(\d+) generated, \1 passed", out), out[-3000:]
    return out


@pytest.mark.parametrize("tokens", [False, True])
def test_schemathesis_finds_nothing(tmp_path: Path, tokens: bool) -> None:
    env = {"MNIST_DATA_DIR": str(tmp_path / "var"), "MNIST_LOG_LEVEL": "WARNING"}
    if tokens:
        env |= {"MNIST_READ_TOKENS": READ_TOKEN, "MNIST_PREDICT_TOKENS": "predict-token-for-the-fuzzer"}
    with running_service(env=env) as (base, proc, _):
        _schemathesis(base, *(("-H", f"Authorization: Bearer {READ_TOKEN}") if tokens else ()))
        if tokens:
            _schemathesis(base)  # and without one: 401s, never a 5xx or an undocumented status
        assert proc.poll() is None


def test_the_readme_lists_every_route(tmp_path: Path) -> None:
    with (
        running_service(env={"MNIST_DATA_DIR": str(tmp_path / "var")}) as (base, _, _),
        urllib.request.urlopen(base + "/openapi.json") as resp,
    ):
        paths = json.loads(resp.read())["paths"]
    readme = (ROOT / "README.md").read_text()
    api = readme[readme.index("## API") : readme.index("Every error is JSON")]
    documented = set(re.findall(r"`(?:GET|POST) (/[^` ?]*)", api))
    routes = {p.replace("/versions/{version}", "") for p in paths}
    assert routes - documented == set(), "routes the README's table lacks"
    assert documented - routes - {"/openapi.json"} == set(), "README routes the service lacks"
    # The error table's statuses are the ones the operations declare (405 and 408 come from the
    # router and the server's deadlines, for every operation alike).
    errors = readme[readme.index("| status | codes |") : readme.index("In a multi-file upload")]
    in_readme = {int(code) for code in re.findall(r"^\| (\d{3}) \|", errors, re.MULTILINE)}
    declared = {int(c) for ops in paths.values() for op in ops.values() for c in op["responses"] if str(c).isdigit()}
    assert in_readme - {405, 408} == {c for c in declared if c >= 400}
