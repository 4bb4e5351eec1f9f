"""Stroke widths and pieces of ink: pens from hairline to marker give the same frame, specks go."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from service.core import framing, strokes
from tests.handwriting import draw_digit
from tests.service.core.test_framing import _check_frame, _encode


@pytest.fixture(scope="module")
def model(card_path: object) -> object:
    from service.core.card import ModelCard
    from service.core.model import OnnxModel

    return OnnxModel(ModelCard.load(card_path))  # type: ignore[arg-type]


def _pen_picture(digit: int, pen: int, light_on_dark: bool = False) -> bytes:
    img = Image.new("L", (400, 400), 0 if light_on_dark else 255)
    draw_digit(ImageDraw.Draw(img), digit, (110, 60, 180, 280), pen, 255 if light_on_dark else 20)
    return _encode(img, "PNG")


@pytest.mark.parametrize("digit", range(10))
def test_the_same_digit_at_any_pen_width_gives_the_same_answer(digit: int, model: object) -> None:
    """1, 3 and 12 px pens on a 400 px canvas: a hairline, a pen, a marker. Before stroke
    normalisation the 1 px ones were refused as blank (the speck filter erased the strokes)."""
    answers = []
    for pen in (1, 3, 12):
        pixels = framing.prepare(_pen_picture(digit, pen)).pixels
        _check_frame(pixels)
        # Brought to MNIST's own range of stroke widths (its 5th-95th percentiles: 1.3-3.1 px).
        assert 1.2 <= strokes.stroke_width(pixels / 255.0) <= 3.6, pen
        answers.append(int(model.predict(pixels[None])[0].argmax()))  # type: ignore[attr-defined]
    assert answers == [digit] * 3


def test_a_one_pixel_mouse_line_on_a_large_transparent_canvas(model: object) -> None:
    """White 1-px strokes on a transparent 600 px canvas: under 1 % of the pixels are ink."""
    grey = np.asarray(Image.open(io.BytesIO(_pen_picture(7, 1, light_on_dark=True))))
    big = Image.fromarray(grey).resize((600, 600), Image.Resampling.NEAREST)
    rgba = Image.merge("RGBA", [big, big, big, big])  # alpha = the stroke itself
    assert np.mean(np.asarray(big) > 0) < 0.01
    pixels = framing.prepare(_encode(rgba, "PNG")).pixels
    assert int(model.predict(pixels[None])[0].argmax()) == 7  # type: ignore[attr-defined]


def _unevenly_lit(digit: int, pen: int, angle: float, contrast: int, size: tuple[int, int] = (720, 600)) -> bytes:
    """A digit written with a fine pen on paper lit from one side: the paper's grey runs from
    150 to 210 across the picture, the ink `contrast` levels darker than the paper under it."""
    w, h = size
    rows, cols = np.mgrid[0:h, 0:w]
    lighting = np.cos(np.radians(angle)) * cols / w + np.sin(np.radians(angle)) * rows / h
    stroke = Image.new("L", size, 0)
    draw_digit(ImageDraw.Draw(stroke), digit, (w * 0.4, h * 0.3, 90, 150), pen, 255)
    grey = 150 + 60 * lighting - contrast * np.asarray(stroke, np.float32) / 255
    return _encode(Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L"), "PNG")


@pytest.mark.parametrize("digit", range(10))
def test_a_fine_pen_on_a_page_lit_unevenly_is_dark_ink(digit: int, model: object) -> None:
    """Ink under 1 % of the picture moved neither percentile the polarity was voted by, and the
    lighting made both alike: such pictures were taken for light ink on dark paper and refused
    as blank (13 of 200 of the hairline family). Every one of these is read."""
    for pen, angle, contrast in ((1, 30, 60), (2, 120, 50), (3, 200, 70)):
        prepared = framing.prepare(_unevenly_lit(digit, pen, angle, contrast))
        assert prepared.inverted
        _check_frame(prepared.pixels)
        assert int(model.predict(prepared.pixels[None])[0].argmax()) == digit  # type: ignore[attr-defined]


def test_specks_go_and_thin_strokes_stay() -> None:
    ink = np.zeros((200, 200), np.float32)
    ink[20:180, 100] = 1.0  # a 1-px stroke, 160 px long
    ink[5, 5] = ink[190, 190] = ink[10, 180:182] = 1.0  # specks far from it
    clean = strokes.without_specks(ink)
    assert clean[20:180, 100].min() == 1.0
    assert clean[5, 5] == clean[190, 190] == clean[10, 180] == 0.0


def test_a_detached_piece_of_the_digit_stays() -> None:
    """A 5's hat written apart from its body is small, but close: it is the digit's, not a speck."""
    ink = np.zeros((200, 200), np.float32)
    ink[60:180, 60:64] = 1.0  # the body (480 px)
    ink[50:53, 66:76] = 1.0  # the hat, apart (30 px: under a tenth of the body)
    assert strokes.without_specks(ink)[51, 70] == 1.0


def test_components_agree_with_scipy() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for _ in range(50):
        mask = rng.random((64, 80)) > rng.uniform(0.4, 0.95)
        labels, count = strokes.components(mask)
        expected, n = ndimage.label(mask, structure=np.ones((3, 3)))
        assert count == n == labels.max()
        # The same partition: each of ours maps to exactly one of scipy's.
        pairs = {(int(a), int(b)) for a, b in zip(labels.ravel(), expected.ravel(), strict=True)}
        assert len(pairs) == n + 1


def _among_neighbours(images: np.ndarray, k: int, rng: np.random.Generator) -> bytes:
    """MNIST test digit k, 130 px, in the middle of a 200-px crop of a page of them: the digits
    beside it and above it (16-30 px apart) show 20-30 % of themselves at the crop's edges."""

    def scaled(i: int) -> np.ndarray:
        return np.asarray(Image.fromarray(images[i]).resize((130, 130), Image.Resampling.BICUBIC), np.float32) / 255

    page = np.zeros((200 + 2 * 130, 200 + 2 * 130), np.float32)
    page[165:295, 165:295] = scaled(k)
    step = 130 + int(rng.integers(-20, -4))  # MNIST's margins leave ~16-34 px between the digits
    page[165:295, 165 - step : 295 - step] = np.maximum(page[165:295, 165 - step : 295 - step], scaled(k + 1))
    page[165 - step : 295 - step, 165:295] = np.maximum(page[165 - step : 295 - step, 165:295], scaled(k + 2))
    crop = page[130:330, 130:330]
    grey = 225 * (1 - crop) + 30 * crop + rng.normal(0, 3, crop.shape)
    return _encode(Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)), "PNG")


