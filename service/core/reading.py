"""A picture of a whole number -> one MNIST frame per digit, left to right. Pure functions.

The ink (polarity, lighting and specks undone as for one digit, framing.py) is cut into pieces:
1. ruled lines taken out (lines.py); connected pieces of ink, gathered into groups, one per digit
   or touching digits (pieces.py);
2. a group of several pieces may also be two digits written apart: overlap is only a hint (two
   slanted digits overlap as a 5 and its hat do), so it is also offered split between its pieces;
3. a piece wide for its height may be several touching digits: it is cut into 2, 3, ... parts at
   the columns with the least ink, and every way of reading it is kept as an option;
4. each part is framed the MNIST way, and each group whole (groups.py). The digit model sees
   every option's frames in one batch, the group model every group, and the option both are
   surest of wins (groups.weigh: the group model says how many digits a group holds and which
   pair; the digit model reads each part; without a group model, the product of the parts'
   confidences decides: a clean 0 beats two half-0s).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from service.core import framing, groups, inks, lines, pieces, rings, skew, strokes
from service.core.decode import Decoded
from service.core.groups import GroupClasses
from service.errors import ServiceError

# The working size: a number is wider than a digit, and each digit still needs ~40 px or more.
READ_SIDE = 768
MAX_DIGITS = 12
# A part of a cut piece is at least this wide for its height (MNIST's 1s: 1st percentile 0.15,
# median 0.40; other digits: medians 0.7-0.95).
MIN_PART_ASPECT = 0.3
MAX_PARTS = 4  # touching digits in one piece, at most
# Narrower groups may still be two digits, one written into the other (touching 1s).
NARROW_PAIR = 0.35
# Cuts are placed at the columns with the least ink within this fraction of a part's width of
# where equal parts would put them.
CUT_WINDOW = 0.35
# Candidate columns per cut, and candidate ways to cut one group into k parts, at most.
CUT_CHOICES = 4
MAX_CUTS = 12
# A group of more pieces than this is not offered split between them: each split frames both
# sides over the whole picture, and a picture of noise made one group of ~4,000 pieces (105 s
# for one request). Two digits written apart are a few pieces each.
MAX_SPLIT_PIECES = 8

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Digit:
    """One digit of a number as read: the digit, the model's confidence, its box in the picture."""

    digit: int
    confidence: float
    box: Box

    def as_json(self) -> dict[str, object]:
        return {"digit": self.digit, "confidence": round(self.confidence, 6), "box": list(self.box)}


class NotANumber(ServiceError):
    status, code = 422, "not_a_number"


@dataclass(frozen=True)
class Option:
    """One way to read a group of ink: as these digits (frames), with these boxes."""

    frames: tuple[np.ndarray, ...]
    boxes: tuple[Box, ...]
    # Two parts cut from a group too narrow to hold two digits side by side (a 1 written into
    # its neighbour): weighed only where the group model finds a pair likelier than one digit.
    narrow: bool = False


@dataclass(frozen=True)
class Segmented:
    """A picture cut into groups of ink, left to right; each group has one or more options, and
    (for the group model) a frame of the whole group."""

    groups: tuple[tuple[Option, ...], ...]
    width: int
    height: int
    format: str
    mode: str
    inverted: bool
    group_frames: np.ndarray | None = None  # uint8 [groups, 28, 56]

    def whole_frames(self) -> np.ndarray:
        """group_frames, which segment() makes unless told not to (whole=False)."""
        if self.group_frames is None:
            raise ValueError("segmented without whole groups (segment(whole=False))")
        return self.group_frames

    def frames(self) -> np.ndarray:
        """Every option's frames, in order, for one batch: uint8 [n, 28, 28]."""
        return np.stack([f for options in self.groups for option in options for f in option.frames])

    def choose(
        self, probs: np.ndarray, group_probs: np.ndarray | None = None, classes: GroupClasses | None = None
    ) -> list[Digit]:
        """Given the digit model's answers for frames() (in order) and the group model's for
        group_frames: the digits of each group's best option, left to right."""
        out: list[Digit] = []
        at = 0
        for g, options in enumerate(self.groups):
            whole = None if group_probs is None else group_probs[g]
            best: groups.Weighed | None = None
            best_boxes: tuple[Box, ...] = ()
            pair_likelier = whole is not None and classes is not None and bool(np.argmax(classes.counts(whole)) == 1)
            for option in options:
                rows = probs[at : at + len(option.frames)]
                at += len(option.frames)
                if option.narrow and not pair_likelier:
                    continue
                weighed = groups.weigh(rows, whole, classes)
                if best is None or weighed.score > best.score:
                    best, best_boxes = weighed, option.boxes
            assert best is not None
            out.extend(Digit(d, c, box) for (d, c), box in zip(best.digits, best_boxes, strict=True))
        if len(out) > MAX_DIGITS:
            raise NotANumber(f"the picture has more than {MAX_DIGITS} digits")
        return out


