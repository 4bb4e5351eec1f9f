"""A number written askew: the tilt of its line of writing, the ink turned level, boxes turned back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from service.core import skew


def _blocks(centres: list[tuple[int, int]], size: int = 20) -> tuple[np.ndarray, list[list[int]]]:
    """Boxes (top, left, bottom, right; row 0 unused) of square pieces at these (x, y) centres,
    each its own group."""
    box = np.zeros((len(centres) + 1, 4), dtype=np.int64)
    for i, (x, y) in enumerate(centres, start=1):
        box[i] = (y - size // 2, x - size // 2, y + size // 2, x + size // 2)
    return box, [[i] for i in range(1, len(centres) + 1)]


@pytest.mark.parametrize("degrees", [-25.0, -12.0, 8.0, 18.0])
def test_the_tilt_is_the_slope_through_the_groups_centres(degrees: float) -> None:
    slope = np.tan(np.radians(degrees))
    box, groups = _blocks([(x, round(200 + slope * x)) for x in (50, 110, 170, 230)])
    assert skew.tilt(box, groups) == pytest.approx(degrees, abs=0.5)


def test_slight_tilts_few_groups_and_steep_lines_are_left_alone() -> None:
    box, groups = _blocks([(50, 200), (110, 203), (170, 206), (230, 209)])  # ~3 degrees
    assert skew.tilt(box, groups) == 0.0
    # Two groups: a digit's size alone tilts the line through them by a few degrees.
    box, groups = _blocks([(50, 200), (110, 206)])  # ~6 degrees
    assert skew.tilt(box, groups) == 0.0
    box, groups = _blocks([(60, 120)])  # one group: no line
    assert skew.tilt(box, groups) == 0.0
    box, groups = _blocks([(50, 100), (90, 160), (130, 220)])  # 56 degrees: not a line of writing
    assert skew.tilt(box, groups) == 0.0


@pytest.mark.parametrize("degrees", [-15.0, 10.0])
def test_two_groups_tell_a_tilt_from_two_deg(degrees: float) -> None:
    slope = np.tan(np.radians(degrees))
    box, groups = _blocks([(x, round(200 + slope * x)) for x in (50, 130)])
    assert skew.tilt(box, groups) == pytest.approx(degrees, abs=0.8)


def test_level_brings_the_line_level_and_boxes_back_to_the_picture() -> None:
    """Blocks along a line tilted 15 degrees, at a working scale of 0.5: turned level, their
    centres share a row; each block's box in the turned ink maps back onto where it was drawn."""
    degrees = 15.0
    slope = np.tan(np.radians(degrees))
    centres = [(x, round(150 + slope * x)) for x in (60, 140, 220, 300)]
    ink = np.zeros((320, 380), dtype=np.float32)
    for x, y in centres:
        ink[y - 12 : y + 12, x - 12 : x + 12] = 1.0
    place = skew.Placement(scale=0.5, width=760, height=640)
    level, turned = skew.level(ink, degrees, place)
    rows = []
    for x, y in centres:
        # Where the block went: the lit pixels nearest its centre turned forward.
        lit = np.argwhere(level > 0.5)
        rad = np.radians(degrees)
        dx, dy = x - ink.shape[1] / 2, y - ink.shape[0] / 2
        fx = level.shape[1] / 2 + dx * np.cos(rad) + dy * np.sin(rad)
        fy = level.shape[0] / 2 - dx * np.sin(rad) + dy * np.cos(rad)
        near = lit[np.hypot(lit[:, 0] - fy, lit[:, 1] - fx) < 20]
        rows.append((near[:, 0].min() + near[:, 0].max()) / 2)
        bx, by, bw, bh = turned.box(near[:, 1], near[:, 0])
        # The block was 24 px at scale 0.5: 48 px in the picture, centred at 2x its ink centre.
        assert abs(bx + bw / 2 - 2 * x) <= 3 and abs(by + bh / 2 - 2 * y) <= 3
        assert 44 <= bw <= 54 and 44 <= bh <= 54, (bw, bh)
    assert max(rows) - min(rows) <= 2  # level


def test_boxes_stay_within_the_picture() -> None:
    place = skew.Placement(1.0, 100, 80, angle=20.0, centre_before=(50.0, 40.0), centre_after=(60.0, 55.0))
    x, y, w, h = place.box(np.array([0, 120]), np.array([0, 110]))
    assert x >= 0 and y >= 0 and x + w <= 100 and y + h <= 80


