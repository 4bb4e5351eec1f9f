"""The sheet in a photo: a note photographed lying on a darker desk shows the desk around it.

The desk is darker than the paper, like the ink, and far larger: taken for ink, it filled the
frame and the digit shrank to nothing (the upload-like `desk` family, MNIST digits photographed
on a sheet with the desk showing at one to four sides, read 22 of 200; 198 with this). So where
the largest bright piece of the picture (the sheet) is large and solid but does not reach all four
edges, a side of the picture shows no paper at all, and the sheet's rim is a sharp step down to
the dark around it (a shadow across the paper is a gentle slope), the dark that joins that side
without crossing the sheet (the desk) is painted the sheet's colour before the ink is looked for --
as deep as it reaches along most of that side (a digit written at the sheet's edge joins it), and
only where it is one flat colour (a hard shadow across the sheet holds writing).
A picture whose paper shows along (nearly) its whole border -- nearly all of them -- is left as
it is, at the cost of a glance at its border.

A sheet smaller than a quarter of the picture (a sticky note, a slip of paper on a dark desk) is a
sheet in doubt: a bold light digit on a dark ground, its strokes filling their box and holding a
hole, looks the same (taken as a sheet, its hole was the digit). Such a picture is read both ways
and the surer reading stands (`Sheet.sure`, framing.Prepared.alternatives, surer.py); /v1/read
takes it when the writing on it is fine (`Sheet.fine`). So is a sheet of any size whose writing is
as wide as such a digit's holes (a light 0 drawn with a pen a quarter of its height, a quarter of
the picture, read 1 from its hole when taken surely for a sheet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core import levels, strokes

# Smaller pictures are no photos of a sheet (and a 28x28 upload, the fast path, pays nothing).
MIN_SIDE = 64
# Paper along at least this fraction of the border: no desk shows.
BORDER = 0.9
# The sheet covers at least this fraction of the picture (a digit's strokes never do) ...
SHEET = 0.25
# ... and at least this fraction of its bounding box: a sheet is a filled quadrilateral (tilted up
# to ~15 degrees it still fills 0.75 of its box, its ink holes aside); strokes fill far less.
SOLID = 0.7
# A sheet in doubt (`Sheet.sure`) covers at least SMALL_SHEET of the picture: a slip of paper on a
# desk (the upload-like `slip` family: 28 of 200 read with the slip left as ink, 195 both ways;
# ad hoc, digits on slips cut closer round them: 302 of 400, 394 both ways; 0.01 read the same).
SMALL_SHEET = 0.02
# A sheet in doubt is mostly bare paper: at least BARE of it with its writing. The `slip`
# family's slips: 0.74-0.97; a light digit on a dark ground with its holes filled: mouse drawings
# 0.10-0.18, `mnist-probes cut` light on dark 0.41-0.80 (median 0.53), marker blobs up to 1.0
# (those are read both ways; ad hoc).
BARE = 0.65
# Bright pixels beside a sheet in doubt, at most, of it (the desk's grain).
ALONE = 0.05
# A slip lies turned by up to this many degrees (whole degrees tried).
TURN = 15
# Writing on a sheet is fine when its strokes are at most this wide, of the square root of the
# sheet's area with its writing: numbers on a slip (`numbers slip` set) 0.02-0.075; one digit on
# a slip 0.03-0.135 (median 0.065); the holes of a bold light digit taken for writing 0.008-0.23,
# median 0.17 (ad hoc).
FINE = 0.1
# Across the sheet's rim (RIM pixels in, RIM out) the grey drops by at least STEP: a sheet's edge,
# not a shadow falling across the paper (its slope drops 0.3 over the whole picture).
RIM = 3
STEP = 0.15
# The desk shows along at least this fraction of one side of the picture.
DESK_SIDE = 0.95
# Seen from a side, the desk reaches as deep as it does at most places within REACH of the
# picture's side around: a digit written at the sheet's edge joins the desk and juts from it
# (taken with it, none or part of the digit was left: `mnist-probes crops`, at a scanner's dark
# border, 290 of 300 read so, 300 now; `--without desk-band`).
REACH = 1 / 3
# A desk holds no writing: under WRITING of its pixels are darker, by FLAT of the way from its
# level to the sheet's, than the desk around them (a closing by a square of 2 * CLOSE of the
# shorter side; the picture 3x3-smoothed, so grain is no writing). Measured (ad hoc): a scanner's
# dark border (150 pictures) and the `desk` and `shadow` families' desks and shadows with no
# writing in them (400) 0-7 pixels; a shadow across the writing 15-5,800. Without this check the
# band above painted the shade over the writing in it: 3 of the `shadow` family changed, 2 for the
# worse.
FLAT = 0.3
CLOSE = 1 / 16
WRITING = 12
# Ink must be left on the sheet once the desk is gone: at least this many pixels, and this fraction.
MIN_INK_PX = 20
MIN_INK = 0.002
# ... on a sheet in doubt, this fraction of the sheet with its writing instead: a slip 2-3 % of the
# picture holds a digit of ~0.1 % of it (4 of the `slip` family's 200 were "no ink" so).
MIN_INK_HELD = 0.02


@dataclass(frozen=True)
class Sheet:
    """The picture with the desk around the sheet painted the sheet's colour; `sure` False when
    the sheet is small (SMALL_SHEET) or its writing not fine (FINE): it may be a bold light digit
    on a dark ground."""

    grey: np.ndarray
    sure: bool
    # The writing on it is thin for its size (FINE): a number's strokes, not the holes of one
    # bold light digit. /v1/read, which reads a picture one way only, takes such a sheet in doubt.
    fine: bool


def on_sheet(grey: np.ndarray, threshold: float) -> Sheet | None:
    """`grey` (0 black .. 1 white) with the desk around the sheet painted the sheet's colour;
    None when the picture shows no desk. `threshold` splits dark from bright (Otsu)."""
    bright = grey > threshold
    border = levels.border(bright)
    if border.mean() >= BORDER or np.count_nonzero(bright) < SMALL_SHEET * grey.size:  # paper all round; no sheet
        return None
    labels, count = strokes.components(bright)  # a piece at least: SMALL_SHEET of the picture is bright
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    sheet = labels == int(np.argmax(sizes))
    if all(side.any() for side in (sheet[0], sheet[-1], sheet[:, 0], sheet[:, -1])):
        return None
    rows, cols = np.flatnonzero(sheet.any(axis=1)), np.flatnonzero(sheet.any(axis=0))
    box = int((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))
    # The desk: what is not the sheet and joins a side of the picture that shows no paper at all
    # (a digit cropped tight touches every side, but none all along), without crossing the sheet:
    # the ink on the sheet is enclosed by it, and stays.
    rest, _ = strokes.components(~sheet)
    outer = np.unique(np.concatenate([rest[0], rest[-1], rest[:, 0], rest[:, -1]]))
    held = sheet | ((rest > 0) & ~np.isin(rest, outer))  # the sheet and the writing on it
    sure = _sure(int(sizes.max()), box, grey.size)
    bare, beside = int(np.count_nonzero(bright & held)), int(np.count_nonzero(bright & ~held))
    if not sure and not _in_doubt(int(sizes.max()), bare, held, beside, grey.size):
        return None
    sides = [side for side in (rest[0], rest[-1], rest[:, 0], rest[:, -1]) if np.mean(side > 0) >= DESK_SIDE]
    if not sides:
        return None
    edge = np.unique(np.concatenate(sides))
    desk = _band(np.isin(rest, edge[edge > 0]))
    near_desk = strokes.dilate(desk.astype(np.float32), RIM) > 0
    least = MIN_INK * grey.size if sure else MIN_INK_HELD * np.count_nonzero(held)
    if np.count_nonzero(~bright & ~near_desk) < max(MIN_INK_PX, least):
        return None  # no ink would be left on the sheet: the "desk" was the digit (cropped tight)
    inside, outside = near_desk & sheet, desk & (strokes.dilate(sheet.astype(np.float32), RIM) > 0)
    if not inside.any() or not outside.any() or np.median(grey[inside]) - np.median(grey[outside]) < STEP:
        return None
    if _writing(grey, desk, float(np.median(grey[sheet]))) >= WRITING:
        return None  # writing in the dark: a shadow across the sheet (shade.py), not a desk
    # The rim goes too: resampled, the sheet's edge is a row of grey between desk and paper.
    painted = np.where(near_desk, np.float32(np.median(grey[sheet])), grey).astype(grey.dtype)
    writing = strokes.stroke_width((held & ~bright).astype(np.float32))
    fine = bool(writing <= FINE * np.sqrt(np.count_nonzero(held)))
    # Writing as wide as a bold light digit's holes leaves even a large sheet in doubt.
    return Sheet(painted, sure and fine, fine)


def _sure(sheet_px: int, box_px: int, picture_px: int) -> bool:
    """Whether the largest bright piece, `sheet_px` pixels filling SOLID of its box of `box_px`,
    is surely a sheet: SHEET of the picture."""
    return sheet_px >= SHEET * picture_px and sheet_px >= SOLID * box_px


def _in_doubt(sheet_px: int, bare_px: int, held: np.ndarray, beside_px: int, picture_px: int) -> bool:
    """Whether a bright piece of `sheet_px` pixels that is not surely a sheet may be one: with the
    writing it holds (`held`), SMALL_SHEET of the picture; mostly bare paper (`bare_px`, BARE: the
    paper inside a 0's loop too; on a slip cut close round the digit, the ink is 3-26 % of it);
    hardly anything as bright beside it (`beside_px`, ALONE: the other digits of a number written
    in light strokes are); and with its writing filling SOLID of its box turned as it lies (a slip
    turned 10 degrees, four times as wide as high, fills 0.58 of its upright box)."""
    held_px = int(np.count_nonzero(held))
    if held_px < SMALL_SHEET * picture_px or bare_px < BARE * held_px or beside_px > ALONE * sheet_px:
        return False
    return held_px >= SOLID * _turned_box(held)


def _turned_box(region: np.ndarray) -> float:
    """The area of the smallest box around `region` turned by up to TURN degrees (its rows' end
    points hold every corner of it)."""
    rows = np.flatnonzero(region.any(axis=1))
    first = np.argmax(region[rows], axis=1)
    last = region.shape[1] - 1 - np.argmax(region[rows, ::-1], axis=1)
    ys = np.concatenate([rows, rows]).astype(np.float32)
    xs = np.concatenate([first, last]).astype(np.float32)
    turns = np.radians(np.arange(-TURN, TURN + 1, dtype=np.float32))[:, None]
    u = np.cos(turns) * xs + np.sin(turns) * ys
    v = np.cos(turns) * ys - np.sin(turns) * xs
    return float(np.min((np.ptp(u, axis=1) + 1) * (np.ptp(v, axis=1) + 1)))


def _band(desk: np.ndarray) -> np.ndarray:
    """The desk without what juts from it: from each side it lines (nearly) all along, the depth it
    runs in at each place, a running median of those depths (a stroke touching the desk is a
    narrow spike; the sheet's straight rim, tilted or not, a line the median keeps), and the desk
    no deeper than that."""
    kept = np.zeros_like(desk)
    for turn in range(4):
        view = np.rot90(desk, turn)  # the side looked from at the top
        if view[0].mean() < DESK_SIDE:
            continue
        depth = np.where(view.all(axis=0), view.shape[0], np.argmin(view, axis=0)).astype(np.float32)
        half = max(1, round(view.shape[1] * REACH / 2))
        # Mirrored through the end values, a tilted rim runs on straight beyond the corner.
        padded = np.pad(depth, half, mode="reflect", reflect_type="odd")
        deep = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
        kept |= np.rot90(np.arange(view.shape[0])[:, None] < deep[None, :], -turn)
    return np.asarray(desk & kept)


def _writing(grey: np.ndarray, desk: np.ndarray, sheet: float) -> int:
    """How many of the desk's pixels are writing (see WRITING): a shadow across the sheet holds
    some, a desk none. The picture's border is repeated outwards: a desk along it stays desk."""
    r = max(2, round(min(grey.shape) * CLOSE))
    padded = np.pad(grey, r + 1, mode="edge")
    h, w = padded.shape
    shifted = [padded[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    smooth = np.asarray(np.mean(shifted, axis=0, dtype=np.float32))
    closed = strokes.erode(strokes.dilate(smooth, r), r)
    (level,) = levels.quantiles(grey[desk], (0.5,))
    darker = (closed - smooth)[r:-r, r:-r] > FLAT * (sheet - level)
    return int(np.count_nonzero(darker & desk))
