"""A number written askew -> its ink turned level, and the way back to the picture's pixels.

A phone held at an angle, or a number written uphill, tilts the whole line of writing: at 15-20°
each digit's columns reach under its neighbour's, so two digits became one group (2146 read
"246"), and every digit is framed tilted. The tilt is the slope of the line through the groups'
centres (not the ink's long axis: handwriting's slant would tilt that too); where it is steep
enough to matter and the number has enough groups to tell, the ink is turned level before it is
cut, and each digit's box is turned back into the uploaded picture's pixels.

Writing that leans far (a slant, not a tilt: the line stays level, each digit's strokes lean) has
the same trouble: neighbours reach under each other's columns. Measured over the groups' own ink
moments, a lean beyond MNIST's digits' own is sheared away, and boxes are sheared back too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x, y, w, h

# Tilts under MIN_DEG are left alone (the digits stay apart and MNIST's own digits lean that much);
# over MAX_DEG the picture is no longer a line of writing tilted by a hand.
MIN_DEG = 5.0
MAX_DEG = 30.0
# The centres of two digits of different sizes (+-15 %) tilt the line through them by up to ~7
# degrees on their own: with fewer than MIN_GROUPS groups a tilt counts from TWO_DEG. Two-digit
# numbers tilted 8-20 degrees (seeds 21, 22; ad hoc) read 109 -> 113 of 120 so; upright ones
# (240, separated and touching) as before.
MIN_GROUPS = 3
TWO_DEG = 8.0
# MNIST's digits lean right: the shear of their ink (cov(x, y) / var(y), rows down) has median
# -0.12 over 20,000 training digits, std 0.28. Writing whose digits together lean more (or less)
# by over MIN_SHEAR (28 % of MNIST's digits do, one by one) is sheared upright before it is cut:
# slanted neighbours reach under each other's columns. Each digit is then framed leaning as
# written, but by no more than BACK_SHEAR beyond MNIST's median (the model reads digits leaning
# beyond MNIST's own worse). Measured on 4-digit numbers sheared 0.6 (seeds 11, 12, 120 a kind, ad
# hoc): separated 105 -> 111, touching 88 -> 106; 4-digit numbers of seeds 11-15 (600) and
# the card's 840 of seed 11: one more right and one more wrong in each. With MIN_SHEAR 0.2 a
# third of those numbers were sheared, and seed 11's read 3 right ones wrong, 1 wrong one right.
MNIST_SHEAR = -0.12
MIN_SHEAR = 0.3
MAX_SHEAR = 1.0
BACK_SHEAR = 0.3


@dataclass(frozen=True)
class Placement:
    """Working-size ink coordinates -> the uploaded picture's pixels: divided by `scale`, and,
    once the ink was turned by `angle` degrees (counter-clockwise) about its centre, turned back;
    once it was then sheared upright (slant()), sheared back first."""

    scale: float
    width: int  # the uploaded picture's size
    height: int
    angle: float = 0.0
    centre_before: tuple[float, float] = (0.0, 0.0)  # (x, y) of the ink's centre before and after turning
    centre_after: tuple[float, float] = (0.0, 0.0)
    shear: float = 0.0  # upright x = x - shear * (y - shear_row) + shear_pad
    shear_row: float = 0.0
    shear_pad: float = 0.0

    @property
    def moved(self) -> bool:
        """Whether the ink was turned or sheared: boxes are then mapped back pixel by pixel."""
        return bool(self.angle or self.shear)

    def box(self, xs: np.ndarray, ys: np.ndarray) -> Box:
        """The picture-coordinate box around the working-size ink pixels at columns xs, rows ys."""
        if self.moved:
            # Each pixel's centre mapped back: the box is the digit's own, not the box around
            # its level box (that one grows by a quarter at 15 degrees).
            px, py = xs + 0.5, ys + 0.5
            if self.shear:
                px = px - self.shear_pad + self.shear * (py - self.shear_row)
            if self.angle:
                rad = math.radians(self.angle)
                cos, sin = math.cos(rad), math.sin(rad)
                (bx, by), (ax, ay) = self.centre_before, self.centre_after
                dx, dy = px - ax, py - ay
                px, py = bx + dx * cos - dy * sin, by + dx * sin + dy * cos
            left = max(0.0, (float(px.min()) - 0.5) / self.scale)
            top = max(0.0, (float(py.min()) - 0.5) / self.scale)
            right = min(float(self.width), (float(px.max()) + 0.5) / self.scale)
            bottom = min(float(self.height), (float(py.max()) + 0.5) / self.scale)
            return round(left), round(top), max(1, round(right - left)), max(1, round(bottom - top))
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        return (
            round(x0 / self.scale),
            round(y0 / self.scale),
            max(1, round((x1 - x0) / self.scale)),
            max(1, round((y1 - y0) / self.scale)),
        )


def tilt(box: np.ndarray, groups: list[list[int]]) -> float:
    """The line of writing's tilt in degrees (positive: it runs down to the right, as the rows
    count), fitted through the groups' centres; 0 where it is too slight (TWO_DEG for two
    groups) or there are fewer than two groups."""
    if len(groups) < 2:
        return 0.0
    cx = np.array([(box[g, 1].min() + box[g, 3].max()) / 2 for g in groups], dtype=np.float64)
    cy = np.array([(box[g, 0].min() + box[g, 2].max()) / 2 for g in groups], dtype=np.float64)
    slope = float(np.polyfit(cx, cy, 1)[0])
    degrees = math.degrees(math.atan(slope))
    low = MIN_DEG if len(groups) >= MIN_GROUPS else TWO_DEG
    return degrees if low <= abs(degrees) <= MAX_DEG else 0.0


def level(ink: np.ndarray, degrees: float, place: Placement) -> tuple[np.ndarray, Placement]:
    """The ink turned counter-clockwise by `degrees` (a line running down to the right comes up
    level), on a canvas grown to hold it, and the placement that turns boxes back."""
    turned = Image.fromarray(ink.astype(np.float32), mode="F").rotate(
        degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=0.0
    )
    out = np.asarray(turned, dtype=np.float32)
    before = (ink.shape[1] / 2, ink.shape[0] / 2)
    after = (out.shape[1] / 2, out.shape[0] / 2)
    return out, Placement(place.scale, place.width, place.height, degrees, before, after)


def slant(ink: np.ndarray, labels: np.ndarray, groups: list[list[int]]) -> float:
    """How much more the writing leans than MNIST's digits do, as a shear (x per row, rows
    down; negative: leaning right); 0 where it is within MIN_SHEAR of theirs. Each group's ink
    moments are its own (cov(x, y) / var(y), as MNIST deskewing does), pooled over the groups:
    one digit's shape alone says little (std 0.28 over MNIST's digits)."""
    if len(groups) < 2:
        return 0.0
    group_of = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    for g, ids in enumerate(groups, start=1):
        group_of[ids] = g
    rows, cols = np.nonzero(labels)
    g = group_of[labels[rows, cols]]
    keep = g > 0
    rows, cols, g = rows[keep], cols[keep], g[keep]
    w = ink[rows, cols].astype(np.float64)
    ys, xs = rows.astype(np.float64), cols.astype(np.float64)
    n = len(groups) + 1
    mass = np.maximum(np.bincount(g, w, n), 1e-9)
    cx, cy = np.bincount(g, w * xs, n) / mass, np.bincount(g, w * ys, n) / mass
    dx, dy = xs - cx[g], ys - cy[g]
    shear = float((w * dx * dy).sum() / max(float((w * dy * dy).sum()), 1e-9)) - MNIST_SHEAR
    return shear if MIN_SHEAR <= abs(shear) <= MAX_SHEAR else 0.0


def upright(ink: np.ndarray, shear: float, place: Placement) -> tuple[np.ndarray, Placement]:
    """The ink sheared by -`shear` (slant() of it: then it leans as MNIST's digits do), on a
    canvas grown to hold it, and the placement that shears boxes back."""
    out, row, pad = _sheared(ink, shear)
    return out, dataclasses.replace(place, shear=shear, shear_row=row, shear_pad=pad)


def lean_back(ink: np.ndarray, shear: float) -> np.ndarray:
    """A piece of upright() ink leaning again as it was written (`shear`: its Placement's), up
    to BACK_SHEAR beyond MNIST's lean, for the models: cut upright, each digit is framed as the
    hand wrote it, within what MNIST's digits do (ad hoc, with MIN_SHEAR 0.2: framed upright,
    4-digit numbers of seeds 11-15 read 6 right ones wrong, a 7 as a 1 twice; framed as written,
    4-digit numbers sheared 0.6 read 109 and 105 of 120, against 112 and 108 so). Ink that was
    never sheared (`shear` 0) is returned as it is."""
    if not shear:
        return ink
    return _sheared(ink, -float(np.clip(shear, -BACK_SHEAR, BACK_SHEAR)))[0]


def _sheared(ink: np.ndarray, shear: float) -> tuple[np.ndarray, float, int]:
    """The ink sheared by -`shear` about its middle row, on a canvas grown to hold it; with that
    row and how far the canvas grew on each side."""
    height, width = ink.shape
    row = height / 2
    pad = math.ceil(abs(shear) * row) + 1
    # Each output pixel (x, y) takes the ink at (x - pad + shear * (y - row), y).
    coeffs = (1.0, shear, -pad - shear * row, 0.0, 1.0, 0.0)
    out = Image.fromarray(ink.astype(np.float32), mode="F").transform(
        (width + 2 * pad, height), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=0.0
    )
    return np.asarray(out, dtype=np.float32), row, pad
