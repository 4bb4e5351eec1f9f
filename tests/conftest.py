"""Shared fixtures. Server-backed tests that cannot run skip locally, but fail under CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.core.card import ModelCard
from service.core.groups import GroupModel
from service.core.model import OnnxModel
from service.settings import FLOAT_CARD, GROUPS_CARD, Settings, default_card
from tests.cassandra_node import Node
from tests.loopfs import LoopFs, loop_filesystem
from tests.utils import ROOT, free_port, need
from train import mnist


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    found = mnist.default_data_dir()
    need(found is not None, "MNIST not found at ../shared/data/mnist")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> mnist.Split:
    return mnist.load_split(mnist_dir, "t10k")


@pytest.fixture(scope="session")
def card_path() -> Path:
    """The card the service serves by default."""
    card = default_card()
    assert card.is_file(), f"the committed model card is missing: {card}"
    return card


@pytest.fixture(scope="session")
def float_card_path() -> Path:
    """The float model's card: the int8 model is quantised from it."""
    assert FLOAT_CARD.is_file(), f"the committed model card is missing: {FLOAT_CARD}"
    return FLOAT_CARD


@pytest.fixture(scope="session")
def digit_model(card_path: Path) -> OnnxModel:
    """The digit model the service serves by default."""
    return OnnxModel(ModelCard.load(card_path))


@pytest.fixture(scope="session")
def group_model() -> GroupModel:
    """The group model the service reads numbers with."""
    assert GROUPS_CARD.is_file(), f"the committed group model card is missing: {GROUPS_CARD}"
    return GroupModel(OnnxModel(ModelCard.load(GROUPS_CARD)))


@pytest.fixture
def settings(tmp_path: Path, card_path: Path) -> Settings:
    return Settings(model_card=card_path, data_dir=tmp_path / "var")


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    from starlette.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


LOOPBACK = ("127.0.0.1", 50000)  # TestClient's own default ("testclient") is no address at all


def _dangling_images() -> set[str]:
    listed = subprocess.run(
        ["docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(listed.stdout.split())


@pytest.fixture(scope="session")
def docker_base() -> Iterator[str]:
    """A Docker engine (Debian's, no bridge network) and the stand-in base image; yields its tag.
    An engine this session started is stopped when the session ends."""
    need(os.geteuid() == 0, "needs root to install and run a Docker engine")
    running = (
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )
    engine = subprocess.run(
        [str(ROOT / "scripts" / "docker" / "engine")], capture_output=True, text=True, timeout=900, check=False
    )
    need(engine.returncode == 0, f"no Docker engine: {engine.stderr.strip()[-500:]}")
    base = subprocess.run(
        [str(ROOT / "scripts" / "docker" / "base-image")], capture_output=True, text=True, timeout=900, check=True
    ).stdout.strip()
    dangling = _dangling_images()
    yield base
    # Each build of a tag this session rebuilds leaves the image it replaced, with the legacy builder's
    # layers under it, untagged: about 6 GB per full run, which filled this machine's disk in ten
    # runs. Removing the image removes those untagged layers with it.
    for image in _dangling_images() - dangling:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False, timeout=300)
    if not running:
        subprocess.run([str(ROOT / "scripts" / "docker" / "engine"), "--stop"], check=False, timeout=120)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for the session; an existing cluster may be named by CASSANDRA_TEST_CONTACT_POINT."""
    existing = os.environ.get("CASSANDRA_TEST_CONTACT_POINT")
    if existing:
        host, _, port = existing.partition(":")
        yield Node(home=Path("/nonexistent"), host=host, port=int(port or 9042), managed=False)
        return
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    need(java.returncode == 0, "java is not installed")
    # Free ports, chosen now: nothing else on this machine (another run, a dev node) is disturbed.
    n = Node(
        home=tmp_path_factory.mktemp("cassandra"), port=free_port(), storage_port=free_port(), jmx_port=free_port()
    )
    took = n.start()
    print(f"cassandra node ready in {took:.1f} s")
    yield n
    n.stop()


@pytest.fixture
def loop_fs(tmp_path: Path) -> Iterator[LoopFs]:
    """A 48 MB ext4 of the test's own, mounted at tmp_path/mnt."""
    with loop_filesystem(tmp_path / "outbox.ext4", tmp_path / "mnt", "48M") as fs:
        yield fs
