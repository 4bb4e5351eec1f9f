"""Pictures of one digit as people crop them from a page: at a scanner's dark border, among the
digits written beside it, underlined. MNIST *test* digits, each picture from its own random
stream (deterministic); `mnist-probes crops` reads them (train/probes.py).

Each is a page: the digit's ink (`uploadlike.bicubic`) on paper of a random grey, a pen of
another, blurred a little, grain, saved as JPEG (60 %) or PNG.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from train import mnist, uploadlike

Picture = tuple[bytes, int]  # (file, label)


def _ink(digit: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(uploadlike.bicubic(digit, size, rng), np.float32) / 255


def _page(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink [0, 1] -> grey levels of a photographed page."""
    ink = ndimage.gaussian_filter(np.clip(ink, 0, 1), rng.uniform(0.3, 1.0))
    paper, pen = rng.uniform(185, 245), rng.uniform(10, 70)
    return np.asarray(paper * (1 - ink) + pen * ink + rng.normal(0, 3, ink.shape), np.float32)


def _saved(grey: np.ndarray, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    if rng.random() < 0.6:
        img.save(buf, format="JPEG", quality=int(rng.integers(60, 95)))
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def _centred(digit: np.ndarray, side: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """The digit's ink, `share` of a `side`-px page, in its middle: (page, offset, digit size)."""
    size = int(side * share)
    page = np.zeros((side, side), np.float32)
    at = (side - size) // 2
    page[at : at + size, at : at + size] = _ink(digit, size, rng)
    return page, at, size


def scanner(test: mnist.Split, n: int) -> Iterator[Picture]:
    """A scan of a page whose edge lies inside the picture: the digit (0.35-0.8 of a 150-700 px
    picture, anywhere) and a dark border, 3-12 % of the side deep and 0-60 dark, along one or two
    sides, over whatever ink it meets."""
    for i in range(n):
        rng = np.random.default_rng([61, i])
        side = int(rng.integers(150, 700))
        size = int(side * rng.uniform(0.35, 0.8))
        ink = np.zeros((side, side), np.float32)
        y, x = rng.integers(0, side - size + 1, 2)
        ink[y : y + size, x : x + size] = _ink(test.images[i], size, rng)
        grey = _page(ink, rng)
        for edge in rng.choice(4, int(rng.integers(1, 3)), replace=False):
            deep = int(rng.uniform(0.03, 0.12) * side)
            grey[[np.s_[:deep], np.s_[-deep:], np.s_[:, :deep], np.s_[:, -deep:]][edge]] = rng.uniform(0, 60)
        yield _saved(grey, rng), int(test.labels[i])


def neighbours(test: mnist.Split, n: int) -> Iterator[Picture]:
    """The digit (0.55-0.8 of a 120-400 px picture, in its middle) cut from a page of them: the
    digits written beside, above or below it (1-3 of them, MNIST's frames side by side) show
    10-35 % of themselves at the picture's edges."""
    for i in range(n):
        rng = np.random.default_rng([62, i])
        side = int(rng.integers(120, 400))
        page, at, size = _centred(test.images[i], side, rng.uniform(0.55, 0.8), rng)
        for edge in rng.choice(4, int(rng.integers(1, 4)), replace=False):
            other = _ink(test.images[int(rng.integers(0, len(test.images)))], size, rng)
            shown = int(size * rng.uniform(0.1, 0.35))
            rest = side - shown
            piece = [
                np.pad(other[-shown:], ((0, rest), (0, 0))),
                np.pad(other[:shown], ((rest, 0), (0, 0))),
                np.pad(other[:, -shown:], ((0, 0), (0, rest))),
                np.pad(other[:, :shown], ((0, 0), (rest, 0))),
            ][edge]
            where = np.s_[:, at : at + size] if edge < 2 else np.s_[at : at + size]
            page[where] = np.maximum(page[where], piece)
        yield _saved(_page(page, rng), rng), int(test.labels[i])


def underlined(test: mnist.Split, n: int) -> Iterator[Picture]:
    """The digit (0.5-0.7 of a 120-400 px picture, in its middle) with a line under it: across the
    middle half or more of the digit's frame, near its foot (0.85-1.0 of the frame down), 8 % of
    the frame thick, touching the digit or not."""
    for i in range(n):
        rng = np.random.default_rng([63, i])
        side = int(rng.integers(120, 400))
        page, at, size = _centred(test.images[i], side, rng.uniform(0.5, 0.7), rng)
        line = Image.new("L", (side, side), 0)
        y = at + size * rng.uniform(0.85, 1.0)
        ends = [(at + size * rng.uniform(0.05, 0.25), y), (at + size * rng.uniform(0.75, 0.95), y + rng.uniform(-8, 8))]
        ImageDraw.Draw(line).line(ends, fill=255, width=max(2, int(size * 0.08)))
        yield _saved(_page(np.maximum(page, np.asarray(line, np.float32) / 255), rng), rng), int(test.labels[i])


def ringed(test: mnist.Split, n: int) -> Iterator[Picture]:
    """The digit (0.45-0.6 of a 150-400 px picture, in its middle) with a line drawn round it by
    hand, clear of it, 6-7 % of the digit's frame thick: in turn an ellipse, an ellipse left open
    (a gap of 15-40 degrees: a hand's circle seldom meets its start), a box of four wobbly strokes."""
    for i in range(n):
        rng = np.random.default_rng([64, i])
        side = int(rng.integers(150, 400))
        page, _, size = _centred(test.images[i], side, rng.uniform(0.45, 0.6), rng)
        line = Image.new("L", (side, side), 0)
        draw, mid, width = ImageDraw.Draw(line), side / 2, max(2, int(size * rng.uniform(0.06, 0.07)))
        if i % 3 < 2:
            ry, rx = size * rng.uniform(0.55, 0.7), size * rng.uniform(0.45, 0.7)
            start, gap = rng.uniform(0, 360), (0 if i % 3 == 0 else rng.uniform(15, 40))
            draw.arc([mid - rx, mid - ry, mid + rx, mid + ry], start + gap, start + 360, fill=255, width=width)
        else:
            reach = size * rng.uniform(0.5, 0.65)
            corners = [(mid + cx * reach, mid + cy * reach) for cx, cy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            corners = [(x + rng.normal(0, size * 0.03), y + rng.normal(0, size * 0.03)) for x, y in corners]
            for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
                t = np.linspace(0, 1, 8)
                xs = x0 + (x1 - x0) * t + rng.normal(0, size * 0.01, 8)
                ys = y0 + (y1 - y0) * t + rng.normal(0, size * 0.01, 8)
                draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255, width=width)
        yield _saved(_page(np.maximum(page, np.asarray(line, np.float32) / 255), rng), rng), int(test.labels[i])
