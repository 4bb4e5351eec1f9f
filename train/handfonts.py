"""Digits in other people's hands: Debian's handwriting fonts, a check beyond MNIST's writers.

Every other set the card measures is drawn from MNIST's own digits (its 500 writers); these are
digits that other people wrote and that were made into fonts (the six hands of fonts-bwht, Klee's
pen and pencil, Kristi's felt-tip, Kaushan's brush, Breip, Humor Sans, Dancing Script, Comic
Neue, Rufscript). They are cleaner than handwriting (one glyph per digit, the same every time),
so each is drawn at a random size and angle, wobbled like a hand (`uploadlike.wobble`), and
either left clean or photographed (`uploadlike.photograph`); numbers are composed from them as
the card's numbers are from MNIST's (`numbers.compose`). scripts/setup-system installs the fonts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from train import numbers, uploadlike

# Debian package -> where its faces are.
PACKAGES = {
    "fonts-bwht": "/usr/share/fonts/opentype/bwht",
    "fonts-klee": "/usr/share/fonts/truetype/klee",
    "fonts-kristi": "/usr/share/fonts/truetype/kristi",
    "fonts-kaushanscript": "/usr/share/fonts/opentype/kaushanscript",
    "fonts-breip": "/usr/share/fonts/truetype/breip",
    "fonts-humor-sans": "/usr/share/fonts/truetype/humor-sans",
    "fonts-dancingscript": "/usr/share/fonts/opentype/dancingscript",
    "fonts-comic-neue": "/usr/share/fonts/opentype/comic-neue",
    "fonts-rufscript": "/usr/share/fonts/truetype/rufscript",
}
SIZE = 160  # px the glyphs are set at before they are scaled


class FontsMissing(Exception):
    """The handwriting fonts are not installed (scripts/setup-system installs them)."""


def faces() -> list[Path]:
    found = sorted(p for d in PACKAGES.values() for p in Path(d).glob("*") if p.suffix in (".ttf", ".otf"))
    missing = [name for name, d in PACKAGES.items() if not any(Path(d).glob("*.*tf"))]
    if missing:
        raise FontsMissing(f"handwriting fonts not installed: {' '.join(missing)} (scripts/setup-system)")
    return found


def glyph(face: Path, digit: int, rng: np.random.Generator) -> np.ndarray:
    """The digit in this face, wobbled like a hand and turned by up to 8 degrees: float [0, 1],
    white on black, cropped to its ink."""
    img = Image.new("L", (2 * SIZE, 2 * SIZE), 0)
    font = ImageFont.truetype(str(face), SIZE)
    ImageDraw.Draw(img).text((SIZE, SIZE), str(digit), fill=255, font=font, anchor="mm")
    img = img.rotate(float(rng.uniform(-8, 8)), Image.Resampling.BICUBIC)
    ink = uploadlike.wobble(np.asarray(img, np.float32) / 255.0, rng, 0.01)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    return np.asarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], np.float32)


def _picture(ink: np.ndarray, rng: np.random.Generator, height: int, margin: int) -> tuple[bytes, str]:
    """The ink `height` px high with `margin` around, dark on white (clean) or photographed."""
    h, w = ink.shape
    scaled = Image.fromarray(np.asarray(np.clip(ink * 255, 0, 255), np.uint8), mode="L").resize(
        (max(1, round(w * height / h)), height), Image.Resampling.LANCZOS
    )
    mask = Image.new("L", (scaled.width + 2 * margin, height + 2 * margin), 0)
    mask.paste(scaled, (margin, margin))
    if rng.random() < 0.5:
        return uploadlike.photograph(mask, rng, max_blur=2.0)
    out = io.BytesIO()
    Image.fromarray(255 - np.asarray(mask), mode="L").save(out, format="PNG")
    return out.getvalue(), "png"


def digits(per_digit: int, seed: int = 21) -> Iterator[tuple[bytes, int, str]]:
    """(picture, digit, face name): every digit of every face `per_digit` times."""
    for f, face in enumerate(faces()):
        for d in range(10):
            for k in range(per_digit):
                rng = np.random.default_rng([seed, f, d, k])
                data, _ = _picture(glyph(face, d, rng), rng, int(rng.integers(28, 240)), int(rng.integers(4, 60)))
                yield data, d, face.stem


def _frame(ink: np.ndarray) -> np.ndarray:
    """The glyph as an MNIST-sized crop (20 px high, uint8) for `numbers.compose`."""
    h, w = ink.shape
    small = Image.fromarray(np.asarray(np.clip(ink * 255, 0, 255), np.uint8), mode="L")
    small = small.resize((max(1, round(w * 20 / h)), 20), Image.Resampling.LANCZOS)
    out = np.zeros((28, small.width + 8), np.uint8)
    out[4:24, 4 : 4 + small.width] = np.asarray(small)
    return out


def number_pictures(per_face: int, seed: int = 22) -> Iterator[tuple[bytes, str, str, str]]:
    """(picture, text, kind, face name): 4-digit numbers in each face, separated and touching in
    turn, composed as the card's numbers are and photographed or drawn with a mouse (1 in 4)."""
    for f, face in enumerate(faces()):
        for i in range(per_face):
            rng = np.random.default_rng([seed, f, i])
            text = "".join(str(int(d)) for d in rng.integers(0, 10, 4))
            kind = numbers.KINDS[i % 2]
            img = numbers.compose([_frame(glyph(face, int(c), rng)) for c in text], kind == "touching", rng)
            data, _ = numbers.render(img, "mouse" if i % 4 == 0 else "photo", rng)
            yield data, text, kind, face.stem
