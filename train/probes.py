"""Probes of the framing on pictures the card's families do not make, each printing its counts.

    mnist-probes cut          # MNIST test digits cut at their ink, enlarged 5x (and with a 2-px margin)
    mnist-probes photo-cut    # photographed (uploadlike.photograph), then cut at the ink or near it
    mnist-probes numbers-cut  # 3-6-digit numbers photographed, cut at the ink or near it (/v1/read)
    mnist-probes colour       # ink as bright as its paper but of another colour
    mnist-probes flat         # noise on one flat colour: every picture must be refused
    mnist-probes fonts        # digits and 4-digit numbers in Debian's handwriting fonts (train/handfonts.py)
    mnist-probes crops        # a digit cropped from a page: at a scanner's border, among neighbours, underlined, ringed
    mnist-probes family NAME  # one upload-like family (the card's pictures), e.g. ruled
    mnist-probes numbers NAME # one of the card's numbers sets (figures.NUMBER_SETS), e.g. squared

`--without STEP` switches one step of the preprocessing off (train/ablations.py: lines,
long-lines, underlines, desk, desk-doubt, desk-band, shadow, shadow-doubt, underline-doubt, boxes,
cut-comb, closer, neighbours, underline, ring, tilt, slant) to measure what it does: `mnist-probes family ruled
--without lines`.

Each is deterministic and reads through `framing.prepare` and the served int8 model, the path
of `/v1/predict` (numbers: `figures.read_number`, the path of `/v1/read`). To measure an earlier
commit the same way, copy this file and the three it imports into its checkout and run it there:
`git worktree add /tmp/old <commit> && cp train/{probes,ablations,handfonts,crops}.py /tmp/old/train/ &&
(cd /tmp/old && <this checkout>/.venv/bin/python -m train.probes cut)` (`family`, `numbers` and
`--without` need that commit's train/ to have the family, set or step).
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from service.core import framing
from service.core.card import ModelCard
from service.core.model import OnnxModel
from service.settings import default_card
from train import ablations, crops, figures, handfonts, hands, mnist, numbers, uploadlike

log = logging.getLogger("probes")

Picture = tuple[bytes, int]  # (file, label)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _ink_box(digit: np.ndarray, level: int = 60) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(digit.max(axis=1) > level), np.flatnonzero(digit.max(axis=0) > level)
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def cut(test: mnist.Split, n: int, margin: int, dark_on_light: bool) -> Iterator[Picture]:
    """The digit cut `margin` px (of 28) outside its ink and enlarged five times."""
    for digit, label in zip(test.images[:n], test.labels[:n], strict=True):
        top, bottom, left, right = _ink_box(digit)
        crop = digit[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin]
        big = Image.fromarray(crop).resize((crop.shape[1] * 5, crop.shape[0] * 5), Image.Resampling.BICUBIC)
        level = np.asarray(big, np.float32) * (190 / 255)
        yield _png(230 - level if dark_on_light else 20 + level), int(label)


def _photographed_and_cut(ink: Image.Image, height: int, room: int, margin: int, seed: list[int]) -> bytes:
    """Ink (L, 255 = ink) cut at its ink, `height` px high, photographed with `room` px around it,
    then cut `margin` px outside the ink: the same photo whatever the margin."""
    top, bottom, left, right = _ink_box(np.asarray(ink), 40)
    ink = ink.crop((left, top, right, bottom))
    ink = ink.resize((max(4, round(ink.width * height / ink.height)), height), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (ink.width + 2 * room, ink.height + 2 * room), 0)
    canvas.paste(ink, (room, room))
    data, _ = uploadlike.photograph(canvas, np.random.default_rng(seed), max_blur=0.8)
    photo: Image.Image = Image.open(io.BytesIO(data))
    photo = photo.crop((room - margin, room - margin, room + ink.width + margin, room + ink.height + margin))
    buf = io.BytesIO()
    photo.save(buf, format="PNG")
    return buf.getvalue()


def photo_cut(test: mnist.Split, n: int, height: int, margin: int) -> Iterator[Picture]:
    """The digit `height` px high photographed, then cut `margin` px outside its ink."""
    for i, (digit, label) in enumerate(zip(test.images[:n], test.labels[:n], strict=True)):
        yield _photographed_and_cut(Image.fromarray(digit), height, 16, margin, [5, i]), int(label)


def numbers_cut(test: mnist.Split, n: int, height: int, margin: int, bold: bool) -> Iterator[tuple[bytes, str]]:
    """3-6-digit numbers of MNIST test digits (`numbers.compose`; `bold`: a felt-tip marker of 5.5
    MNIST px, the upload-like `marker` family's middle, `hands.pen`) `height` px high, photographed,
    then cut `margin` px outside the ink: (picture, text)."""
    for i in range(n):
        rng = np.random.default_rng([77, i])
        picks = rng.choice(len(test.images), int(rng.integers(3, 7)), replace=False)
        digits = [hands.pen(test.images[p], 5.5) if bold else test.images[p] for p in picks]
        img = numbers.compose(digits, bool(rng.random() < 0.3), rng)
        text = "".join(str(int(test.labels[p])) for p in picks)
        yield _photographed_and_cut(img, height, 12, margin, [4, i]), text


LUMA = np.array([0.299, 0.587, 0.114])


def colour(test: mnist.Split, n: int) -> Iterator[Picture]:
    """The digit in a random colour on a random paper as bright (within 25 of 255) but over 120 apart."""
    rng = np.random.default_rng(3)
    for digit, label in zip(test.images[:n], test.labels[:n], strict=True):
        while True:
            paper, pen = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            if abs((paper - pen) @ LUMA) < 25 and np.linalg.norm(paper - pen) > 120:
                break
        share = np.asarray(Image.fromarray(digit).resize((140, 140), Image.Resampling.BICUBIC), np.float32)[..., None]
        share /= 255
        yield _png(paper * (1 - share) + pen * share + rng.normal(0, 3, (140, 140, 1))), int(label)


def flat(n: int) -> Iterator[Picture]:
    """One random colour with noise of 0.5-8 levels, 30-500 px a side: no digit (label -1)."""
    rng = np.random.default_rng(1)
    for _ in range(n):
        size = (int(rng.integers(30, 500)), int(rng.integers(30, 500)), 3)
        yield _png(rng.uniform(0, 255, 3) + rng.normal(0, rng.uniform(0.5, 8), size)), -1


def read(model: OnnxModel, pictures: Iterator[Picture]) -> tuple[int, int, int]:
    """(read right, refused, all) through `figures._answers` (a refused picture answers -1): a
    refused picture of no digit (label -1) counts as right."""
    files, labels = zip(*pictures, strict=True)
    answers, _ = figures._answers(model, list(files))
    return int(np.sum(answers == np.array(labels))), int(np.sum(answers == -1)), len(files)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "probe", choices=("cut", "photo-cut", "numbers-cut", "colour", "flat", "fonts", "crops", "family", "numbers")
    )
    parser.add_argument("name", nargs="?", help="family: an upload-like family; numbers: a numbers set")
    parser.add_argument("--without", choices=sorted(ablations.STEPS), help="a preprocessing step switched off")
    parser.add_argument("--data", type=str, default=None, help="MNIST IDX directory")
    args = parser.parse_args(argv)
    names = {"family": uploadlike.ALL_FAMILIES, "numbers": tuple(figures.NUMBER_SETS)}.get(args.probe)
    if names is not None and args.name not in names:
        parser.error(f"{args.probe} needs one of: {', '.join(names)}")
    test = mnist.test_split(None if args.data is None else Path(args.data))
    model = OnnxModel(ModelCard.load(default_card()), intra_threads=1)
    log.info("service: %s%s", framing.__file__, f", without {args.without}" if args.without else "")
    with ablations.without(args.without):
        _run(args.probe, args.name, test, model)
    return 0


def _run(probe: str, name: str | None, test: mnist.Split, model: OnnxModel) -> None:
    runs: dict[str, Callable[[], Iterator[Picture]]] = {}
    if probe == "cut":
        for margin in (0, 2):
            for dark in (True, False):
                way = "dark on light" if dark else "light on dark"
                runs[f"cut, margin {margin}, {way}"] = functools.partial(cut, test, 1000, margin, dark)
    elif probe == "photo-cut":
        for height in (40, 120):
            for margin in (0, 3, 10):
                runs[f"photographed {height} px high, margin {margin}"] = functools.partial(
                    photo_cut, test, 300, height, margin
                )
    elif probe == "colour":
        runs["colour pairs as bright"] = functools.partial(colour, test, 300)
    elif probe == "flat":
        runs["noise on a flat colour (right = refused)"] = functools.partial(flat, 400)
    elif probe == "crops":
        runs["at a scanner's dark border"] = functools.partial(crops.scanner, test, 300)
        runs["among its neighbours"] = functools.partial(crops.neighbours, test, 300)
        runs["underlined"] = functools.partial(crops.underlined, test, 300)
        runs["ringed by hand"] = functools.partial(crops.ringed, test, 300)
    if probe == "numbers-cut":
        whole = figures._group_model()
        for bold in (False, True):
            for height in (32, 80):
                for margin in (0, 2, 6):
                    pictures = numbers_cut(test, 40, height, margin, bold)
                    right = sum(figures.read_number(model, data, whole) == text for data, text in pictures)
                    pen = "bold marker" if bold else "pen"
                    log.info("numbers, %s, %d px high, margin %d: %d of 40 read", pen, height, margin, right)
    if probe == "fonts":
        _fonts(model)
    if probe == "family":
        files = uploadlike.generate(test, families=(str(name),))
        runs[f"family {name}"] = lambda: iter([(data, label) for _, data, label in files])
    if probe == "numbers":
        whole = figures._group_model()
        hits: dict[str, list[bool]] = {}
        for n in figures.NUMBER_SETS[str(name)](test, figures.Sizes().ruled_per_cell):
            hits.setdefault(n.family, []).append(figures.read_number(model, n.data, whole) == n.text)
        every = [ok for oks in hits.values() for ok in oks]
        for part, oks in sorted(hits.items()) if len(hits) > 1 else []:
            log.info("numbers %s, %s: %d of %d read", name, part, sum(oks), len(oks))
        log.info("numbers %s: %d of %d read", name, sum(every), len(every))
    for label, make in runs.items():
        right, refused, total = read(model, make())
        log.info("%s: %d of %d right (%d refused)", label, right, total, refused)


def _fonts(model: OnnxModel) -> None:
    """Digits (3 of each in each face) and 4-digit numbers (8 a face, half of them touching) in
    the handwriting fonts, by face and in all."""
    pictures = list(handfonts.digits(3))
    answers, _ = figures._answers(model, [data for data, _, _ in pictures])
    right = answers == np.array([d for _, d, _ in pictures])
    names = [name for _, _, name in pictures]
    whole = figures._group_model()
    read: dict[str, list[bool]] = {}
    for data, text, kind, name in handfonts.number_pictures(8):
        ok = figures.read_number(model, data, whole) == text
        read.setdefault(name, []).append(ok)
        read.setdefault(kind, []).append(ok)
    for name in sorted(set(names)):
        mine = right[[n == name for n in names]]
        log.info("fonts, %s: digits %d of %d, numbers %d of %d", name, mine.sum(), mine.size, sum(read[name]), 8)
    for kind in numbers.KINDS:
        log.info("fonts, 4-digit numbers %s: %d of %d read", kind, sum(read[kind]), len(read[kind]))
    log.info("fonts, digits: %d of %d right", right.sum(), right.size)


if __name__ == "__main__":
    raise SystemExit(main())
