"""A digit small in a large picture, looked at again closer up. Pure functions.

The ink is found at a working size of 256 px (inks.ink_of): a digit 43 px tall on a full-HD
canvas (a drawing app's screenshot) is 6 px tall there, too few for its strokes — MNIST test
digits drawn so read 87 %, and 150-px boxes on a 12-MP photo 97 %. Where the ink at the working
size spans fewer than CLOSE_BELOW px and the decoded picture holds 1.5 times the detail or more, the
region around the ink is cut out of the decoded picture and its ink found again (framing does
that; this module only says where). A large picture refused as blank at the working size is not
looked at again: at 1,024 px, 2 of 60 blank photos and flat colours then read as digits.
"""

from __future__ import annotations

import numpy as np

from service.core import levels

# The ink's longer side at the working size under which the digit is looked at closer.
CLOSE_BELOW = 24
# The decoded picture has at least this many times the working size's pixels along a side (a
# 12-MP JPEG decodes at an eighth of its size, ~1.9 times the working size).
MORE_DETAIL = 1.5
# Room left around the ink, as a share of its longer side on each side (its paper, for the levels).
ROOM = 0.5
# The share of the ink's mass trimmed from each side before its box is taken (a speck far away).
TRIM = 0.003

Region = tuple[int, int, int, int]  # left, top, right, bottom in the decoded picture's pixels


def region(ink: np.ndarray, size: tuple[int, int]) -> Region | None:
    """Where to look closer in a decoded picture of `size` (width, height) whose ink at the
    working size is `ink` ([0, 1], ink bright); None when the ink is large enough there, or the
    picture has no more detail to give."""
    factor = size[0] / ink.shape[1]
    if factor < MORE_DETAIL or float(ink.sum()) <= 0.0:
        return None
    top, bottom = levels.mass_bounds(ink.sum(axis=1), TRIM)
    left, right = levels.mass_bounds(ink.sum(axis=0), TRIM)
    side = max(bottom - top, right - left) + 1
    if side >= CLOSE_BELOW:
        return None
    room = ROOM * side
    return (
        max(0, int((left - room) * factor)),
        max(0, int((top - room) * factor)),
        min(size[0], int(np.ceil((right + 1 + room) * factor))),
        min(size[1], int(np.ceil((bottom + 1 + room) * factor))),
    )
