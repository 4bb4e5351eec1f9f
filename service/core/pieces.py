"""A number's ink -> its pieces, and the pieces -> groups: one per digit, or per touching digits.

Connected pieces of the binarised ink (and the fainter ink joining it); underlines, dots and marks
between the digits (a dash, a comma) go;
short pieces sharing columns are taken together (a small digit with broken strokes); pieces that
overlap horizontally are one group (a 5's hat, a broken 4 or 6); what is still short is a fragment
of the nearest group. How each group is read (whole, cut, or split between its pieces) is
reading.py's.
"""

from __future__ import annotations

import numpy as np

from service.core import strokes

# Binarisation of the ink for its pieces (ink is [0, 1]; framing keeps the faint edges anyway); a
# single digit's picture is judged for ruled lines at the same level (framing).
LEVEL = 0.35
# Underlines: flat (height under this fraction of the digits') and wider than a digit.
FLAT = 0.3
# A single digit's underline: also WIDE times as wide as high, LONG of the digit's height, and
# below the rest of the ink (its top at most UNDER of the digit's height above their foot).
WIDE = 4.0
LONG = 0.4
UNDER = 0.05
# Dots and flecks: both sides under this fraction of the digits' height.
DOT = 0.25
# Pieces overlapping horizontally by at least this fraction of the narrower are one group (read
# whole, cut, or split between its pieces). 0.5 kept a 6 whose loop is apart from its stem as "10";
# on the numbers set of seed 12 (30 per cell), 0.2 with the splits: separated 198 -> 199 of 210.
OVERLAP = 0.2
# Pieces under this fraction of the digits' height are fragments of a digit, joining the group
# they overlap or lie within NEAR_FRAGMENT (of the digits' height) of.
FRAGMENT = 0.5
NEAR_FRAGMENT = 0.3
# A piece under MARK of the digits' height, beside them (over no digit's columns), is punctuation:
# a dash, a comma, a decimal point too big for a dot. It goes, unless it reaches into the top of
# the digit it is nearest by TOP_BAND of its height (a 5's hat, a 7's bar written apart). Kept as
# a fragment, a dash was read as a 7 or a 1 beside its digit in 16 of 40 numbers like 21-08
# (MNIST test digits), a comma in 5 of 40 (ad hoc). Digits' own fragments and small digits, which
# must stay, were 0.42-0.48 of the digits' height in the numbers set; marks 0.14-0.39.
MARK = 0.4
TOP_BAND = 0.25
# Ink fainter than the binarisation level still belongs to a piece where it joins ink above that
# level (hysteresis): a stroke that fades midway is one piece, not two and a gap; faint ink that
# joins nothing stays out. On the numbers sets (60 per cell of seed 11, 30 of seed 12; 1,260 numbers)
# +7 read right: separated 400 -> 401 and 198 -> 201, touching 390 -> 394 and 201 -> 200.
FAINT = 0.15


def ink_mask(ink: np.ndarray, level: float) -> np.ndarray:
    """The ink above `level`, with the fainter ink (above FAINT) connected to it."""
    labels, _ = strokes.components(ink > FAINT)
    return np.isin(labels, np.unique(labels[ink > level]))


def pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and boxes (top, left, bottom, right) of the mask's connected pieces; row 0 unused."""
    labels, count = strokes.components(mask)
    return labels, strokes.boxes(labels, count)


def without_underline(ink: np.ndarray) -> np.ndarray:
    """A single digit's ink without a line drawn apart under it (a 6 or a 9 told from the other
    so, a total): flat and long, below all the rest. Kept, it made the digit a 2 or its bar a 7's
    (`mnist-probes crops`, underlined: 239 of 300 read with it, 253 without; `--without
    underline`; most of the rest touch it: `underline.touching`). The digit's own flat
    pieces lie beside or above its others, not below them all."""
    found = strokes.measured(ink)
    if found is None:
        return ink
    labels, box, sizes = found
    heights, widths = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    digit_h = heights[int(np.argmax(sizes))]
    flat = (heights < FLAT * digit_h) & (widths >= WIDE * heights) & (widths >= LONG * digit_h)
    rest = ~flat & (sizes >= strokes.MAIN_PIECE * sizes.max())
    if not flat.any() or not rest.any():
        return ink
    return strokes.dropped(ink, labels, flat & (box[:, 0] > box[rest, 2].max() - UNDER * digit_h))


def digit_height(box: np.ndarray) -> float:
    """The digits' height: the median height of the pieces at least half as tall as the tallest."""
    heights = box[1:, 2] - box[1:, 0] + 1
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def groups(labels: np.ndarray, box: np.ndarray) -> list[list[int]]:
    """The labels of each digit-or-touching-digits group, left to right."""
    count = box.shape[0] - 1
    if count == 0:
        return []
    heights = box[1:, 2] - box[1:, 0] + 1
    widths = box[1:, 3] - box[1:, 1] + 1
    digit_h = digit_height(box)
    ids = [
        i + 1
        for i in range(count)
        if not (heights[i] < FLAT * digit_h and widths[i] > digit_h)  # an underline
        and not (heights[i] < DOT * digit_h and widths[i] < DOT * digit_h)  # a dot
    ]
    # Short pieces that share columns are first taken together: a small digit written with a
    # broken stroke is several short pieces, none of them a fragment of its neighbours.
    units: list[list[int]] = []
    unit_right = -1  # the last unit's right edge (kept, not recomputed: noise makes units of thousands)
    for i in sorted((i for i in ids if heights[i - 1] < FRAGMENT * digit_h), key=lambda i: box[i, 1]):
        if units and box[i, 1] <= unit_right:
            units[-1].append(i)
            unit_right = max(unit_right, int(box[i, 3]))
        else:
            units.append([i])
            unit_right = int(box[i, 3])
    units += [[i] for i in ids if heights[i - 1] >= FRAGMENT * digit_h]
    # Units at least half as tall as the digits start groups; shorter ones (a 5's hat, the bar
    # of a 4 written apart) join the group they overlap most, or the nearest.
    spans_of = {id(u): (int(box[u, 1].min()), int(box[u, 3].max())) for u in units}
    tall = sorted(
        (u for u in units if box[u, 2].max() - box[u, 0].min() + 1 >= FRAGMENT * digit_h),
        key=lambda u: spans_of[id(u)][0],
    )
    groups: list[list[int]] = []
    spans: list[list[int]] = []
    for u in tall:
        left, right = spans_of[id(u)]
        if spans:
            g_left, g_right = spans[-1]
            overlap = min(right, g_right) - max(left, g_left) + 1
            if overlap >= OVERLAP * min(right - left + 1, g_right - g_left + 1):
                groups[-1].extend(u)
                spans[-1] = [min(left, g_left), max(right, g_right)]
                continue
        groups.append(list(u))
        spans.append([left, right])
    if not groups:
        return []
    taken = {i for g in groups for i in g}
    for u in units:
        if u[0] in taken:
            continue
        left, right = spans_of[id(u)]
        # Overlap with each group (negative: the gap to it); the fragment joins the best.
        reach = [min(right, g_right) - max(left, g_left) for g_left, g_right in spans]
        best = int(np.argmax(reach))
        top, bottom = box[groups[best], 0].min(), box[groups[best], 2].max()
        beside = reach[best] < 0
        small = box[u, 2].max() - box[u, 0].min() + 1 < MARK * digit_h
        if small and beside and box[u, 0].min() > top + TOP_BAND * (bottom - top + 1):
            continue  # punctuation
        if reach[best] >= -NEAR_FRAGMENT * digit_h:
            groups[best].extend(u)
    return groups
