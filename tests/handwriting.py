"""Digits and numbers written with a pen of any width, for tests: each digit is a few strokes
through points of a unit box (x right, y down), as people write them."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24
) -> list[tuple[float, float]]:
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start + (end - start) * i / (n - 1) for i in range(n))
    ]


STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, -90, 275)],
    1: [[(0.56, 0.04), (0.44, 0.96)]],
    2: [[*_arc(0.5, 0.3, 0.3, 0.25, 200, 370, 12), (0.62, 0.55), (0.18, 0.95), (0.86, 0.93)]],
    3: [[*_arc(0.47, 0.27, 0.3, 0.22, 200, 450, 14), *_arc(0.47, 0.72, 0.33, 0.24, -90, 150, 14)]],
    4: [[(0.62, 0.04), (0.14, 0.64), (0.86, 0.64)], [(0.66, 0.3), (0.64, 0.96)]],
    5: [[(0.8, 0.05), (0.32, 0.05), (0.26, 0.45), *_arc(0.48, 0.68, 0.32, 0.27, -120, 150, 16)]],
    6: [[(0.72, 0.04), (0.42, 0.28), *_arc(0.5, 0.72, 0.26, 0.24, 180, 540, 24)]],
    7: [[(0.14, 0.08), (0.86, 0.08), (0.38, 0.96)]],
    8: [[*_arc(0.5, 0.27, 0.24, 0.22, 90, 450, 20), *_arc(0.5, 0.72, 0.3, 0.24, -90, 270, 24)]],
    9: [[*_arc(0.48, 0.3, 0.26, 0.24, 0, 360, 20), (0.74, 0.3), (0.66, 0.96)]],
}


def draw_digit(
    draw: ImageDraw.ImageDraw, digit: int, box: tuple[float, float, float, float], pen: int, ink: int
) -> None:
    """Write `digit` in box (left, top, width, height) with a round pen `pen` px wide."""
    left, top, width, height = box
    for stroke in STROKES[digit]:
        points = [(left + x * width, top + y * height) for x, y in stroke]
        draw.line(points, fill=ink, width=pen, joint="curve")
        r = pen / 2
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


def written(
    text: str,
    pen: int = 6,
    height: int = 160,
    gap: float = 0.35,
    margin: int = 40,
    paper: int = 255,
    ink: int = 20,
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A picture of `text` (digits) written left to right, and each digit's box (x, y, w, h).
    gap: the space between digits, as a fraction of a digit's width (negative: they overlap)."""
    width = int(height * 0.6)
    step = width * (1 + gap)
    size = (int(2 * margin + step * (len(text) - 1) + width), height + 2 * margin)
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    boxes = []
    for i, ch in enumerate(text):
        x = margin + i * step
        draw_digit(draw, int(ch), (x, margin, width, height), pen, ink)
        boxes.append((int(x), margin, width, height))
    return img, boxes


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
