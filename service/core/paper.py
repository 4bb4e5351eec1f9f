"""The sheet in a photo: a note photographed lying on a darker desk shows the desk around it.

The desk is darker than the paper, like the ink, and far larger: taken for ink, it filled the
frame and the digit shrank to nothing (the upload-like `desk` family, MNIST digits photographed
on a sheet with the desk showing at one to four sides, read 22 of 200; 198 with this). So where
the largest bright piece of the picture (the sheet) is large and solid but does not reach all four
edges, a side of the picture shows no paper at all, and the sheet's rim is a sharp step down to
the dark around it (a shadow across the paper is a gentle slope), the dark that joins that side
without crossing the sheet (the desk) is painted the sheet's colour before the ink is looked for.
A picture whose paper shows along (nearly) its whole border -- nearly all of them -- is returned
as it is, at the cost of a glance at its border.
"""

from __future__ import annotations

import numpy as np

from service.core import levels, strokes

# Smaller pictures are no photos of a sheet (and a 28x28 upload, the fast path, pays nothing).
MIN_SIDE = 64
# Paper along at least this fraction of the border: no desk shows.
BORDER = 0.9
# The sheet covers at least this fraction of the picture (a digit's strokes never do).
SHEET = 0.25
# ... and at least this fraction of its bounding box: a sheet is a filled quadrilateral (tilted up
# to ~15 degrees it still fills 0.75 of its box, its ink holes aside); strokes fill far less.
SOLID = 0.7
# Across the sheet's rim (RIM pixels in, RIM out) the grey drops by at least STEP: a sheet's edge,
# not a shadow falling across the paper (its slope drops 0.3 over the whole picture).
RIM = 3
STEP = 0.15
# The desk shows along at least this fraction of one side of the picture.
DESK_SIDE = 0.95
# Ink must be left on the sheet once the desk is gone: at least this many pixels, and this fraction.
MIN_INK_PX = 20
MIN_INK = 0.002


def on_sheet(grey: np.ndarray, threshold: float) -> np.ndarray:
    """`grey` (0 black .. 1 white) with the desk around the sheet painted the sheet's colour; the
    very same array when the picture shows no desk. `threshold` splits dark from bright (Otsu)."""
    bright = grey > threshold
    border = levels.border(bright)
    if border.mean() >= BORDER or np.count_nonzero(bright) < SHEET * grey.size:  # paper all round; no sheet
        return grey
    labels, count = strokes.components(bright)  # a piece at least: a quarter of the picture is bright
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    sheet = labels == int(np.argmax(sizes))
    rows, cols = np.flatnonzero(sheet.any(axis=1)), np.flatnonzero(sheet.any(axis=0))
    solid = sizes.max() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))
    if sizes.max() < SHEET * grey.size or solid < SOLID:  # no sheet: a bold digit's strokes, say
        return grey
    if all(side.any() for side in (sheet[0], sheet[-1], sheet[:, 0], sheet[:, -1])):
        return grey
    # The desk: what is not the sheet and joins a side of the picture that shows no paper at all
    # (a digit cropped tight touches every side, but none all along), without crossing the sheet:
    # the ink on the sheet is enclosed by it, and stays.
    rest, _ = strokes.components(~sheet)
    sides = [side for side in (rest[0], rest[-1], rest[:, 0], rest[:, -1]) if np.mean(side > 0) >= DESK_SIDE]
    if not sides:
        return grey
    edge = np.unique(np.concatenate(sides))
    desk = np.isin(rest, edge[edge > 0])
    near_desk = strokes.dilate(desk.astype(np.float32), RIM) > 0
    if np.count_nonzero(~bright & ~near_desk) < max(MIN_INK_PX, MIN_INK * grey.size):
        return grey  # no ink would be left on the sheet: the "desk" was the digit (cropped tight)
    inside, outside = near_desk & sheet, desk & (strokes.dilate(sheet.astype(np.float32), RIM) > 0)
    if not inside.any() or not outside.any() or np.median(grey[inside]) - np.median(grey[outside]) < STEP:
        return grey
    # The rim goes too: resampled, the sheet's edge is a row of grey between desk and paper.
    return np.where(near_desk, np.float32(np.median(grey[sheet])), grey).astype(grey.dtype)
