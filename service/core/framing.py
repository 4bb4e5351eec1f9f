"""A decoded picture of a digit -> the 28x28 frame MNIST was made of. Pure functions.

MNIST digits are white ink on black, cropped to their ink, scaled so the longer side is 20 px
(aspect kept, anti-aliased) and placed in 28x28 by their centre of mass. Real uploads differ in
every respect, so each step below undoes one difference.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.core import boxes, closer, inks, levels, lines, pieces, rings, strokes, underline
from service.core.decode import WORK_SIDE, Decoded, Limits, decode
from service.core.inks import BOX, CENTRE, FRAME, BlankImage, Ink
from service.core.strokes import even_strokes, without_specks


@dataclass(frozen=True)
class Prepared:
    """The frame the model sees (uint8 28x28, white ink on black) and what was done to get it.
    It keeps nothing of the decoded picture, so that can be freed as soon as this exists."""

    pixels: np.ndarray
    width: int
    height: int
    format: str
    mode: str
    inverted: bool
    framed: bool  # False when a 28x28 MNIST-style input was used as it is
    # The frames read other ways where a step was in doubt (a shade that may be a shadow or bold
    # writing, shade.py; a small sheet on a desk that may be a bold light digit, paper.py; a line
    # along the digit's foot that may be an underline or its own stroke, underline.py); the model
    # reads them all and a clearly surer reading stands (core/surer.py).
    alternatives: tuple[np.ndarray, ...] = ()


def frame(ink: np.ndarray, shape: tuple[int, int] = (FRAME, FRAME), box: tuple[int, int] = (BOX, BOX)) -> np.ndarray:
    """Ink [0,1] (any size) -> uint8 `shape` (28x28 for a digit): crop to ink, even the strokes,
    scale to fit `box` (the longer side of a digit to 20 px), centre of mass at the centre."""
    ink = without_specks(ink)
    # Trim a sliver of the ink mass from each side: stray specks far from the digit do not
    # stretch the box, while the digit's own strokes keep it.
    top, bottom = levels.mass_bounds(ink.sum(axis=1), 0.003)
    left, right = levels.mass_bounds(ink.sum(axis=0), 0.003)
    crop = ink[top : bottom + 1, left : right + 1]
    if crop.size == 0 or float(crop.max()) <= 0.0:
        raise BlankImage("the picture has no visible ink")
    # The strokes are judged at the scale they will have: the side that will be BOX px.
    h, w = crop.shape
    crop = even_strokes(crop, max(h * BOX // box[0], w * BOX // box[1]))
    h, w = crop.shape
    scale = min(box[0] / h, box[1] / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_img = Image.fromarray(np.asarray(crop * 255.0, dtype=np.uint8), mode="L")
    small = np.asarray(small_img.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    # Resampling a thin stroke leaves it faint; MNIST strokes reach full white.
    lit = small[small > 0]
    (peak,) = levels.quantiles(lit, (0.99,)) if lit.size else (0.0,)
    if peak <= 0.0:
        raise BlankImage("the picture has no visible ink")
    small = np.clip(small * (255.0 / peak), 0.0, 255.0)
    mass = small.sum()
    cy = float((small.sum(axis=1) * np.arange(small.shape[0])).sum() / mass)
    cx = float((small.sum(axis=0) * np.arange(small.shape[1])).sum() / mass)
    oy = int(np.clip(round(CENTRE * shape[0] / FRAME - cy), 0, shape[0] - small.shape[0]))
    ox = int(np.clip(round(CENTRE * shape[1] / FRAME - cx), 0, shape[1] - small.shape[1]))
    out = np.zeros(shape, dtype=np.float32)
    out[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
    return np.asarray(np.round(out), dtype=np.uint8)


def without_printing(ink: np.ndarray) -> np.ndarray:
    """The ink without what was printed on the paper, for one digit as for a number: a box around
    the writing (a form's field), then ruled lines across the picture (far above or below the
    writing they stretched its box, through it they became strokes)."""
    return lines.across(boxes.inside(ink, pieces.LEVEL), pieces.LEVEL)


def prepare_image(decoded: Decoded) -> Prepared:
    """A decoded picture -> the 28x28 frame, and the frames of the other readings of any step in
    doubt (`Prepared.alternatives`)."""
    ink, doubted, _ = inks.inks_of(decoded, WORK_SIDE, "both")
    pixels, *alternatives = _framed(ink, decoded)
    for other in doubted:
        with contextlib.suppress(BlankImage):  # nothing left that way: the other readings stand
            alternatives += _framed(other, decoded)
    return Prepared(
        pixels=pixels,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        mode=decoded.image.mode,
        inverted=ink.inverted,
        framed=not ink.mnist_framed,
        alternatives=tuple(alternatives),
    )


def _framed(ink: Ink, decoded: Decoded) -> list[np.ndarray]:
    """One picture's ink -> its 28x28 frame, then the frame without a line touching its foot
    when there may be one (`underline.touching`)."""
    if ink.mnist_framed:
        return [np.asarray(np.round(ink.values * 255.0), dtype=np.uint8)]
    found = without_printing(ink.values)
    # A small digit in a large picture: its ink again, from closer up. Not where a box or
    # ruled lines were taken out: a cut around the digit keeps pieces of them, and loses
    # what told them apart (the comb family: 3 of 21 such frames read worse).
    near = closer.region(found, decoded.image.size) if found is ink.values else None
    if near is not None:
        cut = decoded.image.crop(near)
        with contextlib.suppress(BlankImage):  # none there after all: what was found stands
            ink, _ = inks.ink_of(Decoded(cut, decoded.format, cut.width, cut.height))
            found = without_printing(ink.values)
    digit = pieces.without_underline(rings.without_ring(strokes.without_neighbours(found)))
    frames = [frame(digit)]
    underlined = underline.touching(digit)
    if underlined is not None:
        with contextlib.suppress(BlankImage):
            frames.append(frame(underlined))
    return frames


def prepare(data: bytes, limits: Limits | None = None) -> Prepared:
    """Image file bytes -> the 28x28 frame the model sees (decode, then frame)."""
    return prepare_image(decode(data, limits or Limits()))
