"""A shadow across the page: a phone or a hand between the lamp and the sheet darkens part of it
with an edge no smooth surface follows (framing's `levels.flatten` fits a quadratic one). Taken for
ink, the shadow filled the frame: the upload-like `shadow` family read 82 of 200 without this, 161
with it, 182 since a shadow in doubt is read both ways (`mnist-probes family shadow [--without
shadow|shadow-doubt]`: 83 and 162 today).

The paper's light is measured under the strokes -- a grey closing (the brightest of each
neighbourhood, then the darkest of those: dark strokes narrower than it vanish, an edge of any
softness stays), then an opening (bright strokes narrower than it vanish: chalk on a board is no
lit paper) -- and divided out, as a camera's light multiplies paper and ink alike. Only a picture
whose light parts into a shade and a lit paper, both wide and both reaching the picture's border,
is changed; every other is left as it is (7 of the card's other 3,664 upload-like pictures are
relit, none reads otherwise). A shade narrower than that, or as dark as the ink, is a shadow in
doubt: it may be the writing itself (a bold digit cut at its ink), so the digit is read both ways
(`Relit.sure`, framing.Prepared.alternatives). Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core import levels, polarity, strokes

# Smaller pictures are not looked at (a 28x28 upload, the fast path, pays nothing).
MIN_SIDE = 64
# Nor pictures whose 10th and 90th percentiles lie less than this apart (of the 90th): ink covers
# under a tenth of nearly every picture, and the smooth light of the photo families falls by 0.3
# at most over the whole of one. Costs 32 us on a 256-px picture; the rest ~2 ms, when reached.
SPREAD = 0.25
# The closing's radius, of the picture's shorter side: wider than a digit's strokes, narrower than
# a shadow.
RADIUS = 1 / 16
# A shadow: the light spans at least SPAN; the shade lines at least BORDER of the picture's border
# and the lit paper at least LIT_BORDER; both are WIDE (area over half their edges, of the shorter
# side: a bold digit cut at its ink has strokes 0.1-0.3 wide, a shadow's halves 0.3-2); and the
# shade is paper, not ink: its median lies at least PAPER of the way from the darkest ink to the lit
# paper (a bold stroke's core is the darkest ink). Lowering WIDE to 0.25 relit a bold 9 of the
# `cut` family into a 3.
SPAN = 0.25
BORDER = 0.1
LIT_BORDER = 0.1
WIDE = 0.3
PAPER = 0.2
# A shade that fails WIDE or PAPER -- a wedge of a phone's shadow, a shadow leaving 30 % of the
# light, as dark as the pen -- is still a shadow in doubt when it is THICK times as wide as the
# writing: the strokes at least INK darker than the light around them. A bold digit cut at its ink
# passes that too (its thin ends and the closing's misfits along its edges are "writing"), so in
# doubt the digit is read both ways and the surer reading stands. The upload-like `shadow` family:
# 162 -> 186 of 200 relit whenever in doubt, at the price of 41 of the `cut` family's 200 read
# wrong; read both ways, 162 -> 182 and the `cut` family as before (with MIDWAY and the polarity
# check below, and surer.MARGIN). /v1/read takes a shadow in doubt as one (inks.ink_of).
INK = 0.3
THICK = 4.0
# ... and when, besides, the picture is dark ink on light paper (a light digit on a dark ground,
# cut at its ink, is all "shade": 531 of 1,000 such `mnist-probes cut` pictures were in doubt,
# 4 read worse), and the light changes at an edge: under MIDWAY of the picture lies in the middle
# half of the way from the shade to the lit paper (a shadow's edge: 0.001-0.16 in the `shadow`
# family's doubts; light falling off across a photographed digit cut near its ink: 0.27-0.31,
# and relit, two of them read worse).
MIDWAY = 0.2


@dataclass(frozen=True)
class Relit:
    """The picture with a shadow's light divided out; `sure` False when the shade may be writing."""

    grey: np.ndarray
    sure: bool


def light(grey: np.ndarray) -> np.ndarray:
    """The paper's light under the strokes: `grey` closed, then opened, by a square of
    2 * RADIUS of its shorter side. Mirrored beyond its border: a line along the border stays a
    line (repeating the border pixel instead made a form's box side a shadow)."""
    r = max(2, round(min(grey.shape) * RADIUS))
    pad = 4 * r  # each of the four passes reaches r further
    padded = np.pad(grey, pad, mode="reflect")
    closed = strokes.erode(strokes.dilate(padded, r), r)
    opened = strokes.dilate(strokes.erode(closed, r), r)
    return np.asarray(opened[pad:-pad, pad:-pad], dtype=np.float32)


def relit(grey: np.ndarray) -> Relit | None:
    """`grey` (0 black .. 1 white) with a shadow's light divided out, or None when it shows none."""
    if min(grey.shape) < MIN_SIDE:
        return None
    darkest, low, high = levels.quantiles(levels.sample(grey), (0.005, 0.1, 0.9))
    if high - low <= SPREAD * high:
        return None
    under = light(grey)
    dark_end, lit = levels.quantiles(levels.sample(under), (0.02, 0.98))
    if lit - dark_end < SPAN:
        return None
    shaded = under < (dark_end + lit) / 2
    border = float(levels.border(shaded).mean())
    if border < BORDER or 1.0 - border < LIT_BORDER:
        return None
    width = min(_width(shaded), _width(~shaded))
    (in_shade,) = levels.quantiles(grey[shaded], (0.5,))
    sure = width >= WIDE * min(grey.shape) and in_shade - darkest >= PAPER * (high - darkest)
    if not sure and not _in_doubt(grey, under, (dark_end, lit), width):
        return None
    divided = np.clip(grey * lit / np.maximum(under, np.float32(1e-3)), 0.0, 1.0)
    return Relit(np.asarray(divided, dtype=np.float32), sure)


def _in_doubt(grey: np.ndarray, under: np.ndarray, light: tuple[float, float], width: float) -> bool:
    """Whether a shade that is not surely a shadow may still be one (INK, THICK, MIDWAY): `under`
    the paper's light, `light` its darkest and brightest, `width` the narrower of shade and lit."""
    dark_end, lit = light
    span = lit - dark_end
    midway = float(np.count_nonzero((under > dark_end + span / 4) & (under < lit - span / 4))) / under.size
    if midway >= MIDWAY or not polarity.of(grey).inverted:
        return False
    writing = (grey < under * (1.0 - INK)).astype(np.float32)
    return bool(writing.any()) and width >= THICK * strokes.stroke_width(writing)


def _width(region: np.ndarray) -> float:
    """How wide a region is: its area over half its edges inside the picture (a stroke of width t
    gives t; half the picture cut straight across, the picture's side)."""
    edges = np.count_nonzero(region[1:] != region[:-1]) + np.count_nonzero(region[:, 1:] != region[:, :-1])
    return 2.0 * float(np.count_nonzero(region)) / max(int(edges), 1)
