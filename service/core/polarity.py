"""Which way round a picture's ink is: light on dark or dark on light, and whether it is dense
(a bold digit cut at its ink). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core import levels

# The polarity vote is checked against the border (see _dense_ink). Measured: 1,000 MNIST test
# digits cut at their ink, the vote wrong: Otsu's split explains 0.78-0.92 of the variance, paper
# lines 0.6-0.93 of the border; upload-like pictures with 'ink' as dense (Otsu splitting uneven
# light): 0.38-0.74 and 0.30-0.62.
DENSE_INK = 0.35
BORDER_PAPER = 0.6
TWO_LEVELS = 0.7
REACH = 0.3  # of those 1,000 cut digits, dark on light, read: 975 at 0.5, 981 at 0.3, 982 always


@dataclass(frozen=True)
class Polarity:
    inverted: bool  # dark ink on light paper
    dense: bool  # the ink covers more than DENSE_INK of the picture in two flat levels
    sparse: bool  # under 1 % of the pixels differ from the paper (a thin line on a large canvas)
    flat: bool  # one flat colour: no ink at all
    median: float  # the picture's median grey (the paper's, unless the ink is dense)


def of(grey: np.ndarray) -> Polarity:
    """Which way round the ink is: the background is the majority of the picture, so the median
    sits near it; if the median is nearer the bright end, the ink is dark (paper)."""
    sample = levels.sample(grey)
    lo, q_lo, med, q_hi, hi = levels.quantiles(sample, (0.01, DENSE_INK, 0.5, 1 - DENSE_INK, 0.99))
    sparse = hi - lo < 0.04
    if sparse:
        # A thin line on a large canvas (a mouse drawing) can be under 1 % of the pixels, and a
        # subsample can miss it: the extremes of every pixel tell ink from a flat colour.
        lo, hi = float(grey.min()), float(grey.max())
    inverted = bool(med - lo > hi - med)
    if sparse or min(grey.shape) < 16:
        return Polarity(inverted, False, sparse, hi - lo < 0.04, med)
    if max(med - lo, hi - med) < levels.EVEN_TAILS * min(med - lo, hi - med):
        # The ink moved neither quantile: a fine pen on a page lit unevenly (the gradient makes
        # both tails alike, and the vote a coin toss). The extremes around the lighting decide.
        inverted = levels.dark_ink(grey)
    dense = False
    # Checked only where the vote's ink comes near its DENSE_INK quantile (within REACH of the way
    # from the median to the ink): the check costs 75 us on a 28x28 upload, whose normalising all
    # told costs 21 us without it.
    reach, span = (med - q_lo, med - lo) if inverted else (q_hi - med, hi - med)
    if reach > REACH * span:
        inverted, dense = _dense_ink(grey, sample, inverted)
    return Polarity(inverted, dense, False, False, med)


def _dense_ink(grey: np.ndarray, sample: np.ndarray, inverted: bool) -> tuple[bool, bool]:
    """The polarity vote checked where it can fail, and whether the ink is dense: (polarity, dense).

    A bold digit cut at its ink is about half ink, the median falls in the strokes, and the vote
    takes the paper for ink (MNIST test digits cut at their ink and enlarged: 8 % read with the
    polarity turned). Such a picture is two flat levels (Otsu's split explains at least TWO_LEVELS
    of the variance), and the crop touches its border at a few points only: the vote is overturned
    when what it took for ink covers more than DENSE_INK of the picture and lines at least
    BORDER_PAPER of its border. An unevenly lit page, where Otsu splits the lighting (the hairline
    family: 83 of 200 dense so), is no two levels. `sample`: the vote's subsample of `grey`."""
    split = levels.otsu(sample)
    bright = sample > split
    share = float(np.mean(bright))
    gap = float(sample[bright].mean() - sample[~bright].mean()) if 0.0 < share < 1.0 else 0.0
    if share * (1.0 - share) * gap * gap < TWO_LEVELS * float(sample.var()):
        return inverted, False
    ink_share = 1.0 - share if inverted else share
    if ink_share <= DENSE_INK:
        return inverted, False
    border = levels.border(grey) > split
    lined = float(np.mean(border != inverted))  # the share of the border in the vote's ink
    if lined >= BORDER_PAPER:
        inverted, ink_share = not inverted, 1.0 - ink_share
    return inverted, ink_share > DENSE_INK
