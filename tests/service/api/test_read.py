"""POST /v1/read: whole numbers over HTTP, recorded like predictions; the `uncertain` flag."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from service.app import create_app
from service.core.card import ModelCard
from service.core.groups import GroupModel
from service.core.model import OnnxModel
from service.settings import Settings
from tests.handwriting import png, written
from tests.utils import post_image, running_service
from train import figures, mnist, numbers


def _raw(client: Any, data: bytes, name: str = "n.png") -> Any:
    return client.post("/v1/read", content=data, headers={"Content-Type": "image/png", "X-Filename": name})


def test_a_number_is_read_and_recorded(client: Any) -> None:
    img, boxes = written("2026", pen=5)
    resp = _raw(client, png(img), "year.png")
    assert resp.status_code == 200, resp.text
    (item,) = resp.json()["readings"]
    assert (item["filename"], item["text"]) == ("year.png", "2026")
    assert [d["digit"] for d in item["digits"]] == [2, 0, 2, 6]
    assert item["uncertain"] is False and 0.5 < item["confidence"] <= 1.0
    # Left to right, each box on its drawn digit, in the uploaded picture's pixels.
    for d, (x, _, w, _) in zip(item["digits"], boxes, strict=True):
        assert abs(d["box"][0] + d["box"][2] / 2 - (x + w / 2)) < w / 3
    assert (item["image"]["width"], item["image"]["height"]) == img.size
    # Recorded: the text as the result, and each digit with its confidence and box.
    stored = client.get(f"/v1/predictions/{item['id']}").json()
    assert (stored["text"], stored["digit"], stored["filename"]) == ("2026", None, "year.png")
    assert stored["digits"] == [{k: d[k] for k in ("digit", "confidence", "box")} for d in item["digits"]]
    assert client.get("/v1/predictions?limit=1").json()["items"][0]["text"] == "2026"


def test_several_files_and_their_own_errors(client: Any) -> None:
    files = [
        ("file", ("a.png", png(written("47", pen=6)[0]), "image/png")),
        ("file", ("blank.png", png(Image.new("L", (200, 80), 255)), "image/png")),
        ("file", ("long.png", png(written("1234567890123", pen=4)[0]), "image/png")),
        ("file", ("junk.png", b"not a picture", "image/png")),
    ]
    resp = client.post("/v1/read", files=files)
    assert resp.status_code == 200
    items = resp.json()["readings"]
    assert items[0]["text"] == "47"
    assert [(i["status"], i["error"]["code"]) for i in items[1:]] == [
        (422, "no_ink"),
        (422, "not_a_number"),
        (415, "unsupported_image_type"),
    ]


def test_when_every_file_fails_the_status_is_the_first_error(client: Any) -> None:
    resp = _raw(client, png(Image.new("L", (200, 80), 255)))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "no_ink"
    assert client.get("/v1/predictions?limit=5").json()["items"] == []  # nothing recorded


def test_single_digit_answers_carry_the_flag_and_their_text(client: Any) -> None:
    img, _ = written("7", pen=6)
    item = client.post("/v1/predict", files=[("file", ("7.png", png(img), "image/png"))]).json()["predictions"][0]
    assert item["digit"] == 7 and item["text"] == "7" and item["uncertain"] is False


@pytest.mark.parametrize(("threshold", "flagged"), [(1.01, True), (0.0, False)])
def test_the_flag_follows_the_cards_threshold(tmp_path: Path, card_path: Path, threshold: float, flagged: bool) -> None:
    card = ModelCard.load(card_path)
    (tmp_path / card.model_file.name).write_bytes(card.model_file.read_bytes())  # a card sits beside its model
    copy = dataclasses.replace(
        card, model_file=tmp_path / card.model_file.name, figures=card.figures | {"uncertain": {"threshold": threshold}}
    )
    written_card = copy.write(tmp_path / "card.json")
    assert written_card.uncertain_below == threshold
    settings = Settings(model_card=tmp_path / "card.json", data_dir=tmp_path / "var")
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as c:
        reading = _raw(c, png(written("31", pen=6)[0])).json()["readings"][0]
        assert reading["uncertain"] is flagged and all(d["uncertain"] is flagged for d in reading["digits"])
        predicted = c.post("/v1/predict", files=[("file", ("3.png", png(written("3")[0]), "image/png"))])
        assert predicted.json()["predictions"][0]["uncertain"] is flagged


def test_generated_numbers_over_http_read_as_the_core_reads_them(
    tmp_path: Path, mnist_test: mnist.Split, card_path: Path, group_model: GroupModel
) -> None:
    """The numbers set (a small slice) through a real server: each answer is what the evaluation
    command's reading gives, and most are right, touching pairs included."""
    model = OnnxModel(ModelCard.load(card_path))
    sample = numbers.generate(mnist_test, per_cell=2)
    right = {"separated": 0, "touching": 0}
    with running_service(env={"MNIST_DATA_DIR": str(tmp_path / "var")}) as (base, _, _):
        for n in sample:
            status, body = post_image(base + "/v1/read", n.data, n.filename)
            text = json.loads(body)["readings"][0].get("text", "") if status == 200 else ""
            assert text == figures.read_number(model, n.data, group_model), n.filename
            right[n.kind] += text == n.text
        with urllib.request.urlopen(base + "/v1/predictions?limit=1") as resp:
            assert json.loads(resp.read())["items"][0]["filename"] == sample[-1].filename
    per_kind = len(sample) // 2
    assert right["separated"] >= 0.85 * per_kind, right
    assert right["touching"] >= 0.75 * per_kind, right
