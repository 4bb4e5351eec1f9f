"""The Open Inference Protocol (v2) door: what Triton/KServe clients send, and what they get
back for every malformed body (400, never 500)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from service.core.card import ModelCard
from service.settings import default_card
from train import mnist


@pytest.fixture(scope="module")
def digits(mnist_test: mnist.Split) -> mnist.Split:
    return mnist_test


def test_oip_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2/models/mnist").json()
    assert meta["name"] == "mnist" and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"] == [-1, 28, 28, 1]
    assert client.get("/v2/models/other").status_code == 404


@pytest.mark.parametrize("flat", [False, True])
def test_oip_infer(client: TestClient, digits: mnist.Split, flat: bool) -> None:
    x = digits.images[:4].astype(np.float32) / 255.0
    shape = [4, 784] if flat else [4, 28, 28, 1]
    body = {
        "id": "req-1",
        "inputs": [{"name": "image", "shape": shape, "datatype": "FP32", "data": x.ravel().tolist()}],
    }
    resp = client.post("/v2/models/mnist/infer", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["id"] == "req-1" and out["model_name"] == "mnist"
    probs = np.asarray(out["outputs"][0]["data"]).reshape(out["outputs"][0]["shape"])
    assert probs.argmax(1).tolist() == digits.labels[:4].tolist()


def blends(digits: mnist.Split, n: int) -> np.ndarray:
    """Two different MNIST digits laid over each other at half ink each: pictures the model
    should not be sure of, beside which the plain digits it is sure of."""
    a, b = digits.images[:n].astype(np.float32), digits.images[n : 2 * n].astype(np.float32)
    return (a + b) / 2 / 255.0


def test_oip_infer_says_which_answers_are_uncertain(client: TestClient, digits: mnist.Split) -> None:
    """Every answer carries `uncertain` (as /v1 does): a BOOL output [N], true where the model's
    confidence is under the card's threshold; named outputs give only what was asked for."""
    x = np.concatenate([digits.images[:8].astype(np.float32) / 255.0, blends(digits, 24)])
    body = {"inputs": [{"name": "image", "shape": [len(x), 784], "datatype": "FP32", "data": x.ravel().tolist()}]}
    out = client.post("/v2/models/mnist/infer", json=body).json()["outputs"]
    assert [(o["name"], o["datatype"], o["shape"]) for o in out] == [
        ("probabilities", "FP32", [len(x), 10]),
        ("uncertain", "BOOL", [len(x)]),
    ]
    probs, uncertain = np.asarray(out[0]["data"]).reshape(len(x), 10), out[1]["data"]
    threshold = ModelCard.load(default_card()).uncertain_below
    assert uncertain == (probs.max(1) < threshold).tolist()
    assert not any(uncertain[:8]) and any(uncertain[8:])  # sure of the digits, not of every blend
    asked = client.post("/v2/models/mnist/infer", json=body | {"outputs": [{"name": "uncertain"}]}).json()
    assert [o["name"] for o in asked["outputs"]] == ["uncertain"] and asked["outputs"][0]["data"] == uncertain
    meta = client.get("/v2/models/mnist").json()
    assert meta["outputs"][1] == {"name": "uncertain", "datatype": "BOOL", "shape": [-1]}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        {"inputs": []},
        {"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "INT8", "data": [0] * 784}]},
        {"inputs": [{"name": "image", "shape": [1, 27, 28, 1], "datatype": "FP32", "data": [0] * 756}]},
        {"inputs": [{"name": "image", "shape": [2, 784], "datatype": "FP32", "data": [0] * 784}]},
        {"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": ["a"] * 784}]},
        {"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": [[1, 2], [3]]}]},
        {"inputs": [{"name": "image", "shape": "wrong", "datatype": "FP32", "data": []}]},
    ],
)
def test_oip_bad_inputs_are_400(client: TestClient, body: Any) -> None:
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    resp = client.post("/v2/models/mnist/infer", **kwargs)
    assert resp.status_code == 400, resp.text
    assert isinstance(resp.json()["error"], str)


def _infer_body(**spec: Any) -> dict[str, Any]:
    tensor = {"name": "image", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784} | spec
    return {"inputs": [tensor]}


def test_oip_json_nested_too_deep_is_400(client: TestClient) -> None:
    for depth in (1_100, 100_000):
        body = "[" * depth + "]" * depth
        resp = client.post("/v2/models/mnist/infer", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == "bad_json"
    # The protocol allows nested data in row-major order: the same 784 values, nested, are fine.
    nested = _infer_body(data=[[[v] for v in range(28)] for _ in range(28)])
    assert client.post("/v2/models/mnist/infer", json=nested).status_code == 200


def test_oip_unknown_input_or_output_names_are_400(client: TestClient) -> None:
    resp = client.post("/v2/models/mnist/infer", json=_infer_body(name="pixels"))
    assert resp.status_code == 400 and resp.json()["code"] == "unknown_input"
    resp = client.post("/v2/models/mnist/infer", json=_infer_body() | {"outputs": [{"name": "logits"}]})
    assert resp.status_code == 400 and resp.json()["code"] == "unknown_output"
    ok = client.post("/v2/models/mnist/infer", json=_infer_body() | {"outputs": [{"name": "probabilities"}]})
    assert ok.status_code == 200 and ok.json()["outputs"][0]["name"] == "probabilities"


def test_oip_errors_use_the_protocols_shape(client: TestClient) -> None:
    resp = client.post("/v2/models/other/infer", json=_infer_body())
    assert resp.status_code == 404 and set(resp.json()) == {"error", "code"}
    assert resp.json()["code"] == "model_not_found"
    big = _infer_body(shape=[2000, 784], data=[0.0])
    assert client.post("/v2/models/mnist/infer", json=big).status_code == 413
