"""A line drawn under a single digit and touching it: one piece of ink with the digit, so
pieces.without_underline (a line drawn apart) cannot take it. Kept, it made a 7 a 2 and a 0, 4
or 9 something else (`mnist-probes crops`, underlined). A 2's base is such a line too, so the
digit is read both ways: the frame with the line and the frame without it (framing.py,
surer.py). Pure functions.
"""

from __future__ import annotations

import math

import numpy as np

from service.core import lines, pieces

# A line under a single digit touching it (one piece with it): a horizontal run of the ink at least
# FOOT_RUN of the ink's height long, in its lowest FOOT, at most FOOT_THIN of the height thick, with
# nothing below it but its blurred edge (FOOT_EDGE px, taken with it); what is left stands at least
# FOOT_REST of the height. A 2's base is such a line too, so the digit is read both ways
# (framing.Prepared.alternatives, surer.py): `mnist-probes crops`, underlined, 253 -> 272 of 300.
FOOT_RUN = 0.6
FOOT = 0.3
FOOT_THIN = 0.15
FOOT_EDGE = 2
FOOT_REST = 0.5


def touching(ink: np.ndarray) -> np.ndarray | None:
    """A single digit's ink without a line along its foot that touches it, or None when its foot
    has no such line (FOOT_RUN .. FOOT_REST). The line's rows go over the columns it spans."""
    mask = ink > pieces.LEVEL
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    foot = math.ceil(bottom - FOOT * height)  # only the foot's runs are measured: ~3x less work
    runs = lines.long_runs(mask[foot : bottom + 1], max(3, math.ceil(FOOT_RUN * height)))
    line_rows = np.flatnonzero(runs.any(axis=1))
    if line_rows.size == 0:
        return None
    last = first = int(line_rows[-1])
    while first - 1 in line_rows:
        first -= 1
    if last - first + 1 > FOOT_THIN * height or mask[foot + last + FOOT_EDGE + 1 :].any():
        return None
    cols = np.flatnonzero(runs[first : last + 1].any(axis=0))
    first, last = foot + first, foot + last
    out = ink.copy()
    out[max(0, first - FOOT_EDGE) : last + FOOT_EDGE + 1, cols[0] : cols[-1] + 1] = 0
    rest = np.flatnonzero((out > pieces.LEVEL).any(axis=1))
    if rest.size == 0 or rest[-1] - rest[0] + 1 < FOOT_REST * height:
        return None
    return out
