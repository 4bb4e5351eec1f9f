"""Pictures that are not digits, to see how often the `uncertain` flag catches them: letters set
in Debian's DejaVu fonts and wobbled like a hand, and random scribbles; both photographed or
drawn like the upload-like families. Deterministic; nothing is committed."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from train import uploadlike

SEED = 13
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSans-Oblique.ttf")
# Letters only; those that are digits in most hands (O o l I Z z S s B g q) would be fair answers.
LETTERS = "".join(c for c in string.ascii_letters if c not in "OolIZzSsBgq")


class FontsMissing(Exception):
    """Debian's fonts-dejavu-core is not installed (scripts/setup-system installs it)."""


def _letter(rng: np.random.Generator) -> Image.Image:
    faces = [FONTS / f for f in FACES if (FONTS / f).is_file()]
    if not faces:
        raise FontsMissing(f"no DejaVu fonts in {FONTS}")
    font = ImageFont.truetype(str(faces[int(rng.integers(0, len(faces)))]), 200)
    img = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(img).text((140, 140), LETTERS[int(rng.integers(0, len(LETTERS)))], fill=255, font=font, anchor="mm")
    wobbled = uploadlike.wobble(np.asarray(img, np.float32) / 255.0, rng, 0.01)
    return Image.fromarray(np.asarray(np.clip(wobbled * 255, 0, 255), np.uint8), mode="L")


def _scribble(rng: np.random.Generator) -> Image.Image:
    img = Image.new("L", (280, 280), 0)
    points = [tuple(rng.uniform(40, 240, size=2)) for _ in range(int(rng.integers(4, 10)))]
    ImageDraw.Draw(img).line(points, fill=255, width=int(rng.integers(8, 24)), joint="curve")
    return img


def generate(count: int = 300, seed: int = SEED) -> list[tuple[str, bytes]]:
    """(file name, bytes): half letters, half scribbles, each photographed on paper or drawn."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = "letter" if i % 2 == 0 else "scribble"
        ink = _letter(rng) if kind == "letter" else _scribble(rng)
        side = int(rng.integers(120, 601))
        canvas = Image.new("L", (side, side), 0)
        canvas.paste(ink.resize((int(side * 0.7),) * 2, Image.Resampling.BICUBIC), (int(side * 0.15),) * 2)
        data, ext = uploadlike.photograph(canvas, rng) if rng.random() < 0.5 else uploadlike.mouse_picture(canvas, rng)
        out.append((f"{kind}_{i:04d}.{ext}", data))
    return out
