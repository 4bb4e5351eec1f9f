"""A decoded picture -> its ink: grey levels, the paper's polarity and light taken out, ink
bright on black in [0, 1], and whether it is already a 28x28 MNIST frame. Pure functions.

What each step undoes is said where it is done: a desk around the sheet (paper.py), a shadow
across it (shade.py), uneven light (levels.flatten), the ink's ramp from the paper's noise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from service.core import levels, paper, polarity, shade
from service.core.decode import WORK_MODES, WORK_SIDE, Decoded, has_alpha
from service.errors import ServiceError

FRAME = 28
BOX = 20
# MNIST's centre of mass, measured on its test set in array-index coordinates.
CENTRE = 14.0
# Ink stands at least this many standard deviations of the paper's noise above the paper.
NOISE_SIGMAS = 4.0
# The paper's noise is never taken as under one 8-bit grey level: a large photo shrunk to the
# working size averages its grain away, over half its paper came out one level and the noise 0,
# and the paper's last level above it passed for ink (a small digit in a 12-MP photo refused as
# "too little contrast").
LEVEL_STEP = 1.0 / 255.0
# Ink found only along a refused picture's colour axis covers at least this share of it (a 1-px
# line across a 600-px canvas: 0.3 %).
MIN_OTHER_INK = 0.001


# A step in doubt -- a shade that may be a shadow or bold writing (shade.py), a small sheet that
# may be a bold light digit (paper.py) -- is left out ("left": the picture as it is), taken
# ("taken": a shadow always, a small sheet when the writing on it is fine, `paper.Sheet.fine`),
# or both ways (one reading each).
Doubt = Literal["left", "taken", "both"]


class BlankImage(ServiceError):
    status, code = 422, "no_ink"


def _composite(img: Image.Image, background: int, mode: str = "L") -> Image.Image:
    rgba = img.convert("RGBA")
    base = Image.new("RGBA", rgba.size, (background, background, background, 255))
    return Image.alpha_composite(base, rgba).convert(mode)


def to_grey(img: Image.Image, background: int = 255) -> np.ndarray:
    """Grey levels as float32 in [0, 1] (1 = white). Transparency is composited first,
    so a black digit on a transparent background stays a black digit."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        return np.asarray(np.clip((arr - lo) / max(hi - lo, 1e-6), 0.0, 1.0), dtype=np.float32)
    if has_alpha(img):
        grey = _composite(img, background)
    elif img.mode == "L":
        grey = img
    else:
        grey = img.convert("RGB").convert("L") if img.mode not in ("1", "P") else img.convert("L")
    return np.asarray(grey, dtype=np.float32) / 255.0


