"""Ruled lines out of a number's ink: the lines of lined paper, a baseline the digits sit on, a
line struck through them. Such a line touches every digit and makes the whole number one piece
of ink (31415 on lined paper was read "345"; 2026 on a dark baseline "226").

A line is found where ink runs horizontally far longer than a digit is tall: runs are measured on
the ink spread a few pixels up and down (a line photographed askew still runs long there), each
long stretch is fitted with a straight line, and the ink within the line's thickness of it goes,
from edge to edge, except where a stroke crosses it (ink right above and right below it: the
stroke stays whole). Nothing is taken unless the stretch is at least LONG times the height of the
digits left once it is gone: the bar of a wide 7 or the base of a 2 is never that long. A digit
stroke lying right along the line goes with it (a 2's base on the baseline: "2026" read "7026").
"""

from __future__ import annotations

import numpy as np

from service.core import pieces, strokes

# A line runs at least this many times the digits' height (a digit's widest stroke: about 1x).
LONG = 2.5
# A candidate stretch runs over at least this fraction of the ink's width.
CANDIDATE = 0.3
# Runs are measured on the ink spread this far up and down: at 768 px, a 3 px line askew by 2
# degrees runs ~270 px in a band of +-4 px.
SPREAD = 4
# Ink this far beyond half the line's thickness from its fitted centre is the line's too (its
# blurred edges, a hand-ruled line's wobble).
MARGIN = 2.0
# A line's ink lies within its thickness plus this many pixels (RMS) of a straight line.
STRAIGHT = 2.0
# How far above and below the line a crossing stroke's ink is looked for.
CROSSING = 2


def without_lines(mask: np.ndarray, labels: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pieces (pieces.pieces: labels, boxes) of the ink mask with its ruled lines taken out:
    the mask's own `labels` and `box`, which the caller has anyway, when it has none."""
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return labels, box
    core = mask & _long_runs(_spread(mask, SPREAD), max(8, int(CANDIDATE * (cols[-1] - cols[0] + 1))))
    if not core.any():
        return labels, box
    # A line is longer than LONG digits are tall, the digits measured with the line (it merges
    # them into one tall piece) and again without it below (taking a digit's strokes for lines
    # would leave short pieces): the taller decides. Shorter stretches are no lines at all.
    need = LONG * pieces.digit_height(box)
    stretches, count = strokes.components(core)
    spans = strokes.boxes(stretches, count)
    found = [i for i in range(1, count + 1) if spans[i, 3] - spans[i, 1] + 1 >= need]
    if not found:
        return labels, box
    line = np.zeros_like(mask)
    longest = 0
    ys, xs = np.indices(mask.shape)
    for i in found:
        y, x = np.nonzero(stretches == i)
        slope, offset = np.polyfit(x, y, 1)
        # Its height in most columns (where a digit sits on it or crosses it, the digit adds to it).
        thickness = float(np.median(np.bincount(x - x.min())))
        if np.sqrt(np.mean((y - (slope * x + offset)) ** 2)) > thickness + STRAIGHT:
            continue  # a curve (the belly of a 5, a loop drawn with a hairline): not a line
        line |= np.abs(ys - (slope * xs + offset)) <= thickness / 2 + MARGIN
        longest = max(longest, int(x.max() - x.min() + 1))
    line &= mask
    rest = mask & ~line
    kept_labels, kept_box = pieces.pieces(rest | (line & _crossed(rest, line)))
    if kept_box.shape[0] < 2 or longest < LONG * pieces.digit_height(kept_box):
        return labels, box
    return kept_labels, kept_box  # the pieces the line held together, apart


def _shifted(mask: np.ndarray, rows: int, down: bool) -> np.ndarray:
    """Where the mask has ink 1..`rows` pixels above (down=True: the ink moved down) or below."""
    out = np.zeros_like(mask)
    for k in range(1, rows + 1):
        if down:
            out[k:] |= mask[:-k]
        else:
            out[:-k] |= mask[k:]
    return out


def _spread(mask: np.ndarray, rows: int) -> np.ndarray:
    out: np.ndarray = mask | _shifted(mask, rows, True) | _shifted(mask, rows, False)
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of the mask: their rows, first columns and ends (exclusive), row by row."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # the same order: row by row, left to right
    return rows, starts, ends


def _long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Pixels of the mask in horizontal runs of at least `length`."""
    rows, starts, ends = _runs(mask)
    keep = ends - starts >= length
    marks = np.zeros((mask.shape[0], mask.shape[1] + 1), dtype=np.int32)
    np.add.at(marks, (rows[keep], starts[keep]), 1)
    np.add.at(marks, (rows[keep], ends[keep]), -1)
    return np.cumsum(marks, axis=1)[:, : mask.shape[1]] > 0


def _crossed(rest: np.ndarray, line: np.ndarray) -> np.ndarray:
    """The line's pixels a stroke crosses: in a column, those between ink just above the line and
    ink just below it."""
    above, below = _shifted(rest, CROSSING, True), _shifted(rest, CROSSING, False)
    down, up = above & line, below & line  # carried through the line, down and up
    for _ in range(line.shape[0]):
        step = down[:-1] & line[1:] & ~down[1:]
        if not step.any():
            break
        down[1:] |= step
    for _ in range(line.shape[0]):
        step = up[1:] & line[:-1] & ~up[:-1]
        if not step.any():
            break
        up[:-1] |= step
    crossed: np.ndarray = down & up
    return crossed
