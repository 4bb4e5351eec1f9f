"""The model card: one typed class writes it and reads it; a bad card is one clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.core.card import ModelCard, ModelCardError
from service.core.model import OnnxModel


def _copy(card_path: Path, tmp_path: Path) -> Path:
    card = ModelCard.load(card_path)
    shutil.copy(card.model_file, tmp_path / card.model_file.name)
    out = tmp_path / card_path.name
    out.write_text(card_path.read_text())
    return out


def test_the_committed_cards_survive_a_round_trip(card_path: Path, float_card_path: Path, tmp_path: Path) -> None:
    for path in (card_path, float_card_path):
        copied = _copy(path, tmp_path)
        card = ModelCard.load(copied)
        assert card.to_json() == json.loads(path.read_text())  # nothing lost, nothing added
        again = card.write(copied)
        assert again.to_json() == card.to_json() and again.path == copied


def test_derive_and_figures(card_path: Path, tmp_path: Path) -> None:
    card = ModelCard.load(_copy(card_path, tmp_path))
    other = tmp_path / "other.onnx"
    other.write_bytes(card.model_file.read_bytes())
    derived = card.derive("other", other, drop=("mnist_test",)).with_figures(note={"why": "a test"})
    assert derived.version.startswith("other-") and derived.sha256 == card.sha256
    assert "mnist_test" not in derived.figures and derived.figures["note"] == {"why": "a test"}
    assert derived.input == card.input and derived.labels == card.labels
    written = derived.write(tmp_path / "other.card.json")
    assert OnnxModel(written).predict(__import__("numpy").zeros((1, 28, 28), "uint8")).shape == (1, 10)
    with pytest.raises(ModelCardError, match="beside its model"):
        derived.write(tmp_path / "elsewhere" / "x.card.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.pop("sha256"), "unreadable"),
        (lambda raw: raw["input"].update(layout="NCWH"), "unknown layout"),
        (lambda raw: raw["normalisation"].update(std=0.0), "std is 0"),
        (lambda raw: raw["input"].update(height=0), "must be positive"),
        (lambda raw: raw.update(labels=[]), "no labels"),
        (lambda raw: raw.update(input="not an object"), "unreadable"),
    ],
)
def test_a_bad_card_is_one_clear_error(card_path: Path, tmp_path: Path, change: object, message: str) -> None:
    path = _copy(card_path, tmp_path)
    raw = json.loads(path.read_text())
    change(raw)  # type: ignore[operator]
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelCardError, match=message):
        ModelCard.load(path)


def test_missing_unparsable_or_mismatched_files(card_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelCardError, match="not found"):
        ModelCard.load(tmp_path / "nope.card.json")
    (tmp_path / "bad.card.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="unreadable"):
        ModelCard.load(tmp_path / "bad.card.json")
    path = _copy(card_path, tmp_path)
    card = ModelCard.load(path)
    card.model_file.write_bytes(card.model_file.read_bytes() + b"\0")
    with pytest.raises(ModelCardError, match="sha256"):
        OnnxModel(card)
    card.model_file.unlink()
    with pytest.raises(ModelCardError, match="model file not found"):
        OnnxModel(card)