def _part(ink: np.ndarray, left: int, right: int, place: skew.Placement) -> tuple[np.ndarray, Box] | None:
    """The frame and the picture-coordinate box of ink[:, left:right], or None if it holds none."""
    piece = ink[:, left:right]
    lit = piece > pieces.LEVEL
    if np.count_nonzero(lit) < strokes.SPECK_PX:
        return None
    rows = np.flatnonzero(lit.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    try:
        frame = framing.frame(skew.lean_back(piece[top:bottom], place.shear))
    except inks.BlankImage:
        return None
    if place.moved:  # mapped back pixel by pixel
        ys, xs = np.nonzero(lit)
    else:  # only the extremes count: the columns and rows with ink are enough
        ys, xs = rows, np.flatnonzero(lit.any(axis=0))
    return frame, place.box(xs + left, ys)


def _cuts(profile: np.ndarray, parts: int) -> list[list[int]]:
    """Ways to cut a group into `parts`: near each equal division, the CUT_CHOICES columns with the
    least ink (touching digits meet where there is least ink; overlapping ones have no empty
    column, so the classifier decides among the candidates)."""
    width = profile.size
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    choices = []
    for k in range(1, parts):
        centre = k * width / parts
        half = max(1, round(CUT_WINDOW * width / parts))
        lo, hi = max(1, round(centre) - half), min(width - 1, round(centre) + half)
        if hi <= lo:
            choices.append([round(centre)])
            continue
        spacing = max(1, (hi - lo) // (2 * CUT_CHOICES))
        picked: list[int] = []
        for x in lo + np.argsort(smooth[lo:hi], kind="stable"):
            if all(abs(int(x) - y) >= spacing for y in picked):
                picked.append(int(x))
            if len(picked) == CUT_CHOICES:
                break
        choices.append(picked)
    combos = sorted(itertools.product(*choices), key=lambda c: float(sum(smooth[x] for x in c)))
    return [list(c) for c in combos[:MAX_CUTS] if list(c) == sorted(c)]


def _options(ink: np.ndarray, place: skew.Placement) -> tuple[Option, ...]:
    """Ways to read one group's ink (already only that group's): as one digit, or as 2..MAX_PARTS
    touching digits, as its width allows."""
    lit = ink > pieces.LEVEL
    cols, rows = np.flatnonzero(lit.any(axis=0)), np.flatnonzero(lit.any(axis=1))
    if cols.size == 0:  # only faint ink left: its strong part was a ruled line's, and went with it
        return ()
    left, right = int(cols[0]), int(cols[-1]) + 1
    aspect = (right - left) / max(int(rows[-1]) - int(rows[0]) + 1, 1)
    # Always as one digit; as k touching digits when each would still be as wide as a digit, and
    # as two when the group is at least NARROW_PAIR wide (the group model decides those).
    counts = [
        1,
        *(k for k in range(2, MAX_PARTS + 1) if aspect / k >= MIN_PART_ASPECT or (k == 2 and aspect >= NARROW_PAIR)),
    ]
    profile = lit[:, left:right].sum(axis=0).astype(np.float32)
    options = []
    # Ways of cutting share parts (the first part of every 3-way cut at the same column): each
    # part is framed once (on the numbers set, 37 % of the parts were repeats).
    framed: dict[tuple[int, int], tuple[np.ndarray, Box] | None] = {}
    for k in counts:
        for cuts in [[]] if k == 1 else _cuts(profile, k):
            edges = [left, *(left + c for c in cuts), right]
            for span in itertools.pairwise(edges):
                if span not in framed:
                    framed[span] = _part(ink, *span, place)
            parts = [framed[span] for span in itertools.pairwise(edges)]
            found = [p for p in parts if p is not None]
            if len(found) == k:
                narrow = k == 2 and aspect / k < MIN_PART_ASPECT
                options.append(Option(tuple(f for f, _ in found), tuple(b for _, b in found), narrow))
    if not options:
        part = _part(ink, left, right, place)
        if part is not None:
            options.append(Option((part[0],), (part[1],)))
    return tuple(options)


def _splits(
    ink: np.ndarray, labels: np.ndarray, box: np.ndarray, ids: list[int], min_height: float, place: skew.Placement
) -> list[Option]:
    """Ways to read a group of several pieces as two digits written apart: its pieces, left to
    right, split in two where both sides are tall enough to be digits. Overlap is only a hint
    (two slanted digits can overlap as much as a 5 and its hat), so the models weigh these
    options against the group read whole or cut. Each side is at least `min_height` tall."""
    if not 2 <= len(ids) <= MAX_SPLIT_PIECES:
        return []
    order = sorted(ids, key=lambda i: float(box[i, 1] + box[i, 3]))
    options = []
    for k in range(1, len(order)):
        parts = []
        for side in (order[:k], order[k:]):
            rows = box[side]
            if rows[:, 2].max() - rows[:, 0].min() + 1 < min_height:
                break
            side_ink = ink * strokes.dilate(np.isin(labels, side).astype(np.float32), 1)
            part = _part(side_ink, max(0, int(rows[:, 1].min()) - 1), int(rows[:, 3].max()) + 2, place)
            if part is None:
                break
            parts.append(part)
        if len(parts) == 2:
            options.append(Option(tuple(f for f, _ in parts), tuple(b for _, b in parts)))
    return options


def _grouped(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """The ink's pieces (labels, boxes; ruled lines out) and their groups, left to right."""
    mask = pieces.ink_mask(ink, pieces.LEVEL)
    labels, box = lines.without_lines(mask, *pieces.pieces(mask))
    return labels, box, pieces.groups(labels, box)


def segment(decoded: Decoded, whole: bool = True) -> Segmented:
    """A decoded picture of a number -> its groups of ink, each with the ways to read it (and,
    if `whole`, each group framed whole for the group model)."""
    found, scale = inks.ink_of(decoded, READ_SIDE, take_doubts=True)
    ink = rings.without_ring(strokes.without_specks(framing.without_printing(found.values)))
    place = skew.Placement(scale, decoded.width, decoded.height)
    labels, box, found_groups = _grouped(ink)
    degrees = skew.tilt(box, found_groups)
    if degrees:  # written askew: cut the ink turned level
        ink, place = skew.level(ink, degrees, place)
        labels, box, found_groups = _grouped(ink)
    shear = skew.slant(ink, labels, found_groups)
    if shear:  # leaning far: cut the ink upright (each digit is framed leaning as written)
        ink, place = skew.upright(ink, shear, place)
        labels, box, found_groups = _grouped(ink)
    if not found_groups:
        raise inks.BlankImage("the picture has no visible ink")
    if len(found_groups) > MAX_DIGITS:
        raise NotANumber(f"the picture has more than {MAX_DIGITS} digits (or is not a number)")
    # A side of a split is digit-tall where a piece is: it would not be a fragment.
    min_height = pieces.FRAGMENT * pieces.digit_height(box)
    out, frames = [], []
    for ids in found_groups:
        own = np.isin(labels, ids)
        # Only this group's ink, with its faint edges: the neighbours' strokes stay out.
        group_ink = ink * strokes.dilate(own.astype(np.float32), 1)
        options = (*_options(group_ink, place), *_splits(ink, labels, box, ids, min_height, place))
        if options:
            out.append(options)
            if whole:
                frames.append(groups.frame_group(skew.lean_back(group_ink, place.shear)))
    if not out:
        raise inks.BlankImage("the picture has no visible ink")
    return Segmented(
        groups=tuple(out),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        mode=decoded.image.mode,
        inverted=found.inverted,
        group_frames=np.stack(frames) if frames else None,
    )
