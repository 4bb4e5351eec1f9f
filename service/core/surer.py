"""Where framing was in doubt, a picture has several frames: the model reads them all in the same
batch, and a reading in doubt replaces the plain one only when clearly surer (MARGIN) -- the
answer, and the frame behind it.

The doubts today: a shade that may be a shadow or bold writing (shade.py; the upload-like
`shadow` family reads 182 of 200 so, 162 without), and a line along a digit's foot that may be
an underline or its own base (underline.touching; `mnist-probes crops`, underlined, 272 of
300, 253 without), and a small sheet on a desk that may be a bold light digit (paper.py; the
`slip` family reads 195 of 200 so, 28 without). No other card family or probe set reads
otherwise but for one bold 9 (#209, shade.py). Pure functions, shared by the service and the
card's figures so that both read alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from service.core.framing import Prepared

# A reading in doubt replaces the plain one only when surer by this much: a 2 whose base was taken
# for a line under it reads 7 as surely as it reads 2 (0.976 against 0.974, `mnist-probes crops`),
# while every underline mended was 0.063 or more surer, and every shadow mended but one (0.035:
# the `shadow` family reads 182 of 200 with the margin, 183 without; ad hoc).
MARGIN = 0.05


def frames(prepared: Sequence[Prepared]) -> np.ndarray:
    """uint8 [n + alternatives, H, W]: every picture's frame, then the alternatives in order."""
    return np.stack([p.pixels for p in prepared] + [a for p in prepared for a in p.alternatives])


def chosen(prepared: Sequence[Prepared], probs: np.ndarray) -> list[tuple[Prepared, np.ndarray]]:
    """`probs`: the model's answers to `frames(prepared)` -> per picture, the frame read (its
    `alternatives` cleared) and its probabilities."""
    out = []
    extra = len(prepared)
    for i, p in enumerate(prepared):
        if not p.alternatives:
            out.append((p, probs[i]))
            continue
        best, best_probs, bar = p.pixels, probs[i], float(probs[i].max()) + MARGIN
        for alternative in p.alternatives:
            other, extra = probs[extra], extra + 1
            if float(other.max()) > bar:
                best, best_probs, bar = alternative, other, float(other.max())
        out.append((dataclasses.replace(p, pixels=best, alternatives=()), best_probs))
    return out
