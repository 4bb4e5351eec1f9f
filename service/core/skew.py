"""A number written askew -> its ink turned level, and the way back to the picture's pixels.

A phone held at an angle, or a number written uphill, tilts the whole line of writing: at 15-20°
each digit's columns reach under its neighbour's, so two digits became one group (2146 read
"246"), and every digit is framed tilted. The tilt is the slope of the line through the groups'
centres (not the ink's long axis: handwriting's slant would tilt that too); where it is steep
enough to matter and the number has enough groups to tell, the ink is turned level before it is
cut, and each digit's box is turned back into the uploaded picture's pixels.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Placement:
    """Working-size ink coordinates -> the uploaded picture's pixels: divided by `scale`, and,
    once the ink was turned by `angle` degrees (counter-clockwise) about its centre, turned back."""

    scale: float
    width: int  # the uploaded picture's size
    height: int
    angle: float = 0.0
    centre_before: tuple[float, float] = (0.0, 0.0)  # (x, y) of the ink's centre before and after turning
    centre_after: tuple[float, float] = (0.0, 0.0)

    def box(self, xs: np.ndarray, ys: np.ndarray) -> Box:
        """The picture-coordinate box around the working-size ink pixels at columns xs, rows ys."""
        if self.angle:
            # Each pixel's centre turned back: the box is the digit's own, not the box around
            # its level box (that one grows by a quarter at 15 degrees).
            rad = math.radians(self.angle)
            cos, sin = math.cos(rad), math.sin(rad)
            (bx, by), (ax, ay) = self.centre_before, self.centre_after
            dx, dy = xs + 0.5 - ax, ys + 0.5 - ay
            back_x, back_y = bx + dx * cos - dy * sin, by + dx * sin + dy * cos
            left = max(0.0, (float(back_x.min()) - 0.5) / self.scale)
            top = max(0.0, (float(back_y.min()) - 0.5) / self.scale)
            right = min(float(self.width), (float(back_x.max()) + 0.5) / self.scale)
            bottom = min(float(self.height), (float(back_y.max()) + 0.5) / self.scale)
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
