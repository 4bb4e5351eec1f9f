"""The model card's accuracy holds through the HTTP API and the service's preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from train import evaluate, mnist, uploadlike

pytestmark = pytest.mark.slow


def _http_accuracy(client: TestClient, files: list[tuple[str, bytes, int]], per_request: int) -> float:
    correct = 0
    for start in range(0, len(files), per_request):
        chunk = files[start : start + per_request]
        resp = client.post("/v1/predict", files=[("file", (n, d, "image/png")) for n, d, _ in chunk])
        assert resp.status_code == 200, resp.text
        for (name, _, label), item in zip(chunk, resp.json()["predictions"], strict=True):
            assert item["filename"] == name
            correct += item.get("digit") == label
    return correct / len(files)


def test_mnist_test_set_as_png_matches_the_card(client: TestClient, mnist_test: mnist.Split, card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    accuracy = _http_accuracy(client, evaluate.idx_as_png(mnist_test), per_request=16)
    print(f"MNIST test as PNG through HTTP: {accuracy * 100:.2f}% (card {card['mnist_test']['accuracy'] * 100:.2f}%)")
    assert abs(accuracy - card["mnist_test"]["accuracy"]) <= 0.0005


def test_upload_like_set_through_http(client: TestClient, mnist_test: mnist.Split, card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    files = uploadlike.generate(mnist_test, card["upload_like"]["images"])
    accuracy = _http_accuracy(client, files, per_request=8)
    print(f"upload-like set through HTTP: {accuracy * 100:.2f}%")
    assert accuracy >= 0.97
    # The same figure the pipeline measured in-process and wrote to the card.
    assert abs(accuracy - card["upload_like"]["accuracy"]) <= 0.0005
