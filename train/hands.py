"""Hands MNIST under-represents, made from MNIST frames: the same digit as another hand would write it.

Each function takes one MNIST frame (uint8 28x28, white ink on black) and returns a new one,
framed again the MNIST way, so training (on training digits) and evaluation (on test digits)
share one definition of every hand. Numpy and Pillow only.

- European 1: a long flag from the top of the stem, with or without a foot. MNIST's ones are
  nearly all bare strokes, so a flagged one reads as 7 (the one real-picture miss of this kind).
- Crossed 7: a bar through the stem, as most of Europe writes it.
- Pen width: hairline (1 px at the writing size) to marker (a quarter of the digit's height).
- Open and closed forms (a 4 closed at the top, a 9 open at the top) are MNIST's own hands,
  picked by their holes (`holes`): in MNIST test 66 of 982 fours are closed, 206 of 1,009
  nines open.
"""

from __future__ import annotations

from collections.abc import Sequence

import cc3d
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from service.core import framing, strokes

UP = 4  # strokes are drawn at 4x the frame's resolution, then brought back down


def stroke_width(frame: np.ndarray) -> float:
    """Ink area over half its perimeter (in pixels of the frame): a stroke's width."""
    return strokes.stroke_width(frame.astype(np.float32) / 255.0)


def holes(frame: np.ndarray, level: int = 100) -> int:
    """Enclosed holes in a frame's ink: the paper's pieces (4-connected, at least 2 px) that do
    not reach the frame's edge. A closed 4 has one, an open-top 9 none."""
    paper = frame <= level
    labels, count = cc3d.connected_components(paper.view(np.uint8), connectivity=4, return_N=True)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    return sum(1 for i in range(1, count + 1) if i not in edge and sizes[i] >= 2)


def _ink_rows(mask: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[0]), int(rows[-1])


def _centre_col(mask: np.ndarray, row: int) -> float:
    cols = np.flatnonzero(mask[row])
    return float(cols.mean()) if cols.size else mask.shape[1] / 2


def _draw(frame: np.ndarray, lines: Sequence[tuple[float, float, float, float]], width: float) -> np.ndarray:
    """Draw lines (x0, y0, x1, y1 in frame pixels) into the frame with the digit's own pen, on a
    padded canvas so nothing is clipped, then frame the result again."""
    pad = 8
    size = (28 + 2 * pad) * UP
    canvas = Image.new("L", (size, size), 0)
    big = Image.fromarray(frame, mode="L").resize((28 * UP, 28 * UP), Image.Resampling.BICUBIC)
    canvas.paste(big, (pad * UP, pad * UP))
    pen = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(pen)
    w = max(1, round(width * UP))
    for x0, y0, x1, y1 in lines:
        pts = [((x0 + pad) * UP, (y0 + pad) * UP), ((x1 + pad) * UP, (y1 + pad) * UP)]
        draw.line(pts, fill=255, width=w)
        for x, y in pts:  # round caps, as a pen leaves them
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    merged = np.maximum(np.asarray(canvas), np.asarray(pen.filter(ImageFilter.GaussianBlur(UP / 2))))
    return framing.frame(merged.astype(np.float32) / 255.0)


def european_one(frame: np.ndarray, rng: np.random.Generator, foot: bool | None = None) -> np.ndarray:
    """A 1 with a long flag down-left from the top of its stem; with a foot half the time."""
    mask = frame > 96
    top, bottom = _ink_rows(mask)
    height = bottom - top + 1
    x_top = _centre_col(mask, top)
    x_bottom = _centre_col(mask, bottom)
    # Steeper than a 7's bar (35-60 degrees below the horizontal) and shorter than the stem.
    length = rng.uniform(0.25, 0.45) * height
    angle = np.radians(rng.uniform(35.0, 60.0))
    lines = [(x_top, top, x_top - length * np.cos(angle), top + length * np.sin(angle))]
    if foot if foot is not None else rng.random() < 0.5:
        half = rng.uniform(0.2, 0.35) * height
        lines.append((x_bottom - half, bottom, x_bottom + half, bottom))
    return _draw(frame, lines, stroke_width(frame))


