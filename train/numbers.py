"""Make a set of handwritten numbers from MNIST *test* digits, deterministically.

Each number is 2-8 digits written side by side the way people write: each digit a little larger
or smaller than the last, off the baseline by a pixel or two, the whole number slanted. Half of
the numbers are `separated` (a gap between every two digits); in the other half one pair is
`touching` (no gap, or overlapping by up to three MNIST pixels). They are rendered through the
upload-like families (a photo on paper, or a mouse drawing), and named
`<digits>_<kind>_<family>_<index>.<ext>`, so evaluation reads the truth from the name.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from train import mnist, uploadlike

log = logging.getLogger("numbers")

SEED = 11
LENGTHS = tuple(range(2, 9))
KINDS = ("separated", "touching")
PER_CELL = 60  # numbers per (length, kind)
UP = 4  # the string is composed at MNIST's scale, then drawn at 4x for the renderers


@dataclass(frozen=True)
class Number:
    filename: str
    data: bytes
    text: str
    kind: str  # separated | touching
    family: str  # photo | mouse


def _ink_box(digit: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(digit.max(axis=1) > 30)
    cols = np.flatnonzero(digit.max(axis=0) > 30)
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def scaled_crops(digits: list[np.ndarray], rng: np.random.Generator, up: float, spread: float) -> list[Image.Image]:
    """Each MNIST frame cropped to its ink and drawn `up` times larger, its size varied by up to
    `spread` (people's digits vary from one to the next)."""
    crops = []
    for d in digits:
        ink = Image.fromarray(_ink_box(d), mode="L")
        s = rng.uniform(1.0 - spread, 1.0 + spread) * up
        crops.append(
            ink.resize((max(1, round(ink.width * s)), max(1, round(ink.height * s))), Image.Resampling.BICUBIC)
        )
    return crops


def lay_out(
    crops: list[Image.Image], gaps: list[float], rng: np.random.Generator, up: float, baseline: float = 2.0
) -> Image.Image:
    """The crops side by side with these gaps (negative: overlapping), each off the baseline by up
    to `baseline` MNIST pixels (people do not write on a ruler), then slanted by a random shear."""
    height = max(c.height for c in crops) + round(8 * up)
    width = int(sum(c.width for c in crops) + sum(gaps)) + round(16 * up)
    canvas = np.zeros((height, width), np.uint8)
    x = 8.0 * up
    for crop, gap in zip(crops, [*gaps, 0.0], strict=True):
        y = int(height - 4 * up - crop.height + rng.uniform(-baseline, baseline) * up)
        y = max(0, min(y, height - crop.height))
        xi = round(x)
        region = canvas[y : y + crop.height, xi : xi + crop.width]
        np.maximum(region, np.asarray(crop)[: region.shape[0], : region.shape[1]], out=region)
        x += crop.width + gap
    return Image.fromarray(canvas, mode="L")


def slant(img: Image.Image, shear: float) -> Image.Image:
    """The picture sheared about its middle row, as handwriting slants."""
    return img.transform(
        img.size, Image.Transform.AFFINE, (1, shear, -shear * img.height / 2, 0, 1, 0), Image.Resampling.BICUBIC
    )


def compose(
    digits: list[np.ndarray], touching: bool, rng: np.random.Generator, lean: float | None = None
) -> Image.Image:
    """MNIST frames -> one L image of the number (white ink on black), at 4x MNIST's scale,
    slanted by a random shear of up to 0.25 or by `lean` (on a canvas widened to hold it)."""
    crops = scaled_crops(digits, rng, UP, 0.15)
    gaps = [rng.uniform(2.0, 7.0) * UP for _ in range(len(crops) - 1)]
    if touching:
        # One pair touches: no gap, or overlapping by up to 3 MNIST pixels.
        gaps[int(rng.integers(0, len(gaps)))] = -rng.uniform(0.0, 3.0) * UP
    img = lay_out(crops, gaps, rng, UP)
    shear = rng.uniform(-0.25, 0.25)  # drawn with a lean too: the slanted set's stream, as measured
    if lean is None:
        return slant(img, shear)
    pad = math.ceil(abs(lean) * img.height / 2)
    wide = Image.new("L", (img.width + 2 * pad, img.height), 0)
    wide.paste(img, (pad, 0))
    return slant(wide, lean)


SEPARATORS = ("dot", "comma", "dash")
TILT_DEG = (8.0, 20.0)
# Writing that leans far, one way or the other: shears of 0.35-0.6 (19-31 degrees) on top of the
# digits' own lean (MNIST's: a shear of -0.12 at the median, service.core.skew).
LEAN = (0.35, 0.6)


def separator(style: str, rng: np.random.Generator, up: float) -> Image.Image:
    """A mark people write between a number's digits, as a crop `lay_out` sets on the baseline
    with the digits: a decimal point, a thousands comma (a blob, its tail down to the left), a dash (its
    crop half a digit tall, blank under the stroke, so the stroke sits at mid-height). Sizes in
    MNIST pixels (its digits are ~20 px tall, their strokes ~2-3 px)."""
    pen = rng.uniform(1.8, 3.2) * up
    width = rng.uniform(6.0, 10.0) * up if style == "dash" else rng.uniform(3.0, 5.0) * up
    height = {"dot": width, "comma": rng.uniform(5.0, 7.0) * up, "dash": rng.uniform(9.0, 11.0) * up}[style]
    crop = Image.new("L", (round(width + pen), round(height + pen)), 0)
    draw = ImageDraw.Draw(crop)
    half = pen / 2
    if style == "dot":
        draw.ellipse([0, 0, width, width], fill=255)
    elif style == "comma":  # a blob on the line, its tail down and to the left
        draw.ellipse([width - 2 * half - pen, 0, width, 2 * half + pen], fill=255)
        draw.line([(width - half, half), (half, height)], fill=255, width=round(pen))
    else:
        draw.line([(half, half), (width, half + rng.uniform(-1.0, 1.0) * up)], fill=255, width=round(pen))
    return crop


def separated_by(digits: list[np.ndarray], style: str, rng: np.random.Generator) -> Image.Image:
    """The number with `style` marks between its digits: after every third digit from the right
    (1.000.000, 12,345) when it has four or more, else after its first (3.5, 1-2)."""
    crops = scaled_crops(digits, rng, UP, 0.15)
    n = len(crops)
    after = set(range(n - 4, -1, -3)) if n >= 4 else {0}
    laid: list[Image.Image] = []
    for k, crop in enumerate(crops):
        laid.append(crop)
        if k in after:
            laid.append(separator(style, rng, UP))
    gaps = [rng.uniform(2.0, 5.0) * UP for _ in range(len(laid) - 1)]
    return slant(lay_out(laid, gaps, rng, UP, baseline=1.0), rng.uniform(-0.25, 0.25))


def rule(mask: Image.Image, box: tuple[int, int, int, int], style: str, rng: np.random.Generator) -> None:
    """Ruled lines drawn into the ink mask around the number at `box` (x, y, w, h), from edge to
    edge, a little askew, fainter or as dark as the pen: the baseline the digits sit on, the
    lines of lined paper (above, through the middle, under), or a line struck through."""
    _, y, _, h = box
    slope = float(np.tan(np.radians(rng.uniform(-1.5, 1.5))))
    width = max(2, round(h * rng.uniform(0.02, 0.05)))
    level = int(rng.uniform(0.35, 1.0) * 255)
    rows = {
        "baseline": [y + h - width // 2],
        "lined": [y - round(h * 0.35), y + round(h * 0.4), y + h],
        "strike": [y + h // 2],
    }[style]
    draw = ImageDraw.Draw(mask)
    for row in rows:
        half = slope * mask.width / 2
        draw.line([(0, row - half), (mask.width, row + half)], fill=level, width=width)


def render(number: Image.Image, family: str, rng: np.random.Generator, paper: str | None = None) -> tuple[bytes, str]:
    """The number through an upload-like family: photographed on paper, or drawn with a mouse;
    `paper` (photos) marked: ruled lines of a RULED style (`rule`), "squared": squared paper
    (`uploadlike.rule_paper`), "boxed": a printed box (a form's field, `uploadlike.in_box`),
    "shadowed": a shadow across the page (`uploadlike.shadow_light`), "underlined": a line drawn
    under it by hand (`underline`), or "slip": on a slip of paper lying on a desk (`uploadlike.on_a_slip`)."""
    if family == "mouse":
        target = int(rng.integers(60, 161))  # digit height on the canvas, px
        scale = target / number.height
        size = (max(8, round(number.width * scale)), max(8, round(number.height * scale)))
        strokes = uploadlike.skeletonise(
            np.asarray(number.resize(size, Image.Resampling.BICUBIC)) > 255 * uploadlike.SKELETON_LEVEL
        )
        drawn = Image.fromarray(np.asarray(strokes, np.uint8) * 255, mode="L")
        if rng.random() < 0.5:
            drawn = drawn.filter(ImageFilter.MaxFilter(3))
        margin = int(rng.integers(10, 60))
        mask = Image.new("L", (size[0] + 2 * margin, size[1] + 2 * margin), 0)
        mask.paste(drawn, (margin, margin))
        return uploadlike.mouse_picture(mask, rng)
    width = int(rng.integers(300, 1025))
    scale = width * rng.uniform(0.55, 0.9) / number.width
    size = (max(8, round(number.width * scale)), max(8, round(number.height * scale)))
    drawn = number.resize(size, Image.Resampling.BICUBIC).rotate(
        float(rng.uniform(-4, 4)), Image.Resampling.BICUBIC, expand=True
    )
    if paper == "boxed":
        return uploadlike.photograph(uploadlike.in_box(drawn, rng), rng, max_blur=2.0)
    if paper == "ringed":
        return uploadlike.photograph(ringed(drawn, rng), rng, max_blur=2.0)
    ink = np.flatnonzero(np.asarray(drawn).max(axis=1) > 127)  # the rows the number's ink spans
    if paper == "slip":
        return uploadlike.on_a_slip(drawn, int(ink[-1] - ink[0] + 1) if ink.size else drawn.height, rng)
    height = int(drawn.height * rng.uniform(1.3, 2.5))
    mask = Image.new("L", (width, height), 0)
    at = (int(rng.integers(0, max(1, width - drawn.width))), int(rng.integers(0, max(1, height - drawn.height))))
    mask.paste(drawn, at)
    if paper is not None and paper != "shadowed":
        if paper == "underlined":
            underline(mask, at, drawn, rng)
        elif paper == "squared":
            mask = uploadlike.rule_paper(mask, int(ink[-1] - ink[0] + 1), rng, "squared")
        else:
            rule(mask, (at[0], at[1] + int(ink[0]), drawn.width, int(ink[-1] - ink[0] + 1)), paper, rng)
    return uploadlike.photograph(mask, rng, max_blur=2.0, shaded=paper == "shadowed")


RULED = ("baseline", "lined", "strike")
# The families that are a number photographed on marked paper (`render`'s `paper`).
PAPERS = (*RULED, "boxed", "squared", "ringed", "shadowed", "underlined", "slip")


def underline(mask: Image.Image, at: tuple[int, int], drawn: Image.Image, rng: np.random.Generator) -> None:
    """A line drawn by hand under the number `drawn` pasted at `at` in the ink mask: from up to 0.3
    of its height before its ink to up to 0.3 after, a little askew, 5-8 % of its height thick, in
    the pen's ink; touching the digits' foot (half the time) or 0.08-0.2 of its height below."""
    ink = np.asarray(drawn) > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    height = float(rows[-1] - rows[0] + 1)
    below = rng.uniform(-0.02, 0.01) if rng.random() < 0.5 else rng.uniform(0.08, 0.2)
    y = at[1] + rows[-1] + below * height
    x0, x1 = at[0] + cols[0] - rng.uniform(0.0, 0.3) * height, at[0] + cols[-1] + rng.uniform(0.0, 0.3) * height
    width = max(2, round(height * rng.uniform(0.05, 0.08)))
    ImageDraw.Draw(mask).line([(x0, y), (x1, y + rng.uniform(-0.05, 0.05) * height)], fill=255, width=width)


def ringed(drawn: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The number with a line drawn round it by hand, clear of it (an answer circled on a worksheet):
    an ellipse 6-7 % of the number's height thick, closed or, half the time, left open by 15-40
    degrees (a hand's circle seldom meets its start)."""
    rx, ry = drawn.width * rng.uniform(0.65, 0.75), drawn.height * rng.uniform(0.8, 1.0)
    width = max(2, int(drawn.height * rng.uniform(0.06, 0.07)))
    margin = width + int(drawn.height * rng.uniform(0.1, 0.5))
    size = (int(2 * rx) + 2 * margin, int(2 * ry) + 2 * margin)
    mask = Image.new("L", size, 0)
    mask.paste(drawn, ((size[0] - drawn.width) // 2, (size[1] - drawn.height) // 2))
    start, gap = rng.uniform(0, 360), (0.0 if rng.random() < 0.5 else rng.uniform(15, 40))
    box = [size[0] / 2 - rx, size[1] / 2 - ry, size[0] / 2 + rx, size[1] / 2 + ry]
    ImageDraw.Draw(mask).arc(box, start + gap, start + 360, fill=255, width=width)
    return mask


def _generate(
    split: mnist.Split,
    per_cell: int,
    stream: tuple[int, ...],
    family_of: Callable[[np.random.Generator, int], str],
    lengths: tuple[int, ...] = LENGTHS,
) -> list[Number]:
    """Every (length, kind) cell of these lengths, each its own random stream (`stream` with the
    cell inserted after its first entry: a cell is the same whichever others are made);
    `family_of(rng, n)` names each number's family once its digits are picked (a ruled-line style
    is photographed on such lines)."""
    out = []
    for li, length in enumerate(LENGTHS):
        if length not in lengths:
            continue
        for ki, kind in enumerate(KINDS):
            rng = np.random.default_rng([stream[0], li, ki, *stream[1:]])
            for i in range(per_cell):
                picks = rng.choice(len(split.images), size=length, replace=False)
                text = "".join(str(int(split.labels[p])) for p in picks)
                family = family_of(rng, li + ki + i)
                if family in ("comb", "cut-comb"):  # one digit a cell: nothing touches
                    comb = uploadlike.in_comb([split.images[p] for p in picks], rng, cut=family == "cut-comb")
                    data, ext = uploadlike.photograph(comb, rng, max_blur=2.0)
                    out.append(Number(f"{text}_{kind}_{family}_{i:03d}.{ext}", data, text, kind, family))
                    continue
                if family in SEPARATORS:
                    image = separated_by([split.images[p] for p in picks], family, rng)
                else:
                    lean = rng.uniform(*LEAN) * rng.choice([-1.0, 1.0]) if family == "slanted" else None
                    image = compose([split.images[p] for p in picks], kind == "touching", rng, lean)
                if family == "tilted":  # the whole line of writing, one way or the other
                    degrees = rng.uniform(*TILT_DEG) * rng.choice([-1.0, 1.0])
                    image = image.rotate(degrees, Image.Resampling.BICUBIC, expand=True)
                paper = family if family in PAPERS else None
                photo = paper is not None or family in (*SEPARATORS, "tilted", "slanted")
                data, ext = render(image, "photo" if photo else family, rng, paper=paper)
                out.append(Number(f"{text}_{kind}_{family}_{i:03d}.{ext}", data, text, kind, family))
    return out


def generate(
    split: mnist.Split, per_cell: int = PER_CELL, seed: int = SEED, lengths: tuple[int, ...] = LENGTHS
) -> list[Number]:
    return _generate(split, per_cell, (seed,), lambda rng, _: "mouse" if rng.random() < 0.25 else "photo", lengths)


def generate_ruled(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers on ruled lines, the styles in turn (`family` is the style): a set of
    its own (its own random streams), so the numbers of `generate` stay what they are."""
    return _generate(split, per_cell, (seed, 1), lambda _, n: RULED[n % len(RULED)])


def generate_squared(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers on squared paper (a school exercise book; its squares 0.45-0.7 of a
    digit's height): a set of its own."""
    return _generate(split, per_cell, (seed, 7), lambda _, n: "squared")


def generate_boxed(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers written in a printed box (a form's field), and, in turn, one digit a
    cell of a comb of boxes (a postcode's field; `family` says which): a set of its own."""
    return _generate(split, per_cell, (seed, 2), lambda _, n: ("boxed", "comb")[n % 2])


def generate_ringed(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers with a line drawn round them by hand (`ringed`): a set of its own."""
    return _generate(split, per_cell, (seed, 8), lambda _, n: "ringed")


def generate_shadowed(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers with a shadow across the page (a phone or a hand between the lamp and
    the sheet: the upload-like `shadow` family's, `uploadlike.shadow_light`): a set of its own."""
    return _generate(split, per_cell, (seed, 9), lambda _, n: "shadowed")


def generate_underlined(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers with a line drawn under them by hand, touching them or not
    (`underline`): a set of its own."""
    return _generate(split, per_cell, (seed, 10), lambda _, n: "underlined")


def generate_on_slips(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers on a slip of paper lying on a darker desk that fills most of the
    picture (the upload-like `slip` family's, `uploadlike.on_a_slip`): a set of its own."""
    return _generate(split, per_cell, (seed, 11), lambda _, n: "slip")


def generate_separators(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers with marks between their digits that are not digits (a decimal point,
    thousands commas, a dash; `family` says which), read as their digits alone: a set of its own.
    Its `touching` cells are separated too (the marks need gaps); they only add numbers."""
    return _generate(split, per_cell, (seed, 3), lambda _, n: SEPARATORS[n % len(SEPARATORS)])


def generate_cut_combs(split: mnist.Split, per_cell: int, seed: int = SEED) -> list[Number]:
    """Photographed numbers one digit a cell of a comb of boxes, cropped inside its first and last
    cells (a postcode's field cropped to the writing): a set of its own."""
    return _generate(split, per_cell, (seed, 5), lambda _, n: "cut-comb")


def generate_tilted(
    split: mnist.Split, per_cell: int, seed: int = SEED, lengths: tuple[int, ...] = LENGTHS
) -> list[Number]:
    """Photographed numbers whose whole line of writing is tilted by TILT_DEG (a phone held at an
    angle, a number written uphill), on top of the photo's own +-4 degrees: a set of its own."""
    return _generate(split, per_cell, (seed, 4), lambda _, n: "tilted", lengths)


def generate_slanted(
    split: mnist.Split, per_cell: int, seed: int = SEED, lengths: tuple[int, ...] = LENGTHS
) -> list[Number]:
    """Photographed numbers written leaning far (LEAN), so that neighbours reach under each
    other's columns: a set of its own."""
    return _generate(split, per_cell, (seed, 6), lambda _, n: "slanted", lengths)


def truth_of(filename: str) -> tuple[str, str] | None:
    """(text, kind) from a generated file's name, or None for another name."""
    parts = Path(filename).name.split("_")
    if len(parts) >= 3 and parts[0].isdigit() and parts[1] in KINDS:
        return parts[0], parts[1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="MNIST IDX directory")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pictures to")
    parser.add_argument("--per-cell", type=int, default=PER_CELL, help="numbers per (length, kind)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        split = mnist.test_split(args.data)
    except mnist.MnistDataError as exc:
        log.error("%s", exc)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    numbers = generate(split, args.per_cell, args.seed)
    for n in numbers:
        (args.out / n.filename).write_bytes(n.data)
    log.info("wrote %d numbers to %s", len(numbers), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
