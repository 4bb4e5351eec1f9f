"""Whole numbers: segmentation into digits, touching digits, boxes in the picture's pixels."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw

from service.core import decode, groups, inks, paper, pieces, reading, rings, shade, skew
from service.core.card import ModelCard
from service.core.groups import GroupClasses, GroupModel
from service.core.model import OnnxModel
from service.errors import ServiceError
from tests.handwriting import png, written
from train import mnist, numbers, uploadlike

Reader = Callable[[bytes], list[reading.Digit]]


@pytest.fixture(scope="module")
def model(card_path: Path) -> OnnxModel:
    return OnnxModel(ModelCard.load(card_path))


@pytest.fixture(scope="module")
def read(model: OnnxModel, group_model: GroupModel) -> Callable[[bytes], list[reading.Digit]]:
    """Pictures read as the service reads them: the digit model and the group model."""

    def _read(data: bytes) -> list[reading.Digit]:
        segmented = reading.segment(decode.decode(data, work_side=reading.READ_SIDE))
        assert segmented.group_frames is not None
        whole = group_model.predict(segmented.group_frames)
        return segmented.choose(model.predict(segmented.frames()), whole, group_model.classes)

    return _read


def _text(digits: list[reading.Digit]) -> str:
    return "".join(str(d.digit) for d in digits)


@pytest.mark.parametrize(
    ("text", "gap", "pen"),
    [
        ("2026", 0.35, 6),  # a year, well apart
        ("0123456789", 0.3, 5),  # every digit
        ("1984", 0.0, 8),  # touching
        ("4711", -0.05, 8),  # overlapping a little
        ("90210", 0.05, 3),  # close, fine pen
        ("3", 0.3, 1),  # one digit, a hairline
        ("100000000007", 0.3, 4),  # twelve digits
    ],
)
def test_numbers_are_read_left_to_right(read: Reader, text: str, gap: float, pen: int) -> None:
    img, boxes = written(text, pen=pen, gap=gap)
    digits = read(png(img))
    assert _text(digits) == text
    # Each box lies on its digit: its centre within a third of a digit's width of the drawn one.
    for d, (x, y, w, h) in zip(digits, boxes, strict=True):
        bx, by, bw, bh = d.box
        assert abs((bx + bw / 2) - (x + w / 2)) < w / 3
        assert abs((by + bh / 2) - (y + h / 2)) < h / 3
        assert 0.5 * h < bh <= 1.1 * h + 2 * pen


def test_boxes_are_in_the_uploaded_pictures_pixels(read: Reader) -> None:
    """A 2,900 px wide JPEG is decoded at a reduced scale and worked at 768 px: the boxes are
    still in the 2,900 px picture's coordinates."""
    img, boxes = written("586", pen=30, height=1000, gap=0.8, margin=300)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=90)
    assert img.width > 3 * reading.READ_SIDE
    digits = read(buf.getvalue())
    assert _text(digits) == "586"
    for d, (x, _, w, _) in zip(digits, boxes, strict=True):
        assert abs((d.box[0] + d.box[2] / 2) - (x + w / 2)) < w / 4