def _shrink(img: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    if max(img.size) <= side:
        return img
    if img.mode.startswith("I;16"):
        img = img.convert("I")  # RGB would clip 16-bit levels instead of scaling them
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if img.mode in ("1", "P"):
        img = img.convert("LA" if has_alpha(img) else "L")  # 1 byte a pixel where RGB takes 4
    elif img.mode not in WORK_MODES:
        img = img.convert("RGBA" if has_alpha(img) else "RGB")
    return img.resize(size, Image.Resampling.BOX)


def _is_mnist_framed(ink: np.ndarray, background: float) -> bool:
    """A 28x28 picture already framed like MNIST (dark, clean background, centred digit)."""
    if ink.shape != (FRAME, FRAME) or background > 0.05:
        return False
    # Row and column profiles, not pixel coordinates: this runs on every 28x28 upload.
    lit = ink > 0.1
    rows = np.flatnonzero(lit.any(axis=1))
    cols = np.flatnonzero(lit.any(axis=0))
    if rows.size == 0:
        return False
    if rows[-1] - rows[0] + 1 > BOX + 2 or cols[-1] - cols[0] + 1 > BOX + 2:
        return False
    by_row, by_col = ink.sum(axis=1), ink.sum(axis=0)
    mass = float(by_row.sum())
    cy = float(by_row @ _FRAME_AXIS) / mass
    cx = float(by_col @ _FRAME_AXIS) / mass
    return abs(cy - CENTRE) <= 2.0 and abs(cx - CENTRE) <= 2.0


_FRAME_AXIS = np.arange(FRAME, dtype=np.float32)


@dataclass(frozen=True)
class Ink:
    values: np.ndarray  # float32 [0, 1], ink bright on a black background
    inverted: bool  # the picture was dark ink on light paper
    mnist_framed: bool  # already a 28x28 MNIST-style frame: used as it is


def normalise(grey: np.ndarray) -> Ink:
    """Grey [0,1] -> ink intensity [0,1] on a black background."""
    vote = polarity.of(grey)
    inverted, sparse, med = vote.inverted, vote.sparse, vote.median
    ink = 1.0 - grey if inverted else grey
    if vote.flat:
        raise BlankImage("the picture has no visible ink (it is one flat colour)")
    if _is_mnist_framed(ink, 1.0 - med if inverted else med):
        return Ink(ink, inverted, mnist_framed=True)
    if min(ink.shape) >= 16 and not sparse and not vote.dense:
        ink = levels.flatten(ink)
    sample = ink.ravel() if sparse else levels.sample(ink)
    split = levels.otsu(np.clip(sample, 0.0, 1.0))
    (paper,) = levels.quantiles(sample, (0.5,))
    try:
        floor, top = _ramp(sample, split, paper)
    except BlankImage:
        if not np.any(sample <= split):
            raise
        # A thick digit cut at its ink is half ink: the median is in the strokes' edges, the
        # noise measured below it spans paper to ink, and nothing stood clear of it (MNIST test
        # digits cut at their ink and enlarged: 38 % refused). Otsu's background class is paper
        # there. Only pictures refused otherwise are read this way: for sparse ink, Otsu splits
        # the paper's own noise, and the median is the better paper.
        (paper,) = levels.quantiles(sample[sample <= split], (0.5,))
        floor, top = _ramp(sample, split, paper)
    return Ink(np.clip((ink - floor) / (top - floor), 0.0, 1.0).astype(np.float32), inverted, mnist_framed=False)


def _ramp(sample: np.ndarray, split: float, paper: float) -> tuple[float, float]:
    """The ink's ramp (floor, top) in a picture whose paper is at `paper`: Otsu's `split` or what
    stands clear of the paper's noise, whichever is higher."""
    # Otsu splits the paper's own noise when the ink is a sliver of the picture (a fine pen on a
    # large photo): ink is what stands clear of the paper's noise (median absolute deviation).
    # The deviation is taken below the paper's level only, where no ink is: in a picture cropped
    # tight around the writing, ink and its edges are a third of the pixels, and a deviation over
    # all of them doubled the threshold and ate the strokes (photographed numbers cut at their
    # ink, 32 px high: 32 of 40 read, 36 with a margin; now 36 either way).
    below = paper - sample[sample <= paper]
    (spread,) = levels.quantiles(below, (0.5,))
    spread = max(spread, LEVEL_STEP)
    threshold = max(split, paper + NOISE_SIGMAS * 1.4826 * spread)
    back = sample[sample <= threshold]
    fore = sample[sample > threshold]
    if fore.size == 0 or back.size == 0:
        raise BlankImage("the picture has no visible ink")
    # Ramp from just above the paper's noise to the typical ink level: keeps the anti-aliased
    # edges MNIST has, drops paper grain and JPEG ringing.
    floor = float(np.mean(back) + 3.0 * np.std(back))
    (top,) = levels.quantiles(fore, (0.9,))
    floor = min(floor, (threshold + top) / 2)
    if top - floor < 0.05:
        raise BlankImage("the picture has too little contrast to find a digit")
    return floor, top


def ink_of(decoded: Decoded, side: int = WORK_SIDE, take_doubts: bool = False) -> tuple[Ink, float]:
    """The picture's ink at a working size of at most `side` px, and that size over the picture's.
    A step in doubt (a small sheet, `paper.Sheet.sure`; a shadow, `shade.Relit.sure`) is left out,
    or (`take_doubts`, /v1/read) taken: a number is wide, and no bold number cut at its ink was
    ever in doubt; a small sheet only with fine writing on it (`paper.Sheet.fine`)."""
    ink, _, scale = inks_of(decoded, side, "taken" if take_doubts else "left")
    return ink, scale


def inks_of(decoded: Decoded, side: int, doubt: Doubt) -> tuple[Ink, list[Ink], float]:
    """`ink_of`, the steps in doubt taken as `doubt` says; with "both", also the ink with each
    step in doubt taken, one reading each."""
    work = _shrink(decoded.image, side)
    grey = to_grey(work, background=255)
    others: list[np.ndarray] = []
    if min(grey.shape) >= paper.MIN_SIDE:  # a desk around the sheet is no ink
        sheet = paper.on_sheet(grey, levels.otsu(levels.sample(grey)))
        if sheet is not None and (sheet.sure or (doubt == "taken" and sheet.fine)):
            grey = sheet.grey
        elif sheet is not None and doubt == "both":
            others.append(sheet.grey)
    lit = shade.relit(grey)  # a shadow across the page is no ink either
    if lit is not None and (lit.sure or doubt == "taken"):
        grey = lit.grey
    elif lit is not None and doubt == "both":
        others.append(lit.grey)
    doubted = []
    for other in others:
        with contextlib.suppress(BlankImage):
            doubted.append(normalise(other))
    try:
        ink = normalise(grey)
    except BlankImage as refused:
        ink = _looked_at_again(work, refused)
    return ink, doubted, work.width / max(decoded.width, 1)


def _looked_at_again(work: Image.Image, refused: BlankImage) -> Ink:
    """The ink of a picture refused as blank in grey on white, looked at the other ways it can
    hide: light strokes on a transparent background vanish on white (black paper instead), and
    ink as bright as its paper but of another colour (red on green) vanishes in grey (the
    picture's main colour axis instead)."""
    if has_alpha(work):
        try:
            return normalise(to_grey(work, background=0))
        except BlankImage as exc:
            refused = exc
    if work.mode not in ("RGB", "RGBA"):
        raise refused
    rgb = _composite(work, 255, "RGB") if has_alpha(work) else work.convert("RGB")
    colour = levels.colour_axis(np.asarray(rgb, np.float32) / 255)
    if colour is None:
        raise refused
    ink = normalise(colour)
    # Along a colour axis a flat picture's noise can be wider than in grey, and a few outliers of
    # it are no ink (3 of 400 noisy flat colours read as digits without this).
    if float(np.mean(ink.values > 0.5)) < MIN_OTHER_INK:
        raise refused
    return ink
