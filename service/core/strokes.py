"""Ink as strokes and pieces: how wide the strokes are and how to even them out, which connected
pieces are specks. Pure functions on ink arrays (float32 [0, 1], ink bright on black)."""

from __future__ import annotations

from typing import Literal

import cc3d
import numpy as np

from service.core import levels

# The digit box of the 28x28 frame (framing.BOX): stroke widths are judged at that scale.
BOX = 20
# Stroke widths in the 28x28 frame (stroke_width on MNIST's training frames: median 1.98 px,
# 5th percentile 1.28, 95th 3.06). Outside [THIN, THICK] a picture's strokes are brought to TARGET.
STROKE_TARGET = 2.0
STROKE_THIN = 1.2
STROKE_THICK = 3.6
# Connected pieces of ink under SPECK_PX pixels, or under SPECK_FRACTION of all the ink, are specks.
SPECK_PX = 3
# Low, so that a faint 1-px line (a mouse drawing shrunk to the working size) stays in one piece.
SPECK_LEVEL = 0.2
SPECK_FRACTION = 0.01
# Pieces of at least this fraction of the largest are the digit; smaller ones count only within
# NEAR (of the digit's size) of those.
MAIN_PIECE = 0.1
NEAR = 0.1
# A piece at the picture's edge, APART from the digit (by that fraction of its size) and smaller
# than it, is part of a neighbour: a digit cropped from a page of them shows bits of the next ones
# at its edges (`mnist-probes crops`, among its neighbours: 266 of 300 read with them, 299 without;
# `--without neighbours`; 0.1-0.2 apart read the same, 0.3 298: a neighbour can be that near).
# The digit: the pieces clear of the edge at least HALF as long as the longest piece.
APART = 0.15
HALF = 0.5


