"""A power cut under the node: every acknowledged record must survive it (README, "Durability
contract"). The node's commit log lives on a loop-mounted ext4; the node is frozen (the host
vanished without resetting connections), the filesystem is shut down without flushing anything
(what was not fsynced is gone), the node is killed and started again on the remounted filesystem.

The service asks the node what its acknowledgements mean: with the project's `commitlog_sync:
group` they mean fsynced, and the outbox forgets a record as soon as it is acknowledged.

The control: the same test with the node on Cassandra's default and no hold fails —
`POWER_CUT_COMMITLOG_SYNC=periodic POWER_CUT_ACK_HOLD_S=0 pytest -k power_cut_under` lost 600 of
600 acknowledged records here."""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.cassandra_node import Node, ready, rows, service_env, wait_drained
from tests.loopfs import loop_filesystem
from tests.utils import free_port, png_bytes, post, running_service
from train import mnist

pytestmark = [pytest.mark.cassandra, pytest.mark.slow, pytest.mark.faults]

BEFORE, DURING = 600, 150  # uploads before the cut (acknowledged by the node) and while it is gone


def test_the_power_cut_drops_what_was_not_fsynced(tmp_path: Path) -> None:
    """The harness itself: after the cut, fsynced data is there and unsynced data is not."""
    with loop_filesystem(tmp_path / "disk.ext4", tmp_path / "mnt", "32M") as fs:
        synced, unsynced = fs.mnt / "synced", fs.mnt / "unsynced"
        with synced.open("wb") as fh:
            fh.write(b"s" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        unsynced.write_bytes(b"u" * 65536)
        fs.cut_power()
        fs.power_on()
        assert synced.read_bytes() == b"s" * 65536
        assert not unsynced.exists() or unsynced.read_bytes() != b"u" * 65536


def _upload(base: str, data: bytes, name: str) -> str | None:
    status, _, body = post(base + "/v1/predict", data, {"Content-Type": "image/png", "X-Filename": name})
    return json.loads(body)["predictions"][0]["id"] if status == 200 else None


def test_power_cut_under_the_node_loses_no_answered_record(tmp_path: Path, mnist_dir: Path) -> None:
    data = png_bytes(np.asarray(mnist.load_split(mnist_dir, "t10k").images[7]))
    keyspace = f"t_{uuid.uuid4().hex[:12]}"
    home = tmp_path / "node"
    with loop_filesystem(tmp_path / "commitlog.ext4", home / "commitlog", "384M") as disk:
        sync = os.environ.get("POWER_CUT_COMMITLOG_SYNC", "group")  # the control: see above
        hold = os.environ.get("POWER_CUT_ACK_HOLD_S", "auto")
        node = Node(
            home=home,
            port=free_port(),
            storage_port=free_port(),
            jmx_port=free_port(),
            extra={"CASSANDRA_COMMITLOG_SYNC": sync},
        )
        node.start()
        try:
            env = service_env(node, keyspace, tmp_path / "var", CASSANDRA_ACK_HOLD_S=hold)
            server = running_service(env=env, log=tmp_path / "server.log")
            with server as (base, proc, _), ThreadPoolExecutor(8) as pool:
                answered = [i for i in pool.map(lambda k: _upload(base, data, f"a{k}.png"), range(BEFORE)) if i]
                assert len(answered) == BEFORE
                wait_drained(base, timeout=60)  # every record acknowledged by the node, none held
                durability = str(ready(base)["store"]["durability"])  # type: ignore[index]
                if (sync, hold) == ("group", "auto"):
                    assert "fsynced" in durability and "no hold" in durability, durability

                node.freeze()
                disk.cut_power()
                node.kill()
                during = [i for i in pool.map(lambda k: _upload(base, data, f"d{k}.png"), range(DURING)) if i]
                assert len(during) == DURING, "the service stops answering while its database is gone"
                disk.power_on()
                restarted = time.monotonic()
                node.start()
                wait_drained(base, timeout=120)
                print(f"node back and outbox drained in {time.monotonic() - restarted:.1f} s; {durability}")
                assert proc.poll() is None
            stored = [str(r[0]) for r in rows(node, keyspace)]
        finally:
            node.stop()
    lost = set(answered + during) - set(stored)
    print(f"power cut: {len(answered)} acknowledged before it, {len(during)} answered during it, {len(lost)} lost")
    assert not lost, f"{len(lost)} answered records lost"
    assert sorted(stored) == sorted(answered + during), "a record stored twice or one never answered"
