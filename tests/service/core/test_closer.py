"""A digit small in a large picture is looked at again closer up: framed from the decoded
picture's own pixels, not from the few the working size leaves it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from service.core import closer, framing
from service.core.model import OnnxModel
from tests.handwriting import png, written


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
