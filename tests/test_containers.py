"""Both images built and run: the training image in smoke mode, the runtime image against Cassandra.

The engine is Debian's docker.io (scripts/docker/engine) with no bridge network: everything runs
with --network host and binds 127.0.0.1. The base image is a local stand-in for python:3.11-slim
(scripts/docker/base-image), since no image can be pulled here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cassandra_node import Node, rows, service_env, wait_drained
from tests.utils import ROOT, free_port, png_bytes, post_image, wait_ready
from train import mnist

pytestmark = [pytest.mark.docker, pytest.mark.slow]
RUNTIME = "mnist-service:test"
TRAIN = "mnist-train:test"
ARTIFACTS = ROOT / "artifacts" / "test"
MB = 1_000_000


def docker(*args: str, check: bool = True, timeout: float = 1800, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=timeout, **kw)
    if check:  # what docker said, not only its exit code (a full disk once read as "exit status 1")
        assert done.returncode == 0, f"docker {' '.join(args[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


@pytest.fixture(scope="module")
def images(docker_base: str) -> dict[str, str]:
    base = docker_base
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    for tag, dockerfile in ((RUNTIME, "Dockerfile"), (TRAIN, "Dockerfile.train")):
        started = time.monotonic()
        docker(
            "build",
            "-q",
            "--force-rm",  # a failed step leaves no container behind either
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-f",
            dockerfile,
            "-t",
            tag,
            ".",
            cwd=ROOT,
            env=env,
        )
        print(f"built {tag} in {time.monotonic() - started:.0f} s")
    return {"base": base, "runtime": RUNTIME, "train": TRAIN}


def test_image_sizes(images: dict[str, str]) -> None:
    base, runtime, train = (image_size(images[k]) for k in ("base", "runtime", "train"))
    sizes = {
        "base_mb": round(base / MB, 1),
        "runtime_mb": round(runtime / MB, 1),
        "train_mb": round(train / MB, 1),
        "runtime_adds_mb": round((runtime - base) / MB, 1),
        "train_over_runtime": round(train / runtime, 2),
    }
    print(f"image sizes: {sizes}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "container-sizes.json").write_text(json.dumps(sizes, indent=2) + "\n")
    assert runtime - base <= 150 * MB
    assert runtime * 6 <= train


def test_training_image_smoke_run_writes_a_valid_model(images: dict[str, str], mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    docker(
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        f"{mnist_dir}:/data:ro",
        "-v",
        f"{out}:/out",
        images["train"],
        "--smoke",
        timeout=1200,
    )
    card = json.loads((out / "mnist-cnn.card.json").read_text())
    assert card["parity"]["images"] >= 1000 and card["parity"]["max_abs_diff"] <= 1e-5
    assert card["parity"]["argmax_mismatches"] == 0
    from service.core.card import ModelCard
    from service.core.model import OnnxModel

    model = OnnxModel(ModelCard.load(out / "mnist-cnn.card.json"))  # checks the sha256 too
    test = mnist.load_split(mnist_dir, "t10k")
    acc = float(np.mean(model.predict(test.images[:1000]).argmax(1) == test.labels[:1000]))
    assert acc > 0.9  # three short epochs on 6,000 images


@pytest.fixture
def runtime_container(images: dict[str, str], node: Node, tmp_path: Path) -> Iterator[tuple[str, str, float]]:
    keyspace = f"c_{uuid.uuid4().hex[:10]}"
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)  # the image's user (uid 10001) writes its outbox here
    port = free_port()
    env = service_env(node, keyspace, Path("/data"), MNIST_HOST="127.0.0.1", MNIST_PORT=str(port))
    args = [
        "run",
        "-d",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        f"{data}:/data",
        "--health-interval",
        "1s",
        "--health-start-period",
        "2s",
    ]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    started = time.monotonic()
    cid = docker(*args, images["runtime"]).stdout.strip()  # the image's own command, on loopback
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", timeout=120)
        took = time.monotonic() - started
        print(f"runtime container start to ready: {took:.2f} s")
        (ARTIFACTS / "container-start.json").write_text(json.dumps({"start_to_ready_s": round(took, 2)}) + "\n")
        yield cid, base, took
    finally:
        logs = docker("logs", cid, check=False)
        print(logs.stdout[-2000:], logs.stderr[-2000:])
        docker("rm", "-f", cid, check=False)


def test_runtime_image_predicts_and_records_in_cassandra(
    runtime_container: tuple[str, str, float], node: Node, mnist_test: mnist.Split
) -> None:
    cid, base, _ = runtime_container
    index = int(np.nonzero(mnist_test.labels == 4)[0][0])
    status, body = post_image(base + "/v1/predict", png_bytes(255 - mnist_test.images[index]), "four.png")
    assert status == 200, body
    item = json.loads(body)["predictions"][0]
    assert item["digit"] == 4
    wait_drained(base)
    keyspace = docker("exec", cid, "sh", "-c", "echo $CASSANDRA_KEYSPACE").stdout.strip()
    stored = {str(r[0]): r for r in rows(node, keyspace)}
    assert stored[item["id"]][1:3] == ("four.png", 4)
    # The slim image's Pillow reads AVIF too (its wheels carry libavif).
    avif = io.BytesIO()
    Image.fromarray(255 - mnist_test.images[index]).save(avif, format="AVIF", quality=90)
    status, body = post_image(base + "/v1/predict", avif.getvalue(), "four.avif", "image/avif")
    assert status == 200 and json.loads(body)["predictions"][0]["digit"] == 4, body


def test_runtime_image_is_non_root_healthy_and_has_no_tensorflow(
    runtime_container: tuple[str, str, float], images: dict[str, str]
) -> None:
    cid, _, _ = runtime_container
    assert docker("exec", cid, "id", "-u").stdout.strip() == "10001"
    deadline = time.monotonic() + 60
    while docker("inspect", "--format", "{{.State.Health.Status}}", cid).stdout.strip() != "healthy":
        assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
        time.sleep(0.5)
    probe = docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "python",
        images["runtime"],
        "-c",
        "import tensorflow",
        check=False,
    )
    assert probe.returncode != 0 and "No module named 'tensorflow'" in probe.stderr
    # Nothing of the build side ships: no compilers, no pip in the app's venv, no tests, no project sources
    # beyond the service package.
    for probe_cmd in (
        "command -v gcc",
        "command -v cc",
        "test -e /opt/venv/bin/pip",
        "test -e /src",
        "ls /opt/venv/lib/python3.11/site-packages/train",
    ):
        assert docker("exec", cid, "sh", "-c", probe_cmd, check=False).returncode != 0, probe_cmd


def test_compose_file_validates(images: dict[str, str]) -> None:
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    import yaml

    rendered = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    services = yaml.safe_load(rendered)["services"]
    assert {"cassandra", "migrate", "service", "train"} <= set(services)
    assert services["train"]["profiles"] == ["train"]  # training only when asked for
    assert services["service"]["read_only"] is True
    assert "healthcheck" in services["cassandra"]
    assert services["service"]["ports"]  # the default (bridge) stack publishes the service on loopback
    host_files = [
        "-f",
        "docker-compose.yml",
        "-f",
        "docker/compose.cassandra-local.yml",
        "-f",
        "docker/compose.host.yml",
    ]
    rendered = subprocess.run(
        ["docker-compose", *host_files, "config"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    host = yaml.safe_load(rendered)["services"]
    for name in ("cassandra", "migrate", "service"):
        assert host[name]["network_mode"] == "host" and "ports" not in host[name], name
    assert host["cassandra"]["build"]["dockerfile"] == "docker/cassandra/Dockerfile"
