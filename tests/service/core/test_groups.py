"""The group model: framing a group of ink, its card's contract, and what it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.core import framing, groups
from service.core.card import ModelCard, ModelCardError
from service.core.groups import GroupClasses, GroupModel
from train import groups as making
from train import mnist


def test_a_single_digit_is_framed_at_mnists_height(mnist_test: mnist.Split) -> None:
    """A digit framed as a group looks as MNIST frames it: 20 px tall, in the middle of 28x56."""
    ink = np.kron(mnist_test.images[0].astype(np.float32) / 255.0, np.ones((5, 5), np.float32))
    whole = groups.frame_group(ink)
    assert whole.shape == groups.SHAPE and whole.dtype == np.uint8
    rows = np.flatnonzero(whole.max(axis=1) > 30)
    assert 18 <= rows[-1] - rows[0] + 1 <= 21
    assert abs(float((whole.sum(axis=0) * np.arange(56)).sum() / whole.sum()) - 28) <= 1
    # The same strokes as the digit's own MNIST frame (one frame holds the other, centred).
    digit = framing.frame(ink)
    assert abs(int(np.count_nonzero(whole > 128)) - int(np.count_nonzero(digit > 128))) <= 12


def test_a_wide_group_keeps_its_height_until_it_fills_the_width() -> None:
    ink = np.zeros((100, 600), np.float32)
    ink[10:90, 20:580] = 0.0
    ink[10:90, 20:30] = ink[10:90, 570:580] = ink[10:20, 20:580] = 1.0  # a wide open box
    whole = groups.frame_group(ink)
    cols = np.flatnonzero(whole.max(axis=0) > 30)
    assert cols[-1] - cols[0] + 1 <= groups.BOX[1] + 1  # fits the 52 px box, so less tall than 20


def test_a_digit_models_card_is_not_a_group_models(card_path: Path) -> None:
    with pytest.raises(ModelCardError, match="not a group model"):
        GroupClasses.of(ModelCard.load(card_path))


def test_the_shipped_group_model_reads_groups_of_test_digits(group_model: GroupModel, mnist_test: mnist.Split) -> None:
    """Groups made from MNIST *test* digits (training used training digits): how many digits a
    group holds is nearly always right, and most touching pairs are read exactly."""
    data = making.generate(mnist_test.images, mnist_test.labels, {1: 100, 2: 200, 3: 50}, seed=7)
    probs = group_model.predict(data.frames)
    counts = np.array([group_model.classes.counts(p).argmax() + 1 for p in probs])
    truth = np.array([groups.digits_in(groups.LABELS[y]) for y in data.labels])
    assert np.mean(counts == truth) >= 0.95
    pairs = truth == 2
    assert np.mean(probs[pairs].argmax(axis=1) == data.labels[pairs]) >= 0.85


def test_a_confident_misread_half_does_not_outvote_the_group_model(group_model: GroupModel) -> None:
    """A part cut from a touching pair carries a piece of its neighbour and may be read wrongly
    with confidence (a 5 with a 3's tail as an 8). The digit model's say is tempered
    (DIGIT_WEIGHT): the pair the group model sees wins; with the digit model at full weight, the
    misread half would."""
    classes = group_model.classes
    whole = np.full(len(groups.LABELS), 0.1 / (len(groups.LABELS) - 2))
    whole[groups.LABELS.index("35")], whole[groups.LABELS.index("38")] = 0.7, 0.2
    halves = np.full((2, 10), 0.01)
    halves[0, 3] = 0.91
    halves[1, 8], halves[1, 5] = 0.76, 0.16
    assert [d for d, _ in groups.weigh(halves, whole, classes).digits] == [3, 5]
    full = np.log(whole[classes.pairs]) + np.log(halves[0])[:, None] + np.log(halves[1])[None, :]
    assert np.unravel_index(int(full.argmax()), full.shape) == (3, 8)
