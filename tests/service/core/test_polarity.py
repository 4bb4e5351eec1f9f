"""Which way round the ink is: the median's vote, and the border where the ink is dense."""

from __future__ import annotations

import numpy as np

from service.core import polarity
from service.core.model import OnnxModel
from train import mnist, probes


def _two_levels(ink: np.ndarray, dark_on_light: bool) -> np.ndarray:
    return np.where(ink, 0.1, 0.9) if dark_on_light else np.where(ink, 0.9, 0.1)


def test_a_digit_half_ink_cut_at_its_ink_is_told_by_the_border() -> None:
    """An 'O' of strokes a quarter of its size, cut at its ink: ink is 63 % of the picture, the
    median is ink; the paper is what lines most of the border (the corners and the middle)."""
    rows, cols = np.mgrid[0:80, 0:60]
    r = np.hypot((rows - 39.5) / 40, (cols - 29.5) / 30)
    ring = (r <= 1.0) & (r >= 0.55)
    assert ring.mean() > 0.5
    for dark_on_light in (True, False):
        vote = polarity.of(_two_levels(ring, dark_on_light).astype(np.float32))
        assert (vote.inverted, vote.dense) == (dark_on_light, True)


def test_thin_ink_and_an_unevenly_lit_page_are_not_dense() -> None:
    rows, cols = np.mgrid[0:200, 0:200]
    stroke = (abs(cols - 100) < 3) & (rows > 30) & (rows < 170)
    for dark_on_light in (True, False):
        vote = polarity.of(_two_levels(stroke, dark_on_light).astype(np.float32))
        assert (vote.inverted, vote.dense) == (dark_on_light, False)
    lit = (0.5 + 0.4 * cols / 200 - np.where(stroke, 0.3, 0.0)).astype(np.float32)
    vote = polarity.of(lit)
    assert (vote.inverted, vote.dense) == (True, False)


def test_a_bold_digit_cut_at_its_ink_reads_as_with_a_margin(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    """Cut at its ink, a bold digit is about half ink: the median fell in the strokes, the polarity
    vote took the paper for ink, and the paper's noise, measured below the median, spanned paper
    to ink, so nothing stood clear of it ("no visible ink"). The first 250 MNIST test digits cut
    `margin` px outside their ink and enlarged five times (`mnist-probes cut`), dark ink on light:
    68.4 % read before, 98.4 % now, 100 % with a 2-px margin."""
    for dark_on_light in (True, False):
        read = {}
        for margin in (0, 2):
            right, _, total = probes.read(digit_model, probes.cut(mnist_test, 250, margin, dark_on_light))
            read[margin] = right / total
        assert read[2] >= 0.98, read
        assert read[0] >= read[2] - 0.03, read
