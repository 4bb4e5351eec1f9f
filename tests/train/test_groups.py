"""The group model's training data: deterministic, labelled as the service's classes."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import groups
from train import groups as making
from train import mnist


def test_groups_are_deterministic_and_labelled(mnist_test: mnist.Split) -> None:
    images, labels = mnist_test.images[:200], mnist_test.labels[:200]
    a = making.generate(images, labels, {1: 20, 2: 30, 3: 10}, seed=1)
    b = making.generate(images, labels, {1: 20, 2: 30, 3: 10}, seed=1)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.labels, b.labels)
    assert a.frames.shape == (60, *groups.SHAPE)
    names = [groups.LABELS[y] for y in a.labels]
    assert [len(n) for n in names[:20]] == [1] * 20  # singles
    assert all(len(n) == 2 and n != groups.MORE for n in names[20:50])  # pairs
    assert names[50:] == [groups.MORE] * 10
    # Pairs are wider than singles at the same height (touching, overlapping, slanted as they are).
    width = [np.ptp(np.flatnonzero(f.max(axis=0) > 30)) for f in a.frames]
    assert np.median(width[20:50]) > 1.15 * np.median(width[:20])


def test_accuracy_by_count_counts_exact_answers() -> None:
    data = making.Groups(np.zeros((4, *groups.SHAPE), np.uint8), np.array([3, 10 + 35, 10 + 35, 110]))
    probs = np.eye(len(groups.LABELS))[[3, 10 + 35, 10 + 53, 110]]
    assert making.accuracy_by_count(probs, data) == {"1": 1.0, "2": 0.5, "3": 1.0, "all": 0.75}


def test_figures_read_numbers_with_the_group_model_the_service_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    from train import figures

    found = figures._group_model()
    assert found is not None and found.model.card.name == "mnist-groups"
    # A training image without models/: the digit model alone, and the card will say so.
    monkeypatch.setenv("MNIST_GROUPS_CARD", "/nonexistent/mnist-groups.card.json")
    assert figures._group_model() is None
