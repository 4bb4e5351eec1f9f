"""A printed box around the writing: a form's field, a digit written in a square.

The box is ink, darker than the paper like the pen's, and larger than the digit: taken for the
digit's strokes, it made the frame a box and the digit a scribble inside ("written in a box" MNIST
digits, the upload-like `boxed` family: 110 of 200 read right, mostly as 0; 198 with this).
So where the piece of ink with the largest box has four straight sides (each side's nearest ink,
column by column or row by row, lies on a straight line nearly parallel to the picture's edge, in
at least SIDE of them), thin against the box, and there is ink inside them, everything but the
inside of the box is taken away, and so are the box's own lines across its inside: the walls of a
comb of boxes, one digit a cell (the `comb` family: 49 of 200, 184 with this; 192 since the walls
lean by the flat sides' slope and a wall broken in pieces goes where the others' spacing puts it,
`_spaced`). A digit's own
outline is never four straight sides: a 0's are curves, a 7's bar has no straight side below it,
a tightly cropped 1 is too narrow to be a box. The ink keeps its shape and coordinates (a number's
digit boxes stay in the picture's pixels).
"""

from __future__ import annotations

import numpy as np

from service.core import strokes

# Ink above this is looked at (a printed box may be a light grey).
FAINT = 0.15
# A box is at least this many pixels a side (at the working size).
MIN_PX = 16
# A side's nearest ink lies on its straight line in at least this fraction of the columns (rows)
# between its corners; the line may lean by at most MAX_SLOPE (about 6 degrees: a photo askew).
SIDE = 0.85
MAX_SLOPE = 0.1
# Within this many pixels of the line, plus a hundredth of the side's length (a wobbly print).
TOLERANCE = 2.0
# The corners (this fraction of a side at each end) are not judged: rounded, or joined by a stroke.
CORNER = 0.1
# A side is at most this fraction of the box's other dimension thick (a digit's bar is thicker
# relative to a digit-sized box than a printed line to a field).
THIN = 0.15
# A line of the box's own piece across this fraction of its inside is a wall between its cells (a
# comb of boxes, one per digit; a table's columns): it goes too, WALL_MARGIN px either side.
GRID = 0.8
WALL_MARGIN = 1
# A wall where the others' even spacing puts it (within SPACED_PX) need cross only SPACED_GRID of
# the inside: the `comb` family's walls left in the frame were faint or broken in a JPEG.
SPACED_GRID = 0.5
SPACED_PX = 2
# Inside, the ink left must be at least this many pixels above the level.
MIN_INK_PX = 8
# A comb cut off by the picture's sides (`_cut_comb`): its lines reach within EDGE_PX of both;
# its walls cross CUT_GRID of the inside. An upright 1 touching ruled lines above and below crosses
# it all too: there must be CUT_WALLS walls or more, evenly spaced (CELL_SPREAD at most between
# the widest and the narrowest cell), each cell CELL_ASPECT times as wide as the inside is tall.
EDGE_PX = 2
CUT_GRID = 0.95
CUT_WALLS = 3
CELL_SPREAD = 1.3
CELL_ASPECT = (0.4, 2.0)


def _side(piece: np.ndarray, ends: tuple[int, int] = (0, 0)) -> tuple[int, float] | None:
    """How far in from the top of `piece` (a boolean box-shaped crop of one piece) its top side
    reaches at most, thickness included, and its slope (rows per column); None when its top is no
    straight, thin side. `ends`: columns not judged at each end, beyond the corners (where the
    sides across run, askew: a wide box tilted 2 degrees drifts 8 px over its length)."""
    h, w = piece.shape
    lo, hi = (max(int(CORNER * w), end) for end in ends)
    skip = max(lo, hi)
    cols = piece[:, lo : w - hi]
    filled = cols.any(axis=0)
    if cols.shape[1] < 4 or filled.mean() < SIDE:
        return None
    first = np.argmax(cols, axis=0).astype(np.float64)
    xs = np.arange(cols.shape[1], dtype=np.float64)
    slope, at0 = np.polyfit(xs[filled], first[filled], 1)
    on_line = filled & (np.abs(first - (slope * xs + at0)) <= TOLERANCE + 0.01 * w)
    if abs(slope) > MAX_SLOPE or on_line.mean() < SIDE:
        return None
    # The side bounds the piece: ink beyond it (the lines of squared paper running on past the
    # outermost whole ones, off the picture) makes it no box.
    if min(at0, slope * xs[-1] + at0) > TOLERANCE + abs(slope) * skip + 1:
        return None
    # Its thickness: the run of ink down from the line, column by column (the median).
    thick = float(np.median(_runs_down(cols, first.astype(np.int64))[on_line]))
    if thick > THIN * h:
        return None
    deepest = max(at0, slope * xs[-1] + at0) + (abs(slope) * skip)
    return int(np.ceil(deepest + thick)) + 1, float(slope)