def test_without_a_turn_the_box_is_only_scaled() -> None:
    assert skew.Placement(0.25, 400, 400).box(np.array([10, 29]), np.array([20, 59])) == (40, 80, 80, 160)


def test_level_keeps_all_the_ink() -> None:
    ink = np.asarray(Image.new("F", (200, 100), 0.0), dtype=np.float32).copy()
    ink[40:60, 20:180] = 1.0
    level, _ = skew.level(ink, 20.0, skew.Placement(1.0, 200, 100))
    assert level.shape[0] > ink.shape[0] and level.shape[1] > ink.shape[1]  # grown to hold it
    assert abs(float(level.sum()) - float(ink.sum())) < 0.02 * float(ink.sum())


def _bars(shear: float, centres: tuple[int, ...] = (60, 140, 220), top: int = 40, height: int = 80) -> np.ndarray:
    """Bars 6 px wide and `height` tall leaning by `shear` (x per row, rows down), labelled 1, 2, ..."""
    labels = np.zeros((160, 300), dtype=np.int32)
    for i, cx in enumerate(centres, start=1):
        for y in range(top, top + height):
            x = round(cx + shear * (y - top - height / 2))
            labels[y, x - 3 : x + 3] = i
    return labels


def test_slant_is_how_much_more_the_writing_leans_than_mnist() -> None:
    for shear in (-0.6, -0.45, 0.4):
        labels = _bars(shear)
        groups = [[1], [2], [3]]
        assert skew.slant((labels > 0).astype(np.float32), labels, groups) == pytest.approx(
            shear - skew.MNIST_SHEAR, abs=0.02
        )
    # Within MIN_SHEAR of MNIST's lean, or one group alone (a digit's shape says too little): none.
    for shear in (-0.35, 0.1):
        labels = _bars(shear)
        assert skew.slant((labels > 0).astype(np.float32), labels, [[1], [2], [3]]) == 0.0
    labels = _bars(-0.6)
    assert skew.slant((labels > 0).astype(np.float32), labels, [[1, 2, 3]]) == 0.0


def test_upright_leans_as_mnist_and_boxes_go_back_to_the_picture() -> None:
    shear = -0.6
    labels = _bars(shear)
    ink = (labels > 0).astype(np.float32)
    place = skew.Placement(scale=0.5, width=600, height=320)
    found = skew.slant(ink, labels, [[1], [2], [3]])
    upright, back = skew.upright(ink, found, place)
    assert abs(float(upright.sum()) - float(ink.sum())) < 0.02 * float(ink.sum())  # grown to hold it
    lit = np.argwhere(upright > 0.5)
    pad = (upright.shape[1] - ink.shape[1]) / 2  # the canvas grew on both sides
    # Each bar now leans as MNIST's digits do, and its box maps back onto the bar as drawn.
    for i, cx in enumerate((60, 140, 220), start=1):
        ys, xs = np.nonzero(labels == i)
        mine = lit[np.abs(lit[:, 1] - (cx + pad)) < 40]
        top, bottom = mine[mine[:, 0] < 50], mine[mine[:, 0] > 110]
        lean = (bottom[:, 1].mean() - top[:, 1].mean()) / (bottom[:, 0].mean() - top[:, 0].mean())
        assert lean == pytest.approx(skew.MNIST_SHEAR, abs=0.03)
        bx, by, bw, bh = back.box(mine[:, 1], mine[:, 0])
        assert abs(bx - 2 * xs.min()) <= 3 and abs(bx + bw - 2 * (xs.max() + 1)) <= 3
        assert abs(by - 2 * ys.min()) <= 3 and abs(by + bh - 2 * (ys.max() + 1)) <= 3


def test_a_digit_cut_upright_is_framed_leaning_as_written_up_to_back_shear() -> None:
    """lean_back undoes upright() within BACK_SHEAR of MNIST's lean; a bar leaning further is
    framed leaning BACK_SHEAR beyond it."""
    place = skew.Placement(1.0, 300, 160)
    for written, framed in (
        (-0.35, -0.35),
        (0.5, skew.MNIST_SHEAR + skew.BACK_SHEAR),
        (-0.7, skew.MNIST_SHEAR - skew.BACK_SHEAR),
    ):
        labels = _bars(written, centres=(150,))
        excess = written - skew.MNIST_SHEAR
        upright, _ = skew.upright((labels > 0).astype(np.float32), excess, place)
        ys, xs = np.nonzero(skew.lean_back(upright, excess) > 0.5)
        assert float(np.polyfit(ys, xs, 1)[0]) == pytest.approx(framed, abs=0.03), written