def test_parts_of_neighbouring_digits_at_the_edges_go(
    model: object, mnist_test: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digit cropped from a page of them shows parts of the next ones at its edges: they went into
    the frame. 30 MNIST test digits: measured 29 read, 14 with the step switched off."""
    images, labels = mnist_test.images, mnist_test.labels  # type: ignore[attr-defined]
    rng = np.random.default_rng(4)
    files = [_among_neighbours(images, k, rng) for k in range(400, 460, 2)]

    def read() -> int:
        frames = np.stack([framing.prepare(f).pixels for f in files])
        return int((model.predict(frames).argmax(axis=1) == labels[400:460:2]).sum())  # type: ignore[attr-defined]

    assert read() >= 28
    monkeypatch.setattr(strokes, "without_neighbours", lambda ink: ink)
    assert read() <= 18


def test_a_digit_at_the_edge_and_its_own_pieces_stay() -> None:
    """Only pieces apart from the digit's, and smaller, go: a digit reaching the edge itself (a
    tight crop), a 5's hat written apart and touching the edge, a broken stroke near the digit."""
    tight = np.zeros((60, 40), np.float32)
    tight[:, 18:22] = 1.0  # a 1 from edge to edge
    tight[5:8, 30:40] = 1.0  # and a piece at the edge beside it
    assert strokes.without_neighbours(tight) is tight
    five = np.zeros((80, 80), np.float32)
    five[0:4, 30:60] = 1.0  # the hat, at the top edge, 6 px above the body
    five[10:60, 30:34] = 1.0
    five[30:60, 30:55] = np.maximum(five[30:60, 30:55], 0.0)
    five[40:60, 50:54] = 1.0
    five[56:60, 30:54] = 1.0
    assert np.array_equal(strokes.without_neighbours(five), five)
    apart = five.copy()
    apart[70:80, 0:12] = 1.0  # a neighbour's piece in the corner, 10 px below the digit
    kept = strokes.without_neighbours(apart)
    assert np.array_equal(kept, five)
