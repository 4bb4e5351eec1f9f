"""Ruled lines out of a number's ink: lined paper's, a baseline, a line struck through or drawn
under the digits. Such a line touches every digit and makes the number one piece of ink (31415
on lined paper was read "345"; 2026 on a dark baseline "226").

A line is where ink runs horizontally far longer than a digit is tall: runs are measured on the
ink spread a few pixels up and down (a line photographed askew still runs long there), each long
stretch is fitted with a straight line, and the ink within its thickness goes, edge to edge, but
where a stroke crosses it (ink right above and below: the stroke stays whole). A stretch must be
LONG times the height of the digits left once it is gone (a 7's bar, a 2's base never is), or,
an underline (`_underlines`), FOOT_LONG times: a 2-digit number underlined by hand, touching it,
read 18 of 30, now 24. A stroke right along the line goes with it ("2026" on a baseline: "7026").

`across` takes out first the lines that cross the whole picture, for one digit as for a number
(framing.py and reading.py): the lines of lined or squared paper, a margin, horizontal or vertical.
One digit on its own is never LONG times as wide as tall, so a line is known instead by running
edge to edge and on past the digits' ink on both sides, and by being thinner than their strokes;
or, on squared paper, by being one of a lattice (LATTICE). The upload-like `ruled` family reads
130 of 300 without `across`, 292 with it (`mnist-probes family ruled [--without lines]`); a
digit cut at its ink, whose 7's bar or 1's stem spans its picture, keeps it (MNIST test digits cut
so: 980 of 1,000 read with it, 981 without).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from service.core import pieces, strokes

# A line runs at least this many times the digits' height (a digit's widest stroke: about 1x).
LONG = 2.5
# ... or, along the foot of all the ink and under FOOT_SPAN of it (an underline), FOOT_LONG times.
FOOT_LONG = 1.2
FOOT_SPAN = 0.9
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
# Lines across a picture (`across`): a ruled line runs over at least EDGE of the picture's width
# and on past the digits' ink, on both sides, by at least BEYOND of it (the bar of a 7 cropped
# tight spans the picture too, but ends where the 7 does), and it is thinner than THIN times the
# digits' strokes (a ruled line is ~0.2 mm, a pen's stroke 0.4-1 mm; a digit's own stroke is
# as wide as its others).
EDGE = 0.9
BEYOND = 0.04
THIN = 0.75
# Where a line's band holds ALONG pixels more ink than the line in a column, a digit's stroke is
# there (crossing the line, or lying along it): that column keeps its ink.
ALONG = 3
# A line fading for up to 2 * GAP pixels still runs on; ink above FAINT may be a line's (a thin
# grey rule shrunk to the working size keeps a tenth of its darkness in places).
GAP = 2
FAINT = 0.05
# Squared paper: LATTICE or more lines across, one way, evenly spaced (every gap within STEP_SLACK
# of a whole number of the smallest, so a line too faint to find leaves a double gap) and of like
# thickness (the thickest at most LIKE times the thinnest, plus a pixel), are the paper's whatever
# the pen: no digit has three straight strokes edge to edge at even steps. On the upload-like
# `ruled` family, lattices whose lines were as thick as the pen's strokes (printed dark, or blurred)
# or that ran past a digit near the picture's edge were all kept, and framed as the digit.
LATTICE = 3
STEP_SLACK = 0.2
LIKE = 2.0


class Rule(NamedTuple):
    """A straight stretch of ink across the picture: its band (pixels and blurred edges), its first
    and last column, thickness, and where it crosses the middle column."""

    band: np.ndarray
    first: int
    last: int
    thickness: float
    at: float


def without_lines(mask: np.ndarray, labels: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pieces (pieces.pieces: labels, boxes) of the ink mask with its ruled lines taken out:
    the mask's own `labels` and `box`, which the caller has anyway, when it has none."""
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return labels, box
    core = mask & long_runs(_spread(mask, SPREAD), max(8, int(CANDIDATE * (cols[-1] - cols[0] + 1))))
    if not core.any():
        return labels, box
    # A line is longer than LONG digits are tall, the digits measured with the line (it merges
    # them into one tall piece) and again without it below (taking a digit's strokes for lines
    # would leave short pieces): the taller decides. Shorter stretches are no lines at all.
    height = pieces.digit_height(box)
    stretches, count = strokes.components(core)
    spans = strokes.boxes(stretches, count)
    long_enough = np.where(_underlines(spans, mask), FOOT_LONG, LONG)
    found = [i for i in range(1, count + 1) if spans[i, 3] - spans[i, 1] + 1 >= long_enough[i] * height]
    if not found:
        return labels, box
    line = np.zeros_like(mask)
    longest = 0.0  # the longest line, in the digits' heights it must reach
    ys, xs = np.indices(mask.shape)
    for i in found:
        y, x = np.nonzero(stretches == i)
        slope, offset = np.polyfit(x, y, 1)
        # Its height in most columns (where a digit sits on it or crosses it, the digit adds to it).
        thickness = float(np.median(np.bincount(x - x.min())))
        if np.sqrt(np.mean((y - (slope * x + offset)) ** 2)) > thickness + STRAIGHT:
            continue  # a curve (the belly of a 5, a loop drawn with a hairline): not a line
        line |= np.abs(ys - (slope * xs + offset)) <= thickness / 2 + MARGIN
        longest = max(longest, (x.max() - x.min() + 1) / long_enough[i])
    line &= mask
    rest = mask & ~line
    kept_labels, kept_box = pieces.pieces(rest | (line & _crossed(rest, line)))
    if kept_box.shape[0] < 2 or longest < pieces.digit_height(kept_box):
        return labels, box
    return kept_labels, kept_box  # the pieces the line held together, apart