def _runs_down(cols: np.ndarray, first: np.ndarray) -> np.ndarray:
    """For each column, the length of the run of ink starting at row `first`."""
    h = cols.shape[0]
    rows = first[None, :] + np.arange(h)[:, None]
    valid = rows < h
    ink = np.where(valid, cols[np.minimum(rows, h - 1), np.arange(cols.shape[1])[None, :]], False)
    return np.asarray(np.cumprod(ink, axis=0).sum(axis=0), dtype=np.int64)


def _sides(piece: np.ndarray) -> tuple[tuple[int, float], ...] | None:
    """The top, bottom, left and right sides (`_side`), or None. A side not found at first is looked
    for again past the reach of the sides across it that were: their ends, askew, are no part of it."""
    views = (piece, piece[::-1], piece.T, piece.T[::-1])
    found = [_side(view) for view in views]
    for k, view in enumerate(views):
        across = found[2:] if k < 2 else found[:2]
        if found[k] is None and all(side is not None for side in across):
            found[k] = _side(view, tuple(side[0] for side in across if side is not None))  # type: ignore[arg-type]
    if any(side is None for side in found):
        return None
    return tuple(side for side in found if side is not None)


def inside(ink: np.ndarray, level: float) -> np.ndarray:
    """The ink with a printed box around it taken away (its sides, its walls between cells and
    all outside it); the very same array when there is none."""
    labels, count = strokes.components(ink > FAINT)
    if count == 0:
        return ink
    box = strokes.boxes(labels, count)[1:]
    heights, widths = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    k = int(np.argmax(heights * widths))
    top, left, bottom, right = (int(v) for v in box[k])
    if heights[k] < MIN_PX or widths[k] < MIN_PX:
        return ink
    piece = labels[top : bottom + 1, left : right + 1] == k + 1
    sides = _sides(piece)
    if sides is None:
        return _cut_comb(ink, piece, (top, left, bottom, right), level)
    (t, across), (b, _), (lft, _), (rgt, _) = sides
    y0, y1, x0, x1 = top + t, bottom - b, left + lft, right - rgt
    if y1 - y0 < MIN_PX // 2 or x1 - x0 < MIN_PX // 2:
        return ink
    inner = piece[t : piece.shape[0] - b, lft : piece.shape[1] - rgt]
    seen = ink[y0 : y1 + 1, x0 : x1 + 1] > FAINT  # all the ink inside: a wall broken in pieces too
    # Turned by a small angle, the upright lines lean by minus the flat sides' slope: the long flat
    # sides measure it better than a short upright one (one beside a digit: +0.061 against -0.033).
    walls = _walls(inner, -across, seen) | _walls(inner.T, across, seen.T).T
    return _only(ink, (slice(y0, y1 + 1), slice(x0, x1 + 1)), walls, level)


def _only(ink: np.ndarray, region: tuple[slice, slice], walls: np.ndarray, level: float) -> np.ndarray:
    """Only the ink within `region` and off its `walls`; the very same array when that leaves
    nothing to read (an empty box stays as it is)."""
    within = ink[region] * ~walls
    if int((within > level).sum()) < MIN_INK_PX:
        return ink
    out = np.zeros_like(ink)
    out[region] = within
    return out


