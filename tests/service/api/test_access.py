"""Who may read what: 401/403 on every protected route, loopback-only history without tokens,
tokens never in a log line, the client's address hashed by default, security headers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import LOOPBACK
from tests.utils import png_bytes
from train import mnist

REMOTE = ("203.0.113.7", 40000)  # a documentation address: anyone on the network
PREDICT_TOKEN, READ_TOKEN = "p-" + "x" * 30, "r-" + "y" * 30
PNG = png_bytes(np.zeros((28, 28), np.uint8))


def _predict(c: TestClient, data: bytes, **headers: str) -> Any:
    return c.post("/v1/predict", content=data, headers={"Content-Type": "image/png", **headers})


def _reads(c: TestClient, headers: dict[str, str]) -> list[int]:
    """The status of every read route (history, one record, metrics)."""
    paths = ["/v1/predictions", f"/v1/predictions/{uuid.uuid1()}", "/metrics"]
    return [c.get(p, headers=headers).status_code for p in paths]


@pytest.fixture
def seven(mnist_test: mnist.Split) -> bytes:
    return png_bytes(np.asarray(mnist_test.images[0]))


@pytest.fixture
def tokens_app(tmp_path: Path, card_path: Path) -> Iterator[Any]:
    settings = Settings(
        model_card=card_path, data_dir=tmp_path, predict_tokens=(PREDICT_TOKEN,), read_tokens=(READ_TOKEN,)
    )
    app = create_app(settings)
    with TestClient(app, client=REMOTE):  # runs the lifespan once
        yield app


def test_without_tokens_predicting_is_open_and_history_is_loopback_only(
    tmp_path: Path, card_path: Path, seven: bytes
) -> None:
    app = create_app(Settings(model_card=card_path, data_dir=tmp_path))
    with TestClient(app, client=REMOTE) as remote, TestClient(app, client=LOOPBACK) as local:
        assert _predict(remote, seven).status_code == 200
        assert _reads(remote, {}) == [403, 403, 403]
        body = remote.get("/v1/predictions").json()
        assert body["error"]["code"] == "forbidden" and "MNIST_READ_TOKENS" in body["error"]["message"]
        assert "Latest predictions" not in remote.get("/").text  # the page shows no history either
        assert _reads(local, {}) == [200, 404, 200]
        assert "Latest predictions" in local.get("/").text


def test_with_tokens_every_protected_route_wants_the_right_one(tokens_app: Any, seven: bytes) -> None:
    for client in (REMOTE, LOOPBACK):  # a token is a token: loopback is no exception once they exist
        with TestClient(tokens_app, client=client) as c:
            assert _predict(c, seven).status_code == 401
            assert _predict(c, seven, Authorization="Bearer wrong-token-wrong-token").status_code == 401
            assert _predict(c, seven, Authorization=f"Basic {PREDICT_TOKEN}").status_code == 401
            assert _predict(c, seven, Authorization=f"Bearer {PREDICT_TOKEN}").status_code == 200
            assert _predict(c, seven, Authorization=f"Bearer {READ_TOKEN}").status_code == 200  # read includes predict
            oip = {"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}]}
            assert c.post("/v2/models/mnist/infer", json=oip).status_code == 401
            auth = {"Authorization": f"Bearer {PREDICT_TOKEN}"}
            assert c.post("/v2/models/mnist/infer", json=oip, headers=auth).status_code == 200
            assert c.post("/", files={"file": ("d.png", seven, "image/png")}).status_code == 401
            assert _reads(c, {}) == [401, 401, 401]
            assert _reads(c, {"Authorization": "Bearer wrong-token-wrong-token"}) == [401, 401, 401]
            assert _reads(c, {"Authorization": f"Bearer {PREDICT_TOKEN}"}) == [403, 403, 403]
            assert _reads(c, {"Authorization": f"Bearer {READ_TOKEN}"}) == [200, 404, 200]
            # What stays open: health, the model card, OIP metadata, the API description, the page.
            for path in ("/healthz", "/readyz", "/v1/model", "/v2/models/mnist", "/openapi.json", "/"):
                assert c.get(path).status_code == 200, path


def test_no_token_reaches_a_log_line(tokens_app: Any, seven: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(tokens_app, client=REMOTE) as c:
        for token in (PREDICT_TOKEN, READ_TOKEN, "a-wrong-token-of-some-length"):
            _predict(c, seven, Authorization=f"Bearer {token}")
            _reads(c, {"Authorization": f"Bearer {token}"})
            body = c.get("/v1/predictions", headers={"Authorization": f"Bearer {token}"}).text
            assert token not in body
    text = caplog.text + repr(Settings(predict_tokens=(PREDICT_TOKEN,), read_tokens=(READ_TOKEN,)))
    assert PREDICT_TOKEN not in text and READ_TOKEN not in text and "a-wrong-token" not in text


@pytest.mark.parametrize(("mode", "expected"), [("hashed", "h:"), ("raw", "203.0.113.7"), ("none", "")])
def test_the_clients_address_is_stored_as_asked(
    tmp_path: Path, card_path: Path, seven: bytes, mode: str, expected: str
) -> None:
    app = create_app(Settings(model_card=card_path, data_dir=tmp_path, client_address=mode))
    with TestClient(app, client=REMOTE) as remote, TestClient(app, client=LOOPBACK) as local:
        first = _predict(remote, seven).json()["predictions"][0]
        second = _predict(remote, seven).json()["predictions"][0]
        stored = local.get(f"/v1/predictions/{first['id']}").json()["client"]
    assert stored == first["client"] == second["client"]  # the same client, the same value
    if mode == "hashed":
        assert stored.startswith("h:") and "203.0.113.7" not in stored and len(stored) == 18
        assert (tmp_path / "client-hash.key").stat().st_mode & 0o077 == 0  # the key is the owner's alone
    else:
        assert stored == expected


def test_a_data_directory_that_cannot_be_made_yet_leaves_the_service_up_and_refusing(
    tmp_path: Path, card_path: Path, seven: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The data directory (the store's file, the client-address key) cannot be made when the app
    starts: it starts anyway (uvicorn stops every worker for one that fails to start), says why it
    is not ready, refuses uploads with 503, and once the directory can be made records them, the
    client's address hashed with the key it then keeps there."""
    from service.api import access
    from service.store import sqlite_open

    monkeypatch.setattr(sqlite_open, "REOPEN_S", 0.0)
    monkeypatch.setattr(access, "KEY_RETRY_S", 0.0)
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    app = create_app(Settings(model_card=card_path, data_dir=blocker / "var", client_address="hashed"))
    logging.getLogger().addHandler(caplog.handler)  # the app set up logging afresh, without it
    with TestClient(app, client=REMOTE) as remote, TestClient(app, client=LOOPBACK) as local:
        started = [r for r in caplog.records if r.name == "service" and " in " in r.getMessage()]
        assert started and {r.levelname for r in started} == {"WARNING"}, caplog.text  # a lifespan per client
        assert all(r.getMessage().startswith("started, not ready in ") for r in started)
        assert all("cannot open predictions.sqlite3" in r.getMessage() for r in started)
        ready = local.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        reasons = ready.json()["store"]["reasons"]  # once, not again as a failed read of the same file
        assert len(reasons) == 1 and "cannot open predictions.sqlite3" in reasons[0], reasons
        refused = _predict(remote, seven)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "store_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        blocker.unlink()
        answered = _predict(remote, seven)
        assert answered.status_code == 200, answered.text
        record = answered.json()["predictions"][0]
        assert local.get(f"/v1/predictions/{record['id']}").json()["client"] == record["client"]
        assert record["client"].startswith("h:") and (blocker / "var" / "client-hash.key").is_file()
        assert local.get("/readyz").json()["status"] == "ready"


def test_security_headers(client: TestClient) -> None:
    for path in ("/", "/v1/model", "/static/app.js", "/nope"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
    page = client.get("/").text
    assert "<script>" not in page and "style=" not in page  # nothing inline for the policy to forbid
    assert 'href="static/style.css"' in page and 'src="static/app.js"' in page  # relative: works under a prefix