def test_underlines_and_specks_are_not_digits(read: Reader) -> None:
    img, boxes = written("305", pen=6)
    draw = ImageDraw.Draw(img)
    left, bottom = boxes[0][0], boxes[0][1] + boxes[0][3] + 15
    draw.line([(left, bottom), (boxes[-1][0] + boxes[-1][2], bottom)], fill=20, width=5)  # an underline
    for x, y in ((5, 5), (img.width - 8, 12), (img.width // 2, img.height - 6)):
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=20)  # specks
    assert _text(read(png(img))) == "305"


def test_each_digit_of_a_number_written_askew_is_a_group_of_its_own(mnist_test: mnist.Split) -> None:
    """The line of writing tilted 8-20 degrees: digits reach under their neighbours' columns and
    were grouped with them (2 of these 7 numbers) until the ink was turned level first."""
    separated = [n for n in numbers.generate_tilted(mnist_test, per_cell=1) if n.kind == "separated"]
    for n in separated:
        segmented = reading.segment(decode.decode(n.data, work_side=reading.READ_SIDE), whole=False)
        assert len(segmented.groups) == len(n.text), n.filename


def test_a_two_digit_number_written_askew_is_levelled_too(read: Reader, mnist_test: mnist.Split) -> None:
    """Two groups tell a tilt too, from TWO_DEG: these four two-digit numbers tilted 8-20 degrees read
    275, 071, 78 and 177 while only three groups and more were levelled."""
    wanted = {21: (8, 19), 22: (8, 23)}  # separated ones, by their place in the 2-digit cell
    for seed, places in wanted.items():
        made = numbers.generate_tilted(mnist_test, per_cell=30, seed=seed, lengths=(2,))
        for n in (made[i] for i in places):
            assert len(n.text) == 2 and n.kind == "separated"
            assert _text(read(n.data)) == n.text, n.filename


@pytest.mark.parametrize("degrees", [-18.0, 18.0])
def test_a_number_written_askew_is_read_with_its_boxes_on_its_digits(read: Reader, degrees: float) -> None:
    img, boxes = written("31415", pen=8, gap=0.3)
    turned = img.rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    digits = read(png(turned))
    assert _text(digits) == "31415"
    rad = np.radians(degrees)
    for d, (x, y, w, h) in zip(digits, boxes, strict=True):
        # Where the drawn digit's centre went when the picture was turned.
        dx, dy = x + w / 2 - img.width / 2, y + h / 2 - img.height / 2
        cx = turned.width / 2 + dx * np.cos(rad) + dy * np.sin(rad)
        cy = turned.height / 2 - dx * np.sin(rad) + dy * np.cos(rad)
        bx, by, bw, bh = d.box
        assert abs(bx + bw / 2 - cx) < w / 3 and abs(by + bh / 2 - cy) < h / 3
        assert bx >= 0 and by >= 0 and bx + bw <= turned.width and by + bh <= turned.height


@pytest.mark.parametrize(
    ("text", "after", "mark"),
    [
        ("1234", 1, "dash"),  # 12-34
        ("86", 0, "dash"),  # 8-6
        ("12345", 1, "comma"),  # 12,345
        ("314", 0, "comma"),  # 3,14
        ("2718", 0, "point"),  # 2.718, a point as thick as the pen
    ],
)
def test_marks_between_digits_are_not_digits(read: Reader, text: str, after: int, mark: str) -> None:
    """A dash at mid-height, a comma dipping under the line, a decimal point in the gap after the
    digit `after`: pieces beside the digits, low, are punctuation, not a digit's fragments."""
    img, boxes = written(text, pen=8, gap=0.6)
    draw = ImageDraw.Draw(img)
    x, y, w, h = boxes[after]
    mid = x + w + (boxes[after + 1][0] - x - w) / 2  # the middle of the gap
    if mark == "dash":
        draw.line([(mid - 18, y + h * 0.55), (mid + 18, y + h * 0.52)], fill=20, width=8)
    elif mark == "comma":
        draw.ellipse((mid - 7, y + h - 16, mid + 7, y + h - 2), fill=20)
        draw.line([(mid + 4, y + h - 8), (mid - 10, y + h + 28)], fill=20, width=7)
    else:
        draw.ellipse((mid - 9, y + h - 18, mid + 9, y + h), fill=20)
    assert _text(read(png(img))) == text


@pytest.mark.parametrize(
    ("text", "style", "width", "grey", "tilt"),
    [
        ("31415", "lined", 2, 150, 1.5),  # lined paper, the lines fainter than the pen, askew
        ("31415", "lined", 3, 60, 0.0),  # as dark as the pen
        ("738", "baseline", 4, 60, 2.0),  # sitting on a dark baseline, askew by 2 degrees
        ("90210", "strike", 3, 60, 1.0),  # struck through
    ],
)
def test_numbers_on_ruled_lines(read: Reader, text: str, style: str, width: int, grey: int, tilt: float) -> None:
    """A line touching every digit made the number one piece (31415 on lined paper read "345")."""
    img, boxes = written(text, pen=6, gap=0.3)
    top, bottom = boxes[0][1], boxes[0][1] + boxes[0][3]
    rows = {"lined": [top - 53, top + 53, bottom - 1], "baseline": [bottom - 2], "strike": [(top + bottom) // 2]}
    half = np.tan(np.radians(tilt)) * img.width / 2
    draw = ImageDraw.Draw(img)
    for y in rows[style]:
        draw.line([(0, y - half), (img.width, y + half)], fill=grey, width=width)
    assert _text(read(png(img))) == text


@pytest.mark.parametrize(("text", "grey"), [("2026", 20), ("965056", 170)])
def test_a_number_in_a_printed_box(read: Reader, text: str, grey: int) -> None:
    """A form's field around the number: its sides were digits ("1") or joined every digit into one
    piece (photographed numbers in a box read 37 of 100 before, 93 after)."""
    img, _ = written(text, pen=6, gap=0.3, margin=60)
    draw = ImageDraw.Draw(img)
    draw.rectangle((25, 25, img.width - 25, img.height - 25), outline=grey, width=3)
    assert _text(read(png(img))) == text


def test_a_number_in_a_comb_of_boxes(read: Reader) -> None:
    """One digit a cell: the walls were read as 1s (the card's numbers in a comb: 22 of 63 without the
    walls taken, 53 with)."""
    img = Image.new("L", (4 * 110 + 60, 160), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((30, 20, 30 + 4 * 110, 140), outline=40, width=3)
    for c in range(1, 4):
        draw.line([(30 + c * 110, 20), (30 + c * 110, 140)], fill=40, width=3)
    for c, ch in enumerate("4551"):
        digit, _ = written(ch, pen=7, height=80, margin=0)
        img.paste(digit, (30 + c * 110 + (110 - digit.width) // 2, 40))
    assert _text(read(png(img))) == "4551"


@pytest.mark.parametrize("tilt", [0.0, 1.5])
def test_a_number_in_a_comb_cut_off_at_both_sides(read: Reader, tilt: float) -> None:
    """A postcode's field cropped to the writing: the comb's top and bottom lines run from edge to
    edge, its walls stand between them, and there is no left or right side to find a box by. The
    walls were read as 1s; between evenly spaced walls crossing from line to line they go."""
    img = Image.new("L", (5 * 110, 160), 255)
    draw = ImageDraw.Draw(img)
    for y in (20, 140):
        draw.line([(0, y), (img.width, y)], fill=40, width=3)
    for c in range(1, 5):
        draw.line([(c * 110 - 55, 20), (c * 110 - 55, 140)], fill=40, width=3)
    for c, ch in enumerate("30517"):
        digit, _ = written(ch, pen=7, height=80, margin=0)
        img.paste(digit, (c * 110 - 55 - (110 + digit.width) // 2 + 110, 40))
    img = img.rotate(tilt, Image.Resampling.BICUBIC, fillcolor=255)
    assert _text(read(png(img.crop((0, 4, img.width, img.height - 4))))) == "30517"


def test_ruled_lines_above_and_below_a_number_touching_both_keep_its_1s(read: Reader) -> None:
    """The same lines, and two upright 1s written from one to the other: two walls are no comb."""
    img, boxes = written("5007", pen=7, height=120, gap=0.35, margin=30)
    draw = ImageDraw.Draw(img)
    for x, _, w, _ in boxes[1:3]:
        draw.rectangle((x, 0, x + w, img.height), fill=255)  # the 0s go: upright 1s instead
        draw.line([(x + w // 2, 30), (x + w // 2, 150)], fill=20, width=7)
    for y in (30, 150):
        draw.line([(0, y), (img.width, y)], fill=20, width=3)
    assert _text(read(png(img))) == "5117"


def _photographed_then_cut_at_the_ink(split: mnist.Split, height: int, seed: int) -> tuple[bytes, str]:
    """A number of 3-6 test digits photographed on paper with a margin, then cropped to its ink (as
    datasets of digit strings and scans cut them: the ink touches every side); and its text."""
    rng = np.random.default_rng([77, seed])
    picks = rng.choice(len(split.images), int(rng.integers(3, 7)), replace=False)
    img = numbers.compose([split.images[p] for p in picks], bool(rng.random() < 0.3), rng)
    ink = np.asarray(img)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 40), np.flatnonzero(ink.max(axis=0) > 40)
    img = img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    img = img.resize((round(img.width * height / img.height), height), Image.Resampling.BICUBIC)
    margin = 12
    canvas = Image.new("L", (img.width + 2 * margin, img.height + 2 * margin), 0)
    canvas.paste(img, (margin, margin))
    data, _ = uploadlike.photograph(canvas, np.random.default_rng([4, seed]), max_blur=0.8)
    photo = Image.open(io.BytesIO(data)).crop((margin, margin, margin + img.width, margin + img.height))
    return png(photo), "".join(str(int(split.labels[p])) for p in picks)


@pytest.mark.parametrize("seed", [23, 24, 31])
def test_a_number_cut_at_its_ink_reads_as_with_a_margin(read: Reader, mnist_test: mnist.Split, seed: int) -> None:
    """Ink and its edges are a third of such a picture: the paper's noise, estimated over all its
    pixels, came out twice too high and the strokes went under the threshold (these three read
    'no_ink', '1695107' and '789' before; each reads right with a margin either way)."""
    data, text = _photographed_then_cut_at_the_ink(mnist_test, 32, seed)
    assert _text(read(data)) == text


def test_a_group_left_with_faint_ink_only_is_no_option() -> None:
    """Its strong ink was a ruled line's and went with it: /v1/read failed with an IndexError (a 500)
    on a number in a light grey box before the box was taken away."""
    faint = np.zeros((40, 60), np.float32)
    faint[10:30, 20:24] = pieces.LEVEL * 0.8
    assert reading._options(faint, skew.Placement(1.0, 40, 40)) == ()


def test_a_five_with_its_hat_apart_is_one_digit(read: Reader) -> None:
    img = Image.new("L", (400, 260), 255)
    draw = ImageDraw.Draw(img)
    draw.line([(130, 60), (120, 120)], fill=0, width=8)  # the stem
    draw.arc((100, 100, 250, 220), start=-110, end=150, fill=0, width=8)  # the belly
    draw.line([(150, 45), (250, 45)], fill=0, width=8)  # the hat, written apart
    assert _text(read(png(img))) == "5"


def test_a_small_digit_with_broken_strokes_is_a_digit(read: Reader) -> None:
    """A small 7 written in three short strokes, each under half the digits' height, between two
    4s: its pieces are one digit, not fragments of its neighbours."""
    img, boxes = written("404", pen=6, gap=0.6)
    x, y, w, _ = boxes[1]
    draw = ImageDraw.Draw(img)
    draw.rectangle((x - 5, 0, x + w + 5, img.height), fill=255)  # the 0 goes
    mid = x + w / 2
    for stroke in (
        [(x + 10, y + 60), (x + w - 10, y + 60)],  # the bar
        [(x + w - 14, y + 68), (mid + 5, y + 105)],  # the stem, broken twice
        [(mid + 2, y + 114), (mid - 8, y + 155)],
    ):
        draw.line(stroke, fill=20, width=6)
    assert _text(read(png(img))) == "474"


def _leaning(text: str, shear: float) -> tuple[Image.Image, list[tuple[float, float]]]:
    """`text` written close, leaning by `shear` (positive: to the right), and each digit's centre."""
    img, boxes = written(text, pen=6, gap=0.15, margin=120)
    # Each output pixel (x, y) takes the picture's (x + shear * (y - h / 2), y).
    img = img.transform(img.size, Image.Transform.AFFINE, (1, shear, -shear * img.height / 2, 0, 1, 0), fillcolor=255)
    return img, [(x + w / 2 - shear * (y + h / 2 - img.height / 2), y + h / 2) for x, y, w, h in boxes]


def test_slanted_digits_sharing_columns_are_still_two(read: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written with a strong slant, neighbouring digits share columns and make one group; the
    group is read as the two digits it holds (here with the ink not sheared upright first)."""
    monkeypatch.setattr(skew, "slant", lambda *_: 0.0)
    img, _ = _leaning("2026", 0.6)
    segmented = reading.segment(decode.decode(png(img), work_side=reading.READ_SIDE))
    assert len(segmented.groups) < 4  # some digits share a group
    assert _text(read(png(img))) == "2026"


@pytest.mark.parametrize("shear", [-0.5, 0.6])
def test_writing_leaning_far_is_cut_upright_with_its_boxes_on_its_digits(read: Reader, shear: float) -> None:
    """Sheared to lean as MNIST's digits do before it is cut, each digit is a group of its own
    (not so as written: the test above), and each box is back on its digit in the picture."""
    img, centres = _leaning("2026", shear)
    segmented = reading.segment(decode.decode(png(img), work_side=reading.READ_SIDE))
    assert len(segmented.groups) == 4
    digits = read(png(img))
    assert _text(digits) == "2026"
    for d, (cx, cy) in zip(digits, centres, strict=True):
        bx, by, bw, bh = d.box
        assert abs(bx + bw / 2 - cx) < bw / 3 and abs(by + bh / 2 - cy) < bh / 3, (d.box, cx, cy)
        assert bx >= 0 and by >= 0 and bx + bw <= img.width and by + bh <= img.height


@pytest.mark.parametrize(("text", "gap"), [("71", -0.7), ("17", -0.7), ("14", -0.7), ("41", -0.6)])
def test_a_one_written_into_its_neighbour_is_still_two_digits(read: Reader, text: str, gap: float) -> None:
    """A 1 drawn into the digit beside it leaves one piece no wider than a single digit: it is
    still offered as two digits, and the group model, seeing a pair, reads it so."""
    img, _ = written(text, pen=8, gap=gap)
    segmented = reading.segment(decode.decode(png(img), work_side=reading.READ_SIDE))
    assert len(segmented.groups) == 1
    assert any(option.narrow for option in segmented.groups[0])
    assert _text(read(png(img))) == text


def test_a_picture_of_noise_is_bounded_work() -> None:
    """Dense noise is one group of thousands of pieces: it was offered split between every two of
    them (4,373 frames, 105 s for one request). At most MAX_SPLIT_PIECES pieces are split; the
    cuts of one group are bounded by MAX_PARTS and MAX_CUTS."""
    rng = np.random.default_rng(0)
    grey = np.full((768, 1024), 255, np.uint8)
    ys, xs = rng.integers(0, 766, 40_000), rng.integers(0, 1022, 40_000)
    for dy in (0, 1):
        for dx in (0, 1):
            grey[ys + dy, xs + dx] = 0  # 2x2 flecks over ~15 % of the picture
    segmented = reading.segment(decode.decode(png(Image.fromarray(grey)), work_side=reading.READ_SIDE))
    bound = 1 + sum(k * reading.MAX_CUTS for k in range(2, reading.MAX_PARTS + 1))
    assert len(segmented.frames()) <= len(segmented.groups) * bound


def test_many_short_pieces_sharing_columns_are_one_unit() -> None:
    """Five thousand short flecks in a row, each reaching under the next: one small digit's worth
    of broken strokes as far as grouping goes (its right edge is kept, not recomputed per piece)."""
    mask = np.zeros((60, 5 * 5000 + 10), dtype=bool)
    for k in range(5000):  # in two rows, one above the other in turn: each shares 2 columns with the next
        top = 0 if k % 2 else 25
        mask[top : top + 20, 5 * k : 5 * k + 7] = True
    mask[:, -4:-2] = True  # one digit-tall stroke: the digits' height
    labels, box = pieces.pieces(mask)
    assert box.shape[0] - 1 == 5001
    assert sorted(len(g) for g in pieces.groups(labels, box)) == [1, 5000]


def test_more_than_twelve_digits_is_refused(read: Reader) -> None:
    img, _ = written("1234567890123", pen=4)
    with pytest.raises(reading.NotANumber):
        read(png(img))


def test_every_option_is_classified_in_one_batch() -> None:
    """Touching digits are kept as several options; frames() stacks every one of them."""
    img, _ = written("00", pen=8, gap=-0.4)  # the 0s are narrower than their cells: they touch
    segmented = reading.segment(decode.decode(png(img), work_side=reading.READ_SIDE))
    options = [o for group in segmented.groups for o in group]
    assert any(len(o.frames) == 2 for o in options)
    assert segmented.frames().shape == (sum(len(o.frames) for o in options), 28, 28)


def test_blank_picture_is_no_ink() -> None:
    with pytest.raises(inks.BlankImage):
        reading.segment(decode.decode(png(Image.new("L", (300, 100), 255)), work_side=reading.READ_SIDE))


def test_choose_keeps_the_surest_option() -> None:
    frame = np.zeros((28, 28), np.uint8)
    one = reading.Option((frame,), ((0, 0, 20, 20),))
    two = reading.Option((frame, frame), ((0, 0, 10, 20), (10, 0, 10, 20)))
    segmented = reading.Segmented(((one, two),), 20, 20, "PNG", "L", False)
    sure, unsure = np.eye(10)[[8]] * 0.98 + 0.002, np.full((1, 10), 0.1)
    # As one digit: an 8 at 0.98; as two: a 3 and a 5 at 0.9 each -> the single 8 wins ...
    pair = np.eye(10)[[3, 5]] * 0.9 + 0.01
    assert _text(segmented.choose(np.concatenate([sure, pair]))) == "8"
    # ... unless the whole reads poorly: then the two sure halves win.
    assert _text(segmented.choose(np.concatenate([unsure, pair]))) == "35"


def _group(classes: GroupClasses, answers: dict[str, float]) -> np.ndarray:
    """A group model's answer for one group: these labels at these probabilities, the rest even."""
    out = np.full(len(groups.LABELS), (1.0 - sum(answers.values())) / (len(groups.LABELS) - len(answers)))
    for label, p in answers.items():
        out[groups.LABELS.index(label)] = p
    return out[None, :]


def test_the_group_model_weighs_in(group_model: GroupModel) -> None:
    """A touching '35' whose halves the digit model reads poorly: the group model's pair wins over
    a confident single 8; and where the group model sees one digit, sure halves do not split it."""
    frame = np.zeros((28, 28), np.uint8)
    one = reading.Option((frame,), ((0, 0, 20, 20),))
    two = reading.Option((frame, frame), ((0, 0, 10, 20), (10, 0, 10, 20)))
    segmented = reading.Segmented(((one, two),), 20, 20, "PNG", "L", False)
    classes = group_model.classes
    sure_eight = np.eye(10)[[8]] * 0.98 + 0.002
    poor_halves = np.eye(10)[[3, 5]] * 0.4 + 0.06  # 3 and 5 at 0.46, the rest 0.06
    probs = np.concatenate([sure_eight, poor_halves])
    assert _text(segmented.choose(probs)) == "8"  # the digit model alone
    digits = segmented.choose(probs, _group(classes, {"35": 0.9, "8": 0.05}), classes)
    assert _text(digits) == "35"
    assert all(d.confidence > 0.5 for d in digits)  # the pair's confidence, not the halves'
    sure_halves = np.eye(10)[[3, 5]] * 0.9 + 0.01
    probs = np.concatenate([sure_eight, sure_halves])
    assert _text(segmented.choose(probs, _group(classes, {"8": 0.95}), classes)) == "8"
    assert _text(segmented.choose(probs, _group(classes, {"35": 0.95}), classes)) == "35"


def test_narrow_pairs_count_only_where_the_group_model_sees_a_pair(group_model: GroupModel) -> None:
    """Two parts cut from a group too narrow for two digits are weighed only when the group
    model finds a pair likelier than a single digit."""
    frame = np.zeros((28, 28), np.uint8)
    one = reading.Option((frame,), ((0, 0, 20, 20),))
    two = reading.Option((frame, frame), ((0, 0, 10, 20), (10, 0, 10, 20)), narrow=True)
    segmented = reading.Segmented(((one, two),), 20, 20, "PNG", "L", False)
    classes = group_model.classes
    # The whole reads poorly as a 1, the halves surely as 1 and 7: a wide pair would win alone.
    probs = np.concatenate([np.eye(10)[[1]] * 0.4 + 0.06, np.eye(10)[[1, 7]] * 0.9 + 0.01])
    assert _text(segmented.choose(probs)) == "1"  # no group model: no narrow pair
    assert _text(segmented.choose(probs, _group(classes, {"1": 0.6, "17": 0.3}), classes)) == "1"
    assert _text(segmented.choose(probs, _group(classes, {"1": 0.3, "17": 0.6}), classes)) == "17"


def test_whole_frames_are_there_unless_segmented_without_them() -> None:
    img, _ = written("37", pen=6)
    decoded = decode.decode(png(img), work_side=reading.READ_SIDE)
    assert reading.segment(decoded).whole_frames().shape == (2, *groups.SHAPE)
    with pytest.raises(ValueError, match="without whole groups"):
        reading.segment(decoded, whole=False).whole_frames()


def test_a_number_under_a_shadow_reads(read: Reader, mnist_test: mnist.Split, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card's shadowed numbers (a shadow across the page, as the upload-like `shadow` family
    has it; 126 of 2-8 digits): measured 108 read. A shade in doubt (a wedge, a shadow as dark as
    the pen) is taken as a shadow when a number is read: 7 were in doubt, 6 of them read, none with
    the doubt left in as ink."""
    served = shade.relit
    doubts: list[bool] = []

    def relit(grey: np.ndarray) -> shade.Relit | None:
        lit = served(grey)
        doubts.append(lit is not None and not lit.sure)
        return lit

    monkeypatch.setattr(shade, "relit", relit)
    made, in_doubt, right = numbers.generate_shadowed(mnist_test, 9), [], 0
    for n in made:
        doubts.clear()
        ok = _text(read(n.data)) == n.text
        right += ok
        if any(doubts):
            in_doubt.append((n, ok))
    assert right >= 104 and len(in_doubt) >= 5
    assert sum(ok for _, ok in in_doubt) >= len(in_doubt) - 1
    monkeypatch.setattr(shade, "_in_doubt", lambda *_: False)
    assert sum(_text(read(n.data)) == n.text for n, _ in in_doubt) <= 1


def test_a_number_on_a_slip_of_paper_on_a_desk_reads(
    read: Reader, mnist_test: mnist.Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's numbers on a slip (a sheet 3-25 % of the picture on a darker desk): the slip is
    a sheet in doubt, and with fine writing on it /v1/read takes it (the desk was ink, and the
    whole slip one group). Two a cell (28 numbers of 2-8 digits): measured 28 read, none with the
    doubt left out."""
    made = numbers.generate_on_slips(mnist_test, 2)

    def hits() -> int:
        right = 0
        for n in made:
            with contextlib.suppress(ServiceError):  # the desk as ink: "more than 12 digits"
                right += _text(read(n.data)) == n.text
        return right

    assert hits() >= 26
    monkeypatch.setattr(paper, "_in_doubt", lambda *_: False)
    assert hits() <= 2


@pytest.mark.parametrize("text", ["0", "8", "60"])
def test_a_bold_light_number_is_no_slip(read: Reader, text: str) -> None:
    """Light strokes so bold that a digit with its holes fills its box like a slip: its holes are
    no fine writing, so /v1/read, which reads one way only, does not take it for a sheet."""
    img, _ = written(text, pen=30, margin=30, paper=255, ink=0)
    assert _text(read(png(ImageChops.invert(img)))) == text


def test_a_number_circled_by_hand_reads(read: Reader, mnist_test: mnist.Split, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card's ringed numbers (an ellipse round the number, closed or left open): the ring was
    one more group of ink, read as a 0 or joined to the digits it passed. Two a cell (28 numbers
    of 2-8 digits): measured 26 read, none with the ring step off."""
    made = numbers.generate_ringed(mnist_test, 2)

    def hits() -> int:
        return sum(_text(read(n.data)) == n.text for n in made)

    assert hits() >= 24
    monkeypatch.setattr(rings, "without_ring", lambda ink: ink)
    assert hits() <= 3