def crossed_seven(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a bar through the middle of its stem."""
    mask = frame > 96
    top, bottom = _ink_rows(mask)
    height = bottom - top + 1
    row = round(top + rng.uniform(0.45, 0.6) * height)
    x = _centre_col(mask, min(row, 27))
    half = rng.uniform(0.18, 0.3) * height
    tilt = rng.uniform(-0.08, 0.08) * height
    return _draw(frame, [(x - half, row + tilt, x + half, row - tilt)], stroke_width(frame))


def pen(frame: np.ndarray, width: float) -> np.ndarray:
    """The same digit written with another pen: `width` in frame pixels (MNIST's is ~2.5)."""
    current = stroke_width(frame)
    img = Image.fromarray(frame, mode="L").resize((28 * UP, 28 * UP), Image.Resampling.BICUBIC)
    change = round((width - current) * UP / 2)  # radius at 4x
    if change > 0:
        img = img.filter(ImageFilter.MaxFilter(2 * change + 1))
    elif change < 0:
        # Thinning a blob: erode while keeping the digit (never below a quarter of its ink).
        area = float(np.sum(np.asarray(img) > 96))
        for _ in range(-change):
            thinner = img.filter(ImageFilter.MinFilter(3))
            if float(np.sum(np.asarray(thinner) > 96)) < 0.25 * area:
                break
            img = thinner
    return framing.frame(np.asarray(img, dtype=np.float32) / 255.0)


def clipped(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit as a picture's edge cuts it: 5-15 % of its ink box gone on one side."""
    mask = frame > 30
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = frame.copy()
    side = int(rng.integers(0, 4))
    cut = rng.uniform(0.05, 0.15)
    if side == 0:
        out[: rows[0] + round(cut * (rows[-1] - rows[0] + 1))] = 0
    elif side == 1:
        out[rows[-1] + 1 - round(cut * (rows[-1] - rows[0] + 1)) :] = 0
    elif side == 2:
        out[:, : cols[0] + round(cut * (cols[-1] - cols[0] + 1))] = 0
    else:
        out[:, cols[-1] + 1 - round(cut * (cols[-1] - cols[0] + 1)) :] = 0
    return framing.frame(out.astype(np.float32) / 255.0)


# How many of each hand training adds to MNIST's 55,000 (drawn from the training digits).
TRAINING_HANDS = {"european-1": 4000, "crossed-7": 3000, "hairline": 3000, "marker": 3000, "clipped": 2000}


def variants(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training digits rewritten in the hands above, framed as the service frames them
    (so pen widths arrive as the service's stroke normalisation leaves them). The counts are
    for MNIST's 55,000; a smaller training slice gets proportionally fewer."""
    rng = np.random.default_rng(seed)
    out, out_labels = [], []
    share = min(1.0, len(images) / 55_000)
    for hand, full in TRAINING_HANDS.items():
        count = max(1, round(full * share))
        pool = {"european-1": np.flatnonzero(labels == 1), "crossed-7": np.flatnonzero(labels == 7)}.get(
            hand, np.arange(len(images))
        )
        for idx in rng.choice(pool, size=count, replace=True):
            digit = images[idx]
            if hand == "european-1":
                made = european_one(digit, rng)
            elif hand == "crossed-7":
                made = crossed_seven(digit, rng)
            elif hand == "hairline":
                made = pen(digit, float(rng.uniform(0.6, 1.2)))
            elif hand == "marker":
                made = pen(digit, float(rng.uniform(4.0, 6.5)))
            else:
                made = clipped(digit, rng)
            out.append(made)
            out_labels.append(labels[idx])
    return np.stack(out), np.asarray(out_labels, dtype=labels.dtype)