def stroke_width(ink: np.ndarray, level: float = 0.5) -> float:
    """The width of the strokes, in pixels: ink area over half its perimeter (a stroke of width t
    and length L >> t has area tL and perimeter ~2L). 0 when there is no ink."""
    mask = ink > level
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    edges = np.count_nonzero(padded[1:] != padded[:-1]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    return 2.0 * area / edges


def _slide(ink: np.ndarray, radius: int, pick: np.ufunc) -> np.ndarray:
    """Grey dilation (np.maximum) or erosion (np.minimum) by a (2r+1)-square, done per axis, with
    zeros beyond the edges. (Views of one padded copy: np.pad and take() per call had made this
    a quarter of reading a number.)"""
    out = np.asarray(ink, dtype=np.float32)
    h, w = out.shape
    padded = np.zeros((h + 2 * radius, w), dtype=np.float32)
    padded[radius : radius + h] = out
    acc = padded[0:h].copy()
    for k in range(1, 2 * radius + 1):
        pick(acc, padded[k : k + h], out=acc)
    padded = np.zeros((h, w + 2 * radius), dtype=np.float32)
    padded[:, radius : radius + w] = acc
    acc = padded[:, 0:w].copy()
    for k in range(1, 2 * radius + 1):
        pick(acc, padded[:, k : k + w], out=acc)
    return acc


def dilate(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a (2r+1)-square: every pixel takes the brightest of its neighbourhood."""
    return _slide(ink, radius, np.maximum)


def erode(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion by a (2r+1)-square: every pixel takes the darkest of its neighbourhood."""
    return _slide(ink, radius, np.minimum)


def even_strokes(crop: np.ndarray, side: int | None = None) -> np.ndarray:
    """Bring the strokes to MNIST's width as they will be once `side` (default: the longer side)
    is BOX px: a 1-px mouse line on a 600-px canvas would be a twentieth of a pixel there, a
    marker on a small canvas a blob. Widths inside MNIST's own range are left as they are."""
    width = stroke_width(crop)
    side = side or max(crop.shape)
    if width <= 0.0:
        return crop
    projected = width * BOX / side
    if projected < STROKE_THIN:
        # Thicken by r on each side; the box grows by 2r too, so solve for r with that growth.
        radius = round((STROKE_TARGET * side / BOX - width) / (2.0 * (1.0 - STROKE_TARGET / BOX)))
        radius = min(radius, side // 4)
        if radius >= 1:
            return dilate(np.pad(crop, radius), radius)
    elif projected > STROKE_THICK:
        radius = round((width - STROKE_TARGET * side / BOX) / 2.0)
        area = np.count_nonzero(crop > 0.5)
        while radius >= 1:
            thinner = _slide(crop, radius, np.minimum)
            # Never thin a digit away: keep at least a third of its ink.
            if np.count_nonzero(thinner > 0.5) >= area / 3:
                return thinner
            radius //= 2
    return crop


def components(mask: np.ndarray, connectivity: Literal[4, 8] = 8) -> tuple[np.ndarray, int]:
    """8-connected (or 4-) pieces of a boolean mask: labels 1..count (0: background), and count.
    (cc3d adds 2.5 MB to the runtime image once stripped, where scipy.ndimage would add 113 MB. It is given uint8:
    cc3d 4.1.1 mislabelled a bool mask of a real picture, 9 labels for 6 pieces.)"""
    labels, count = cc3d.connected_components(mask.view(np.uint8), connectivity=connectivity, return_N=True)
    return labels, int(count)


def boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """[count + 1, 4] boxes (top, left, bottom, right; inclusive) of labels 1..count; row 0 unused."""
    out = np.zeros((count + 1, 4), dtype=np.int64)
    out[:, :2] = np.iinfo(np.int64).max
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs]
    np.minimum.at(out[:, 0], ids, ys)
    np.minimum.at(out[:, 1], ids, xs)
    np.maximum.at(out[:, 2], ids, ys)
    np.maximum.at(out[:, 3], ids, xs)
    return out


def without_specks(ink: np.ndarray) -> np.ndarray:
    """Ink with specks (sensor noise, paper grain, JPEG blocks) removed, strokes of any width kept.
    A connected piece of ink stays if it is a real part of the digit: at least a tenth of the
    largest piece, or a smaller piece (a 5's hat, a broken stroke) close to those. (A 3x3 median
    did this before, and erased every 1-px stroke with the specks.)"""
    mask = ink > SPECK_LEVEL
    labels, count = components(mask)
    if count == 0:
        return ink
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    big = sizes >= MAIN_PIECE * sizes.max()
    box = boxes(labels, count)
    top, left = box[big, 0].min(), box[big, 1].min()
    bottom, right = box[big, 2].max(), box[big, 3].max()
    margin = NEAR * max(bottom - top, right - left)
    near = (
        (box[:, 0] <= bottom + margin)
        & (box[:, 2] >= top - margin)
        & (box[:, 1] <= right + margin)
        & (box[:, 3] >= left - margin)
    )
    keep = big | (near & (sizes >= max(SPECK_PX, SPECK_FRACTION * sizes.sum())))
    keep[0] = False
    # The faint edges around what is kept stay (anti-aliasing); faint pixels elsewhere go too.
    halo = dilate(keep[labels].astype(np.float32), 1)
    return np.asarray(ink * halo, dtype=np.float32)


def measured(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The ink's pieces (above SPECK_LEVEL): labels, and for pieces 1..n (row i for label i + 1)
    their boxes (top, left, bottom, right) and sizes in pixels. None for one piece or none (over
    nine in ten photos of a digit: the boxes, 0.2 ms, are not worth finding)."""
    labels, count = components(ink > SPECK_LEVEL)
    if count < 2:
        return None
    return labels, boxes(labels, count)[1:], np.bincount(labels.ravel(), minlength=count + 1)[1:]


def dropped(ink: np.ndarray, labels: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """`ink` without the pieces `gone` (a mask over pieces 1..n, as `measured` gives them); the
    very same array when none go."""
    if not gone.any():
        return ink
    return np.where(np.concatenate([[False], gone])[labels], np.float32(0), ink).astype(np.float32)


def without_neighbours(ink: np.ndarray) -> np.ndarray:
    """Ink without the pieces of neighbouring digits cut by the picture's edge: pieces touching
    the edge, apart from the digit's own pieces clear of it and smaller than they. A digit that
    itself reaches the edge (cropped tight) is left as it is."""
    if not np.any(levels.border(ink) > SPECK_LEVEL):  # most pictures: no ink at the edge
        return ink
    found = measured(ink)
    if found is None:
        return ink
    labels, box, sizes = found
    h, w = ink.shape
    at_edge = (box[:, 0] == 0) | (box[:, 1] == 0) | (box[:, 2] == h - 1) | (box[:, 3] == w - 1)
    longest = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) + 1
    digit = ~at_edge & (longest >= HALF * longest.max(initial=0))
    if not at_edge.any() or not digit.any():
        return ink
    top, left, bottom, right = box[digit, 0].min(), box[digit, 1].min(), box[digit, 2].max(), box[digit, 3].max()
    margin = APART * max(bottom - top, right - left)
    beyond = (box[:, 0] > bottom + margin) | (box[:, 2] < top - margin)
    beyond |= (box[:, 1] > right + margin) | (box[:, 3] < left - margin)
    return dropped(ink, labels, at_edge & beyond & (sizes < sizes[digit].sum()))
