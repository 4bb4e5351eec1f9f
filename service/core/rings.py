"""A line drawn round a single digit by hand: a circle (a mark, an answer picked), a wobbly box.

Taken for a stroke, a circle made the digit a 0 (MNIST test digits circled, `mnist-probes crops`:
see RING below). A printed box's four straight sides are boxes.py's; a hand's line is no straight
side. So where the piece of ink with the largest box is thin against that box, and every other
piece of ink that counts lies in its holes, the other pieces making a digit-sized whole, the
piece goes. A digit's own loops (a 0, 6, 8, 9) hold nothing, or a dot (a dotted zero) too small
to count as a digit. Pure functions.
"""

from __future__ import annotations

import numpy as np

from service.core import strokes

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
    # The ring's holes: what is not the ring and does not reach the picture's edge around it
    # (4-connected: an 8-connected line closes a hole).
    outside, _ = strokes.components(labels != ring + 1, connectivity=4)
    reaching = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
    holes = ~np.isin(outside, reaching) & (labels != ring + 1)
    inner = np.isin(labels, np.flatnonzero(others) + 1)
    if not np.all(holes[inner]):
        return ink
    return strokes.dropped(ink, labels, np.arange(sizes.size) == ring)