def _cut_comb(ink: np.ndarray, piece: np.ndarray, at: tuple[int, int, int, int], level: float) -> np.ndarray:
    """A comb of boxes cut off by the picture's left and right edges (a postcode's field cropped
    to the writing): its top and bottom lines run from edge to edge, bounding the piece, and at
    least CUT_WALLS walls, CUT_GRID of the way or more, evenly spaced, cross from one to the other.
    Its walls went for 1s: 13 of 40 such numbers read right (ad hoc). The ink between the lines
    is kept, without the walls; anything else is the very same array."""
    top, left, bottom, right = at
    if left > EDGE_PX or right < ink.shape[1] - 1 - EDGE_PX:
        return ink
    upper, lower = _side(piece), _side(piece[::-1])
    if upper is None or lower is None:
        return ink
    (t, across), (b, _) = upper, lower
    inner = piece[t : piece.shape[0] - b]
    if inner.shape[0] < MIN_PX // 2:
        return ink
    # A rectangle turned by a small angle: its upright sides lean by minus its flat sides' slope.
    lean = -across
    columns = _wall_columns(inner, lean, CUT_GRID)
    centres = _centres(columns)
    cells = np.diff(centres)
    if cells.size < CUT_WALLS - 1 or not (
        CELL_ASPECT[0] * inner.shape[0] <= cells.min() <= cells.max() <= CELL_ASPECT[1] * inner.shape[0]
    ):
        return ink
    if cells.max() > CELL_SPREAD * cells.min():
        return ink
    # The piece's own columns: its lines may stop up to EDGE_PX short of the picture's sides.
    region = (slice(top + t, bottom - b + 1), slice(left, right + 1))
    return _only(ink, region, _mask(inner, lean, columns), level)


def _leaning(h: int, w: int, slope: float) -> np.ndarray:
    """For each row, the columns of a line leaning by `slope` (columns per row), counted at the top."""
    shift = np.round(slope * np.arange(h)).astype(np.int64)[:, None]
    return np.asarray(np.clip(np.arange(w)[None, :] + shift, 0, w - 1))


def _wall_columns(inner: np.ndarray, slope: float, grid: float) -> np.ndarray:
    """The columns (counted at the top row) where a straight line leaning by `slope` crosses at
    least `grid` of the inside's rows."""
    h, w = inner.shape
    upright = inner[np.arange(h)[:, None], _leaning(h, w, slope)]  # each row moved back by the lean
    return np.asarray(upright.mean(axis=0) >= grid)


def _centres(columns: np.ndarray) -> np.ndarray:
    """The middle column of each run of wall columns, left to right."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], columns.astype(np.int8), [0]))))
    return np.asarray((edges[0::2] + edges[1::2] - 1) / 2)


def _walls(inner: np.ndarray, slope: float, seen: np.ndarray) -> np.ndarray:
    """Where the box's own straight lines cross its inside from top to bottom (the walls of a comb
    of boxes, a table's columns), leaning like its sides (`slope`: columns per row): a mask. `seen`:
    all the ink inside, where `_spaced` looks for walls broken off the box's piece."""
    columns = _wall_columns(inner, slope, GRID)
    return _mask(inner, slope, columns | _spaced(seen, slope, columns))


def _spaced(inner: np.ndarray, slope: float, columns: np.ndarray) -> np.ndarray:
    """The walls a comb's even spacing puts where fewer of the rows show them (SPACED_GRID): faint,
    broken by a JPEG, or touched by the digit. Two walls or more, evenly spaced, set the step."""
    centres = _centres(columns)
    cells = np.diff(centres)
    out = np.zeros_like(columns)
    if centres.size < 2:
        return out
    whole = np.maximum(np.round(cells / cells.min()), 1)  # a wall missed between two: a double cell
    steps = cells / whole
    if steps.max() > CELL_SPREAD * steps.min():
        return out
    step = float(np.median(steps))
    weak = _wall_columns(inner, slope, SPACED_GRID)
    for at in np.arange(centres[0] % step, inner.shape[1], step):
        if step / 2 <= at <= inner.shape[1] - step / 2:  # not the box's own sides
            lo, hi = round(at) - SPACED_PX, round(at) + SPACED_PX + 1
            out[max(lo, 0) : hi] |= weak[max(lo, 0) : hi]
    return out


def _mask(inner: np.ndarray, slope: float, wall: np.ndarray) -> np.ndarray:
    """The walls at these columns (counted at the top row), leaning by `slope`, WALL_MARGIN px
    either side, as a mask of the inside."""
    if not wall.any():
        return np.zeros_like(inner)
    wall = strokes.dilate(wall[None, :].astype(np.float32), WALL_MARGIN)[0] > 0
    h, w = inner.shape
    out = np.zeros_like(inner)
    out[np.arange(h)[:, None], _leaning(h, w, slope)] = wall[None, :]  # and back to the picture's columns
    return out
