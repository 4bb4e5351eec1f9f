"""A line drawn round a digit or a number by hand: a circle (a mark, an answer picked), a wobbly box.

Taken for a stroke, the line made the digit a 0 (`mnist-probes crops`, ringed by hand: 110 of 300
read with it, 292 without; `--without ring`); round a number (`/v1/read`) it was one more group, and
no ringed number read right (`mnist-probes numbers ringed`: 0 of 126 with it, 118 without). A
printed box's four straight sides are boxes.py's; a hand's line is no straight side. So where the
piece of ink with the largest box is thin against that box, and every other piece of ink that
counts lies in its holes (or, the ring left open, in nearly every direction from them), the other
pieces making a digit-sized whole, the piece goes.
A digit's own loops (a 0, 6, 8, 9) hold nothing, or a dot (a dotted zero) too small to count as a
digit. Pure functions."""

from __future__ import annotations

import numpy as np

from service.core import levels, strokes

# The ring's pixels are at most this fraction of its box (a circle of 1/6 of its radius wide:
# ~0.26; a 0 drawn bold fills more, and holds nothing anyway).
RING = 0.4
# What lies inside spans at least this fraction of the ring's box, up or across: a digit, not a
# dot in a zero's loop.
INNER = 0.3
# Pieces under this fraction of the largest inner piece do not count (specks are frame()'s), and
# the largest is at least MASS of the ring's pixels: a 0 cut at its ink with three 1-px specks in
# its loop was taken for a ring round them (the `cut` family).
COUNTS = 0.1
MASS = 0.05
# A ring left open goes round at least SURROUND of DIRECTIONS seen from the middle of what it holds
# (a gap of up to 70 degrees).
SURROUND = 0.8
DIRECTIONS = 36


def without_ring(ink: np.ndarray) -> np.ndarray:
    """`ink` without a line drawn round the rest of it; the very same array when there is none."""
    found = strokes.measured(ink)
    if found is None:
        return ink
    labels, box, sizes = found
    spans = box[:, 2:] - box[:, :2] + 1  # (height, width) of each piece
    ring = int(np.argmax(spans[:, 0] * spans[:, 1]))
    if sizes[ring] > RING * spans[ring, 0] * spans[ring, 1]:
        return ink
    others = np.ones(sizes.size, bool)
    others[ring] = False
    largest = sizes[others].max()
    if largest < MASS * sizes[ring]:
        return ink
    others &= sizes >= COUNTS * largest
    top, left = box[others, 0].min(), box[others, 1].min()
    bottom, right = box[others, 2].max(), box[others, 3].max()
    if bottom - top + 1 < INNER * spans[ring, 0] and right - left + 1 < INNER * spans[ring, 1]:
        return ink
    inner = np.isin(labels, np.flatnonzero(others) + 1)
    if not (_holds(labels, ring, inner) or _surrounds(labels == ring + 1, inner, (top, left, bottom, right))):
        return ink
    return strokes.dropped(ink, labels, np.arange(sizes.size) == ring)


def _holds(labels: np.ndarray, ring: int, inner: np.ndarray) -> bool:
    """Whether all of `inner` lies in the holes of piece `ring` (0-based): what is not the ring
    and does not reach the picture's edge around it (4-connected: an 8-connected line closes a
    hole)."""
    outside, _ = strokes.components(labels != ring + 1, connectivity=4)
    reaching = np.unique(levels.border(outside))
    holes = ~np.isin(outside, reaching) & (labels != ring + 1)
    return bool(np.all(holes[inner]))


def _surrounds(ring: np.ndarray, inner: np.ndarray, within: tuple[int, int, int, int]) -> bool:
    """Whether a ring left open (a hand's circle seldom meets its start) still goes round `inner`:
    seen from the middle of `within` (inner's box, inside the ring's), the ring lies in at least
    SURROUND of the directions, and clear of the picture's edge (MNIST test digits cut at their
    ink: a 6 whose curl went round its own broken stroke lost it, 1 of 1,000)."""
    rows, cols = np.nonzero(ring)
    top, left, bottom, right = within
    if not (rows.min() < top and rows.max() > bottom and cols.min() < left and cols.max() > right):
        return False
    if rows.min() == 0 or cols.min() == 0 or rows.max() == ring.shape[0] - 1 or cols.max() == ring.shape[1] - 1:
        return False  # a digit cut at its ink: its curl round its own broken stroke is no ring
    angles = np.arctan2(rows - (top + bottom) / 2, cols - (left + right) / 2)
    seen = np.unique(((angles + np.pi) / (2 * np.pi) * DIRECTIONS).astype(int) % DIRECTIONS)
    return seen.size >= SURROUND * DIRECTIONS
