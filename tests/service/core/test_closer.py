"""A digit small in a large picture is looked at again closer up: framed from the decoded
picture's own pixels, not from the few the working size leaves it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.core import closer, decode, framing, inks
from service.core.model import OnnxModel
from tests.handwriting import png, written
from train import mnist


def _on_a_screen(digit: int, height: int, size: tuple[int, int] = (1920, 1080)) -> Image.Image:
    """The digit `height` px tall somewhere on a white full-HD canvas (a drawing app's screenshot)."""
    img, _ = written(str(digit), pen=max(2, height // 12), height=height, margin=4)
    canvas = Image.new("L", size, 255)
    canvas.paste(img, (size[0] * 3 // 5, size[1] // 3))
    return canvas


def test_a_digit_43_px_tall_on_a_full_hd_screen_frames_as_it_does_alone(digit_model: OnnxModel) -> None:
    """At the working size (256 px) such a digit is 6 px tall; before, 3 of these 10 read wrong
    and their frames correlated 0.67 (median) with the digit's own; now 0.92."""
    alike = []
    for digit in range(10):
        alone = framing.prepare(png(written(str(digit), pen=4, height=43, margin=20)[0])).pixels
        far = framing.prepare(png(_on_a_screen(digit, 43))).pixels
        assert digit_model.predict(far[None])[0].argmax() == digit
        alike.append(np.corrcoef(alone.ravel(), far.ravel())[0, 1])
    assert np.median(alike) > 0.85, np.round(alike, 2)


def test_where_to_look_closer() -> None:
    ink = np.zeros((144, 256), np.float32)
    ink[60:70, 100:106] = 1.0  # 10 px tall at the working size
    left, top, right, bottom = closer.region(ink, (1920, 1080)) or (0, 0, 0, 0)
    factor = 1920 / 256
    assert left < 100 * factor < 106 * factor < right and top < 60 * factor < 70 * factor < bottom
    assert (right - left) < 0.1 * 1920  # the digit and some paper, not the screen
    assert closer.region(ink, (300, 169)) is None  # hardly more detail in the picture than at the working size
    big = np.zeros_like(ink)
    big[20:120, 80:160] = 1.0
    assert closer.region(big, (1920, 1080)) is None  # large enough already
    assert closer.region(np.zeros_like(ink), (1920, 1080)) is None


def _phone_photo(digit: np.ndarray, seed: int) -> bytes:
    """A 12-MP phone JPEG of a page with the digit on it, its frame 60-120 px (the digit 1.5-3 %
    of the picture's height), the paper grainy."""
    rng = np.random.default_rng([9, seed])
    size = int(rng.integers(60, 120))
    page = Image.new("L", (4000, 3000), 0)
    drawn = Image.fromarray(digit, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    page.paste(drawn, (int(rng.integers(0, 4000 - size)), int(rng.integers(0, 3000 - size))))
    ink = np.asarray(page, np.float32) / 255.0
    paper, pen = rng.uniform(190, 240), rng.uniform(20, 80)
    grey = paper * (1.0 - ink) + pen * ink + rng.normal(0.0, 3.0, ink.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def test_small_digits_in_phone_photos_are_found_and_read(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    """At the working size such a digit is 4-8 px, its paper's grain averaged away: over half the
    paper came out one grey level, its noise measured 0, and the paper's next level passed for
    ink ("too little contrast": 4 of these 20 refused before, 12 read). Now the noise is never
    under one grey level, and the JPEG is decoded with 700 px or more to frame the digit from:
    none refused, 17 read."""
    right = 0
    for i in range(20):
        data = _phone_photo(mnist_test.images[i], i)
        assert decode.decode(data).image.width >= decode.DETAIL_SIDE
        frame = framing.prepare(data).pixels  # refused: BlankImage
        right += int(digit_model.predict(frame[None])[0].argmax() == mnist_test.labels[i])
    assert right >= 16


def test_only_large_jpegs_are_decoded_in_more_detail() -> None:
    for side, decoded in ((1400, 350), (1600, 800), (4000, 1000)):
        buf = io.BytesIO()
        Image.new("RGB", (side, side * 3 // 4), (200, 200, 200)).save(buf, format="JPEG")
        assert decode.decode(buf.getvalue()).image.width == decoded, side


def test_a_closer_look_that_finds_nothing_leaves_what_was_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole picture's ink is found by `inks.inks_of`, the closer look's by `inks.ink_of`."""
    data = png(_on_a_screen(4, 43))
    whole = inks.inks_of
    looks: list[tuple[int, int]] = []

    def seen(decoded: decode.Decoded, side: int, doubt: inks.Doubt) -> tuple[inks.Ink, list[inks.Ink], float]:
        looks.append(decoded.image.size)
        return whole(decoded, side, doubt)

    def nothing(decoded: decode.Decoded, side: int = decode.WORK_SIDE) -> tuple[inks.Ink, float]:
        looks.append(decoded.image.size)
        raise inks.BlankImage("nothing here")

    monkeypatch.setattr(inks, "inks_of", seen)
    monkeypatch.setattr(inks, "ink_of", nothing)
    assert framing.prepare(data).pixels.max() > 0  # framed from the working size's ink, not refused
    assert looks[0] == (1920, 1080) and max(looks[1]) < 200  # and the closer look was tried