def _underlines(spans: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Which stretches (boxes, row 0 unused) lie along the foot of all the ink, under FOOT_SPAN of it."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    under = spans[:, 3] - spans[:, 1] + 1 >= FOOT_SPAN * (cols[-1] - cols[0] + 1)
    return np.asarray((spans[:, 2] >= rows[-1] - MARGIN) & under)


def across(ink: np.ndarray, level: float) -> np.ndarray:
    """The ink of a picture (one digit, or a number) without the ruled lines that cross it:
    horizontal ones (lined paper) and vertical ones (squared paper, a margin). The very same array
    when there are none. A lattice (squared paper) goes whatever else is found; otherwise none is
    taken when any stretch across fails to pass for a line (it may be a digit's stroke)."""
    mask = ink > FAINT  # a line may be far fainter than the pen, and still stretch the frame
    across_rows, across_cols = _edge_to_edge(mask), _edge_to_edge(mask.T)
    if not across_rows and not across_cols:
        return ink
    step_rows, step_cols = _lattice_step(across_rows), _lattice_step(across_cols)
    # Squared paper has the same step both ways: two lines one way at the other way's step (a
    # third too faint to find) are its lines too.
    if step_rows and not step_cols and _evenly(across_cols, step_rows):
        step_cols = step_rows
    if step_cols and not step_rows and _evenly(across_rows, step_cols):
        step_rows = step_cols
    cleaned = _without(ink, mask, across_rows, across_cols)
    if _pass_for_lines(
        ink, cleaned, level, mask.shape, [] if step_rows else across_rows, [] if step_cols else across_cols
    ):
        return cleaned
    if not step_rows and not step_cols:
        return ink
    return _without(ink, mask, across_rows if step_rows else [], across_cols if step_cols else [])


def _without(ink: np.ndarray, mask: np.ndarray, rows: list[Rule], cols: list[Rule]) -> np.ndarray:
    bands_h, bands_v = _union(rows, mask.shape), _union(cols, mask.T.shape).T
    gone = _lines_alone(rows, mask & ~bands_v) | _lines_alone(cols, (mask & ~bands_h).T).T
    return np.where(gone, np.float32(0.0), ink).astype(ink.dtype)


def _pass_for_lines(
    ink: np.ndarray, cleaned: np.ndarray, level: float, shape: tuple[int, ...], rows: list[Rule], cols: list[Rule]
) -> bool:
    """Whether every stretch of `rows` and `cols` runs on past the ink left without them, on both
    sides, and is thinner than its strokes."""
    rest = pieces.ink_mask(cleaned, level)
    at_rows, at_cols = np.flatnonzero(rest.any(axis=1)), np.flatnonzero(rest.any(axis=0))
    if at_rows.size == 0:
        return False
    pen = strokes.stroke_width(np.where(rest, ink, 0.0), FAINT)  # measured as the lines are
    for found, (lo, hi), side in ((rows, at_cols[[0, -1]], shape[1]), (cols, at_rows[[0, -1]], shape[0])):
        for rule in found:
            beyond = rule.first + BEYOND * side <= lo and hi <= rule.last - BEYOND * side
            if not (beyond and rule.thickness <= THIN * pen):
                return False
    return True


def _lattice_step(found: list[Rule]) -> float:
    """The step of the lattice these lines make (0.0 if they make none)."""
    if len(found) < LATTICE:
        return 0.0
    thick = [rule.thickness for rule in found]
    if max(thick) > LIKE * min(thick) + 1.0:
        return 0.0
    gaps = np.diff(np.sort([rule.at for rule in found]))
    step = float(gaps.min())
    return step if step > 0 and _whole_steps(gaps, step) else 0.0


def _evenly(found: list[Rule], step: float) -> bool:
    """Two lines or more, every gap between them a whole number of `step`."""
    return len(found) >= 2 and _whole_steps(np.diff(np.sort([rule.at for rule in found])), step)


def _whole_steps(gaps: np.ndarray, step: float) -> bool:
    ratios = gaps / step
    return bool(np.all(ratios >= 1.0 - STEP_SLACK) and np.all(np.abs(ratios - np.round(ratios)) <= STEP_SLACK))


def _union(found: list[Rule], shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for rule in found:
        out |= rule.band
    return out


def _lines_alone(found: list[Rule], ink: np.ndarray) -> np.ndarray:
    """The lines' bands, but for the columns where a band holds more ink than its line: a digit's
    stroke crosses the line there or lies along it, and keeps its ink (the line's under it too)."""
    out = np.zeros_like(ink)
    for rule in found:
        out |= rule.band & ((rule.band & ink).sum(axis=0) <= rule.thickness + ALONG)
    return out


def _edge_to_edge(mask: np.ndarray) -> list[Rule]:
    """Straight horizontal stretches of ink over at least EDGE of the mask's width."""
    w = mask.shape[1]
    if np.count_nonzero(mask.any(axis=0)) < EDGE * w:  # most pictures: no ink spans them (~1 ms saved)
        return []
    spread = _spread(mask, SPREAD)
    spread = _spread(spread.T, GAP).T  # a line fading for a few pixels still runs on
    core = mask & long_runs(spread, max(8, int(CANDIDATE * w)))
    if not core.any():
        return []
    stretches, count = strokes.components(core)
    spans = strokes.boxes(stretches, count)
    ys, xs = np.indices(mask.shape)
    found = []
    for i in np.flatnonzero(spans[1:, 3] - spans[1:, 1] + 1 >= EDGE * w) + 1:
        y, x = np.nonzero(stretches == i)
        counts = np.bincount(x - x.min())
        # Its own thickness: where digits lie along it or cross it, they add to it.
        thickness = float(np.percentile(counts[counts > 0], 25))
        alone = counts[x - x.min()] <= thickness + 1  # columns where no digit's stroke joins the line
        slope, offset = np.polyfit(x[alone], y[alone], 1)
        if np.sqrt(np.mean((y[alone] - (slope * x[alone] + offset)) ** 2)) > thickness + STRAIGHT:
            continue
        band = np.abs(ys - (slope * xs + offset)) <= thickness / 2 + MARGIN
        found.append(Rule(band, int(x.min()), int(x.max()), thickness, float(slope * (w / 2) + offset)))
    return found


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


def long_runs(mask: np.ndarray, length: int) -> np.ndarray:
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
