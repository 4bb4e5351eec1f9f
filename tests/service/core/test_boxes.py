"""A printed box around the writing (a form's field) is no ink of the digit; nothing else is touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from service.core import boxes, decode, framing, inks, pieces
from service.core.card import ModelCard
from service.core.model import OnnxModel
from tests.handwriting import png, written


@pytest.fixture(scope="module")
def model(card_path: Path) -> OnnxModel:
    return OnnxModel(ModelCard.load(card_path))


def _ink(img: Image.Image) -> np.ndarray:
    ink, _ = inks.ink_of(decode.decode(png(img)))
    return ink.values


def _boxed(img: Image.Image, gap: int, line: int, grey: int, around: int, tilt: float = 0.0) -> Image.Image:
    """`img` (dark ink on white) written in a box `gap` px beyond its ink, `around` px of form outside."""
    left, top, right, bottom = ImageChops.invert(img).getbbox()
    box = (left - gap, top - gap, right + gap, bottom + gap)
    width, height = box[2] - box[0] + 2 * around, box[3] - box[1] + 2 * around
    out = Image.new("L", (width, height), 255)
    out.paste(img.crop(box), (around, around))
    ImageDraw.Draw(out).rectangle(
        (around, around, around + box[2] - box[0], around + box[3] - box[1]), outline=grey, width=line
    )
    return out.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor=255) if tilt else out


@pytest.mark.parametrize(
    ("gap", "line", "grey", "around", "tilt"),
    [
        (20, 3, 20, 40, 0.0),  # a dark box, the form around it
        (12, 2, 140, 0, 0.0),  # a grey box cropped at its edges (its sides run edge to edge: lines.across too)
        (30, 4, 60, 25, 3.0),  # photographed askew
    ],
)
def test_a_digit_in_a_printed_box_reads_as_without_it(
    model: OnnxModel, gap: int, line: int, grey: int, around: int, tilt: float
) -> None:
    """The box was taken for the digit's strokes: "written in a box" photos read 110 of 200 (mostly
    as 0), 198 with the box taken away."""
    for digit in range(10):
        img, _ = written(str(digit), pen=8, margin=50)
        plain = framing.prepare(png(img)).pixels
        boxed = framing.prepare(png(_boxed(img, gap, line, grey, around, tilt))).pixels
        assert model.predict(boxed[None])[0].argmax() == digit
        blurred = [np.asarray(Image.fromarray(f).filter(ImageFilter.BoxBlur(1)), np.float32) for f in (plain, boxed)]
        assert np.corrcoef(blurred[0].ravel(), blurred[1].ravel())[0, 1] > 0.8


def comb(cells: int, cell: int, grey: int = 30) -> Image.Image:
    """An empty comb of boxes (a postcode's field): `cells` cells of `cell` px, 30 px of form around."""
    img = Image.new("L", (cells * cell + 60, int(cell * 1.25) + 60), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((30, 30, 30 + cells * cell, 30 + int(cell * 1.25)), outline=grey, width=3)
    for c in range(1, cells):
        draw.line([(30 + c * cell, 30), (30 + c * cell, 30 + int(cell * 1.25))], fill=grey, width=3)
    return img


@pytest.mark.parametrize("tilt", [0.0, 2.0])
def test_a_digit_in_one_cell_of_a_comb_of_boxes(model: OnnxModel, tilt: float) -> None:
    """The walls between the cells are the box's lines too (the upload-like `comb` family read 49 of
    200 without them taken, 184 with)."""
    for digit in range(10):
        img, _ = written(str(digit), pen=8, height=70, margin=0)
        form = comb(5, 100)
        form.paste(img, (30 + 2 * 100 + (100 - img.width) // 2, 30 + (125 - img.height) // 2))
        if tilt:
            form = form.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor=255)
        boxed = framing.prepare(png(form)).pixels
        assert model.predict(boxed[None])[0].argmax() == digit


@pytest.mark.parametrize("tilt", [0.0, 1.5])
def test_a_comb_wall_broken_in_places_goes_where_the_others_spacing_puts_it(tilt: float) -> None:
    """A wall crossing only part of the inside (a faint print broken by a JPEG; here 5 px of every
    9 left) is found where the other walls' even spacing puts it: nothing of it stays by the digit."""
    img, _ = written("7", pen=4, height=34, margin=0)
    form = comb(4, 44)  # 236 px wide: looked at as it is, not shrunk
    form.paste(img, (30 + 44 + (44 - img.width) // 2, 30 + (55 - img.height) // 2))
    draw = ImageDraw.Draw(form)
    for y in range(30, 86, 9):  # the wall left of the digit's cell: 4 px of every 9 gone
        draw.line([(30 + 44, y + 5), (30 + 44, y + 8)], fill=255, width=5)
    if tilt:
        form = form.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor=255)
    kept = boxes.inside(_ink(form), pieces.LEVEL) > pieces.LEVEL
    cols = np.flatnonzero(kept.any(axis=0))
    assert cols.size and cols[-1] - cols[0] < 30, (cols[0], cols[-1])  # the 7 alone (~20 px wide)


def test_the_box_and_all_outside_it_go_the_inside_stays_where_it_was() -> None:
    img, _ = written("3", pen=8, margin=50)
    picture = _boxed(img, 20, 3, 20, 40)
    ink = _ink(picture)
    inside = boxes.inside(ink, pieces.LEVEL)
    kept = np.argwhere(inside > 0)
    (top, left), (bottom, right) = kept.min(axis=0), kept.max(axis=0)
    # the box's sides are at 40-42 px and 40 + its size: nothing is kept on or beyond them
    assert top > 43 and left > 43 and bottom < ink.shape[0] - 44 and right < ink.shape[1] - 44
    assert np.array_equal(inside[top : bottom + 1, left : right + 1], ink[top : bottom + 1, left : right + 1])


@pytest.mark.parametrize("text", ["0", "7", "1", "4", "8"])
def test_a_digit_alone_or_cropped_to_its_ink_is_no_box(text: str) -> None:
    """A 0's sides are curves, a 7's bar has no straight side under it: returned as they are."""
    img, _ = written(text, pen=14, margin=30)
    for picture in (img, img.crop(ImageChops.invert(img).getbbox())):
        ink = _ink(picture)
        assert boxes.inside(ink, pieces.LEVEL) is ink


def test_squared_paper_and_an_empty_box_are_left_as_they_are() -> None:
    img, _ = written("5", pen=8, margin=60)
    grid = img.copy()
    draw = ImageDraw.Draw(grid)
    for x in range(-15, grid.width, 45):  # lines running on off the picture: lines.across takes them
        draw.line([(x, 0), (x, grid.height)], fill=120, width=2)
    for y in range(-20, grid.height, 45):
        draw.line([(0, y), (grid.width, y)], fill=120, width=2)
    empty = Image.new("L", (200, 160), 255)
    ImageDraw.Draw(empty).rectangle((30, 30, 170, 130), outline=20, width=3)
    ImageDraw.Draw(empty).line([(60, 140), (140, 140)], fill=20, width=3)  # ink outside, none in it
    for picture in (grid, empty):
        ink = _ink(picture)
        assert boxes.inside(ink, pieces.LEVEL) is ink


@pytest.mark.parametrize("short", [0, 1, 2])
def test_a_cut_comb_whose_lines_stop_short_of_the_sides_keeps_its_cells(short: int) -> None:
    """Lines ending 1-2 px before the picture's sides (still within EDGE_PX): the piece is
    narrower than the picture. That raised a ValueError (a 500) when the walls were taken."""
    ink = np.zeros((100, 300), np.float32)
    ink[10:13, short : 300 - short] = 1.0  # the top and bottom lines
    ink[80:83, short : 300 - short] = 1.0
    for x in range(40, 290, 50):
        ink[10:83, x : x + 3] = 1.0  # six evenly spaced walls
    for x in (60, 110, 160):
        ink[30:60, x : x + 10] = 1.0  # ink in three cells
    out = boxes.inside(ink, 0.35)
    assert out is not ink
    assert not out[:13].any() and not out[80:].any()  # the lines and all outside them went
    assert not out[:, 40:43].any() and not out[:, 240:243].any()  # so did the walls
    assert np.array_equal(out[30:60, 60:70], ink[30:60, 60:70])  # the cells' ink stayed, in place
