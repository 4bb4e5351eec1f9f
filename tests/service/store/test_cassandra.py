"""Recording in a real Cassandra (scripts/cassandra/start): durable, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.store.cassandra_schema import TABLE_DDL
from tests.cassandra_node import Node, ready, rows, service_env, wait_drained
from tests.utils import (
    ROOT,
    Answers,
    free_port,
    need,
    png_bytes,
    post_image,
    running_service,
    wait_ready,
    wait_workers,
    worker_pids,
)
from train import mnist

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]


@pytest.fixture
def keyspace() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def digit_png(mnist_dir: Path) -> tuple[bytes, int]:
    test = mnist.load_split(mnist_dir, "t10k")
    return png_bytes(np.asarray(test.images[0])), int(test.labels[0])


def test_upload_is_readable_with_cqlsh(node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]) -> None:
    data, label = digit_png
    before = dt.datetime.now(dt.UTC)
    with running_service(env=service_env(node, keyspace, tmp_path / "var")) as (base, _, _):
        status, body = post_image(base + "/v1/predict", data, "ma photo n°1.png")
        assert status == 200
        item = json.loads(body)["predictions"][0]
        wait_drained(base)
        # Read back through the API too: it now comes from Cassandra.
        with urllib.request.urlopen(f"{base}/v1/predictions/{item['id']}") as resp:
            assert json.loads(resp.read())["filename"] == "ma photo n°1.png"
    day = item["created_at"][:10]
    out = node.cql(
        f"SELECT id, created_at, filename, digit FROM {keyspace}.predictions WHERE day = '{day}' AND id = {item['id']}"
    )
    assert item["id"] in out and "ma photo n°1.png" in out and "(1 rows)" in out
    [line] = [ln for ln in out.splitlines() if item["id"] in ln]
    digit_col = line.split("|")[3].strip()
    assert int(digit_col) == label == item["digit"]
    [(_, _, _, created)] = [r for r in rows(node, keyspace) if str(r[0]) == item["id"]]
    created = created.replace(tzinfo=dt.UTC)
    assert before - dt.timedelta(seconds=1) <= created <= dt.datetime.now(dt.UTC)


def test_1000_concurrent_uploads_give_1000_rows_and_survive_a_restart(
    node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]
) -> None:
    data, _ = digit_png
    env = service_env(node, keyspace, tmp_path / "var")

    async def burst(base: str) -> list[str]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

            async def one(i: int) -> str:
                resp = await client.post(
                    "/v1/predict", content=data, headers={"Content-Type": "image/png", "X-Filename": f"burst-{i}.png"}
                )
                assert resp.status_code == 200, resp.text
                return str(resp.json()["predictions"][0]["id"])

            started = time.monotonic()
            tasks = [asyncio.create_task(one(i)) for i in range(1000)]
            sent = time.monotonic() - started
            ids = await asyncio.gather(*tasks)
            print(f"1000 uploads issued in {sent * 1000:.0f} ms, all answered in {time.monotonic() - started:.1f} s")
            return ids

    with running_service(env=env) as (base, _, _):
        ids = asyncio.run(burst(base))
        wait_drained(base)
    assert len(set(ids)) == 1000
    stored = rows(node, keyspace)
    assert len(stored) == 1000
    assert {str(r[0]) for r in stored} == set(ids)
    assert {r[1] for r in stored} == {f"burst-{i}.png" for i in range(1000)}

    # A restart keeps every row (no DROP, no truncation) and adds the new ones.
    with running_service(env=env) as (base, _, _):
        status, _ = post_image(base + "/v1/predict", data, "after-restart.png")
        assert status == 200
        wait_drained(base)
    assert len(rows(node, keyspace)) == 1001


def test_cassandra_outage_loses_nothing(
    node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]
) -> None:
    need(node.managed, "needs a node this test may kill")
    data, _ = digit_png
    answered: list[str] = []
    statuses: list[int] = []
    with running_service(env=service_env(node, keyspace, tmp_path / "var")) as (base, _, _):
        down_at = 100
        for i in range(500):
            if i == down_at:
                node.kill()  # SIGKILL, mid-stream
                killed = time.monotonic()
            if i > down_at and time.monotonic() - killed < 15:
                time.sleep(0.03)  # keep uploading through ~15 s of outage
            status, body = post_image(base + "/v1/predict", data, f"outage-{i}.png")
            statuses.append(status)
            if status == 200:
                answered.append(json.loads(body)["predictions"][0]["id"])
        while time.monotonic() - killed < 15:
            time.sleep(0.2)
        store = ready(base)["store"]
        assert isinstance(store, dict)
        assert store["cassandra_reachable"] is False and int(store["outbox_depth"]) > 0
        node.start()  # same data directory
        wait_drained(base, timeout=180)
    assert statuses == [200] * 500
    stored = rows(node, keyspace)
    missing = sorted(set(answered) - {str(r[0]) for r in stored})
    assert missing == [], f"lost {len(missing)}: {missing}"  # zero lost
    assert len(stored) == 500  # zero duplicated


def test_service_killed_with_a_full_outbox_drains_on_restart(
    node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]
) -> None:
    need(node.managed, "needs a node this test may kill")
    data, _ = digit_png
    env = service_env(node, keyspace, tmp_path / "var")
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/readyz", proc=proc)
        node.kill()
        answers = Answers(base + "/v1/predict", data)
        for i in range(50):
            assert answers.upload(f"kill-{i}.png"), answers.errors
        answered = answers.answered
        store = ready(base)["store"]
        assert isinstance(store, dict) and store["outbox_depth"] == 50
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    node.start()
    with running_service(env=env) as (base2, _, _):
        wait_drained(base2)
    assert {str(r[0]) for r in rows(node, keyspace)} == set(answered)


def test_strict_start_up_is_the_preflight_and_a_worker_replaced_in_an_outage_starts(
    node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]
) -> None:
    """CASSANDRA_STRICT_STARTUP stops start-up when Cassandra is unreachable (the parametrised test
    below); once the service has started, a worker that dies during an outage is replaced, and
    the replacement starts like any worker, recording into the outbox. Before, it refused to
    start and uvicorn stopped the whole service ("the server exited ... after 2 of 3 workers")."""
    need(node.managed, "needs a node this test may kill")
    data, _ = digit_png
    env = service_env(
        node, keyspace, tmp_path / "var", CASSANDRA_STRICT_STARTUP="true", CASSANDRA_CONNECT_TIMEOUT_S="2"
    )
    log = tmp_path / "server.log"
    with running_service(env=env, args=("--workers", "2"), log=log) as (base, proc, _):
        answers = Answers(base + "/v1/predict", data)
        node.kill()
        try:
            first = worker_pids(proc.pid)
            os.kill(first[0], signal.SIGKILL)
            wait_workers(log, 3, proc)  # the replacement started, during the outage
            for i in range(20):
                assert answers.upload(f"outage-{i}.png"), answers.errors
            assert proc.poll() is None and len(worker_pids(proc.pid)) == 2
        finally:
            node.start()
        wait_drained(base, timeout=180)
    assert "Child process failed to start" not in log.read_text()
    assert {str(r[0]) for r in rows(node, keyspace)} == set(answers.answered)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"CASSANDRA_PORT": "1", "CASSANDRA_STRICT_STARTUP": "true"}, "no Cassandra host answered"),
        ({"CASSANDRA_CONTACT_POINTS": "127.0.0.254", "CASSANDRA_STRICT_STARTUP": "true"}, "no Cassandra host answered"),
        ({"CASSANDRA_PASSWORD": "wrong"}, "Bad credentials"),
        ({"CASSANDRA_MIGRATE": "false", "CASSANDRA_KEYSPACE": "no_such_keyspace"}, "does not exist"),
        ({"CASSANDRA_KEYSPACE": "bad-name"}, "CASSANDRA_KEYSPACE"),
    ],
)
def test_wrong_settings_are_one_clear_line(node: Node, tmp_path: Path, change: dict[str, str], expected: str) -> None:
    env = {**os.environ, **service_env(node, "anything", tmp_path / "var"), **change}
    result = subprocess.run(
        [sys.executable, "-m", "service", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


def test_unreachable_at_start_up_serves_and_buffers(tmp_path: Path, digit_png: tuple[bytes, int]) -> None:
    """An edge host that boots before its database: nothing answers on the port at all."""
    env = {**service_env(Node(home=tmp_path), "anything", tmp_path / "var"), "CASSANDRA_PORT": str(free_port())}
    with running_service(env=env, log=tmp_path / "server.log") as (base, _, took):
        status, _ = post_image(base + "/v1/predict", digit_png[0], "offline.png")
        assert status == 200
        body = ready(base)
        store = body["store"]
        assert isinstance(store, dict) and body["status"] == "degraded" and store["outbox_depth"] == 1
        assert store["cassandra_reachable"] is False
        assert any("not connected yet" in r for r in store["reasons"])
        with pytest.raises(urllib.error.HTTPError) as err:  # the history lives in Cassandra: 503, honestly
            urllib.request.urlopen(base + "/v1/predictions", timeout=10)
        assert err.value.code == 503 and err.value.headers["Retry-After"]
        err.value.close()
    assert took < 15, "start-up must not wait for the database"
    assert "serving, and recording into the outbox" in (tmp_path / "server.log").read_text()


def test_boot_while_cassandra_is_down_then_drain_when_it_appears(
    node: Node, keyspace: str, tmp_path: Path, digit_png: tuple[bytes, int]
) -> None:
    need(node.managed, "needs a node this test may stop")
    data, _ = digit_png
    node.kill()
    try:
        with running_service(env=service_env(node, keyspace, tmp_path / "var")) as (base, _, _):
            answers = Answers(base + "/v1/predict", data)
            for i in range(50):
                assert answers.upload(f"early-{i}.png"), answers.errors
            answered = answers.answered
            store = ready(base)["store"]
            assert isinstance(store, dict) and store["outbox_depth"] == 50 and not store["cassandra_reachable"]
            node.start()  # the database appears; nobody restarts the service
            wait_drained(base, timeout=180)
            assert ready(base)["status"] == "ready"
    finally:
        node.start()  # idempotent: the session's other tests need the node
    assert {str(r[0]) for r in rows(node, keyspace)} == set(answered)


def test_migrate_is_idempotent_and_never_drops(node: Node, keyspace: str, tmp_path: Path) -> None:
    env = {**os.environ, **service_env(node, keyspace, tmp_path / "var")}
    # A table as the first schema made it (before the `door` column), with a row in it.
    node.cql(f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    old_ddl = TABLE_DDL.format(keyspace=keyspace, ttl=0)
    assert "door" not in old_ddl
    node.cql(old_ddl)
    old_id = uuid.uuid1()
    node.cql(
        f"INSERT INTO {keyspace}.predictions (day, id, created_at, filename, digit, confidence, probabilities, "
        f"model_sha, image_sha256, image_bytes, width, height, client, latency_ms) VALUES ('{dt.date.today()}', "
        f"{old_id}, toTimestamp(now()), 'old.png', 3, 0.9, [0.1], 'm', 'i', 1, 28, 28, '', 1.0)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=ROOT, env=env, check=True, timeout=120)
    node.cql(f"INSERT INTO {keyspace}.predictions (day, id, filename, digit) VALUES ('2026-01-01', now(), 'x', 1)")
    subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=ROOT, env=env, check=True, timeout=120)
    assert len(rows(node, keyspace)) == 2
    desc = node.cql(f"DESCRIBE TABLE {keyspace}.predictions")
    assert "PRIMARY KEY (day, id)" in desc and "CLUSTERING ORDER BY (id DESC)" in desc
    assert all(f"{column} text" in desc for column in ("door", "text", "digits"))
    # A row written before the column existed reads back with the default door.
    with running_service(env=service_env(node, keyspace, tmp_path / "var")) as (base, _, _):
        wait_drained(base)  # connected (it connects in the background; reads answer 503 until then)
        with urllib.request.urlopen(f"{base}/v1/predictions/{old_id}") as resp:
            old = json.loads(resp.read())
    assert (old["filename"], old["digit"], old["door"], old["text"]) == ("old.png", 3, "v1", "")


def test_a_read_number_is_recorded_in_cassandra(node: Node, keyspace: str, tmp_path: Path) -> None:
    """/v1/read records the text as the result and each digit with its box, in the table's
    `text` and `digits` columns (added by the migration)."""
    from tests.handwriting import png, written

    with running_service(env=service_env(node, keyspace, tmp_path / "var")) as (base, _, _):
        status, body = post_image(base + "/v1/read", png(written("1789", pen=6)[0]), "date.png")
        assert status == 200, body
        item = json.loads(body)["readings"][0]
        assert item["text"] == "1789"
        wait_drained(base)
    day = item["created_at"][:10]
    out = node.cql(
        f"SELECT filename, digit, text, digits FROM {keyspace}.predictions WHERE day = '{day}' AND id = {item['id']}"
    )
    [line] = [ln for ln in out.splitlines() if "date.png" in ln]
    filename, digit, text, digits = (cell.strip() for cell in line.split("|"))
    assert (filename, digit, text) == ("date.png", "-1", "1789")
    assert [d["digit"] for d in json.loads(digits)] == [1, 7, 8, 9]
    assert [d["box"] for d in json.loads(digits)] == [d["box"] for d in item["digits"]]
