"""The generated evaluation sets: deterministic, labelled by name, each family what it says."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from service.core import decode, framing, inks, strokes
from train import hands, mnist, nondigits, numbers, uploadlike


def test_every_family_is_deterministic_and_labelled(mnist_test: mnist.Split) -> None:
    first = uploadlike.generate(mnist_test, 20, families=uploadlike.ALL_FAMILIES)
    again = uploadlike.generate(mnist_test, 20, families=uploadlike.ALL_FAMILIES)
    assert [(n, d) for n, d, _ in first] == [(n, d) for n, d, _ in again]
    by_family = {uploadlike.family_of(n) for n, _, _ in first}
    assert by_family == set(uploadlike.ALL_FAMILIES)
    for name, _, label in first:
        assert name.startswith(f"{label}_")
        if uploadlike.family_of(name) == "european-1":
            assert label == 1
        if uploadlike.family_of(name) == "crossed-7":
            assert label == 7
        if uploadlike.family_of(name) in ("closed-4", "open-9"):
            # The source digit (its test index is in the name) is written in the family's form.
            source = mnist_test.images[int(name.rsplit("_t", 1)[1].split(".")[0])]
            assert (label, hands.holes(source)) in ((4, 1), (9, 0))
    # Adding families changes nothing of the photo family (its own random stream).
    photos = uploadlike.generate(mnist_test, 20)
    assert [d for _, d, _ in photos] == [d for n, d, _ in first if uploadlike.family_of(n) == "photo"]


def test_ruled_paper_runs_lines_across_the_whole_picture(mnist_test: mnist.Split) -> None:
    """Each picture of the ruled family has ink in (nearly) every column or every row: the paper's
    lines, edge to edge; the digit alone covers far less (the photo family's do not)."""

    def spans(data: bytes) -> bool:
        lit = inks.ink_of(decode.decode(data))[0].values > 0.05
        return bool(lit.any(axis=0).mean() > 0.9 or lit.any(axis=1).mean() > 0.9)

    assert all(spans(data) for _, data, _ in uploadlike.generate(mnist_test, 50, families=("ruled",)))
    assert not any(spans(data) for _, data, _ in uploadlike.generate(mnist_test, 15))


def test_the_cut_family_is_cut_at_the_ink(mnist_test: mnist.Split) -> None:
    """The digit's ink comes within a few percent of every side of its picture (the photo
    family's leave a quarter or more on some side), and both polarities come up."""

    def margins(data: bytes) -> tuple[float, bool]:
        ink = inks.ink_of(decode.decode(data))[0]
        lit = ink.values > 0.2
        rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
        h, w = lit.shape
        return max(rows[0] / h, 1 - (rows[-1] + 1) / h, cols[0] / w, 1 - (cols[-1] + 1) / w), ink.inverted

    cut = [margins(data) for _, data, _ in uploadlike.generate(mnist_test, 250, families=("cut",))]
    # Soft edges and the service's ink threshold leave a few percent (up to 0.11 of 50; one thin 1
    # loses its faint side).
    assert np.quantile([m for m, _ in cut], 0.95) < 0.1
    assert {inverted for _, inverted in cut} == {True, False}
    assert min(margins(data)[0] for _, data, _ in uploadlike.generate(mnist_test, 15)) > 0.2


def test_the_shadow_family_has_a_shade_and_a_lit_paper_each_reaching_the_border(mnist_test: mnist.Split) -> None:
    """Every picture's paper lies in two levels, a shade 30-70 % of the lit paper, both along the
    picture's border (the photo family's smooth light falls by 30 % at most)."""
    for _, data, _ in uploadlike.generate(mnist_test, 100, families=("shadow",)):
        grey = inks.to_grey(Image.open(io.BytesIO(data)))
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        dim, bright = np.quantile(border, (0.05, 0.95))
        assert dim < 0.8 * bright, (dim, bright)


def test_a_desk_shows_along_a_side_of_every_desk_photo(mnist_test: mnist.Split) -> None:
    """The sheet lies over the picture's centre (it is at least 2/3 of each side; the digit may
    too: its paper is the brightest there); the desk, darker, shows all along one side at least."""
    for _, data, _ in uploadlike.generate(mnist_test, 50, families=("desk",)):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        h, w = grey.shape
        centre = grey[h // 2 - h // 10 : h // 2 + h // 10 + 1, w // 2 - w // 10 : w // 2 + w // 10 + 1]
        paper = np.percentile(centre, 90)
        assert max(float(np.mean(side < paper - 30)) for side in (grey[0], grey[-1], grey[:, 0], grey[:, -1])) > 0.95


def test_a_printed_box_surrounds_the_digit_with_a_gap_on_every_side(mnist_test: mnist.Split) -> None:
    """The mask's outermost rows and columns are the box's four whole sides; just inside them (past
    the widest line, 6 % of the ink's height) nothing until the digit (at least 8 % away)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        drawn = uploadlike.bicubic(mnist_test.images[int(rng.integers(0, 10000))], 120, rng)
        ink_px = np.ptp(np.flatnonzero(np.asarray(drawn).any(axis=1))) + 1
        mask = np.asarray(uploadlike.in_box(drawn, rng)) > 0
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
        sides = (mask[top, left:right], mask[bottom, left:right], mask[top:bottom, left], mask[top:bottom, right])
        assert all(side.mean() > 0.95 for side in sides)
        inset = round(0.06 * ink_px)  # the first row past the widest line
        inside = mask[top + inset : bottom - inset + 1, left + inset : right - inset + 1]
        assert not inside[0].any() and not inside[-1].any() and not inside[:, 0].any() and not inside[:, -1].any()
        assert inside.any()  # the digit


def test_a_comb_of_boxes_has_a_wall_between_every_two_cells(mnist_test: mnist.Split) -> None:
    """Its vertical lines (two sides and a wall between cells) are the mask's tallest columns."""
    rng = np.random.default_rng(4)
    for cells in (3, 5, 7):
        mask = np.asarray(uploadlike.in_comb([mnist_test.images[0]], rng, cells=cells)) > 0
        tall = mask.sum(axis=0) >= 0.75 * mask.sum(axis=0).max()
        assert np.count_nonzero(np.diff(np.r_[False, tall].astype(np.int8)) == 1) == cells + 1


def test_mouse_drawings_are_thin_lines_on_large_canvases(mnist_test: mnist.Split) -> None:
    files = uploadlike.generate(mnist_test, 50, families=("mouse",))
    for _, data, _ in files:
        img = Image.open(io.BytesIO(data))
        assert 100 <= img.width <= 600 and img.format == "PNG"
        grey = np.asarray(img.convert("L"), np.float32) / 255.0
        ink = grey if np.median(grey) < 0.5 else 1.0 - grey
        # A 1-2 px pen (3 px where the skeleton is thickened), and under 5 % of the canvas.
        assert strokes.stroke_width(ink) <= 3.0 and np.mean(ink > 0.5) < 0.05


def test_hands_change_the_digit_as_a_hand_would(mnist_test: mnist.Split) -> None:
    rng = np.random.default_rng(0)
    one = mnist_test.images[int(np.flatnonzero(mnist_test.labels == 1)[0])]
    flagged = hands.european_one(one, rng, foot=True)
    framed_one = framing.frame(one.astype(np.float32) / 255.0)
    # The flag and the foot make the 1 wider than the bare stroke.
    assert np.count_nonzero(flagged.max(axis=0) > 64) > np.count_nonzero(framed_one.max(axis=0) > 64)
    # Any pen arrives at the model as the service's stroke normalisation leaves it: MNIST's range.
    widths = [hands.stroke_width(hands.pen(mnist_test.images[0], w)) for w in (0.7, 2.0, 6.0)]
    assert all(strokes.STROKE_THIN - 0.3 <= w <= strokes.STROKE_THICK + 0.3 for w in widths), widths


def test_numbers_carry_their_truth_in_their_names(mnist_test: mnist.Split) -> None:
    sample = numbers.generate(mnist_test, per_cell=1)
    assert len(sample) == len(numbers.LENGTHS) * len(numbers.KINDS)
    for n in sample:
        assert numbers.truth_of(n.filename) == (n.text, n.kind)
        assert len(n.text) in numbers.LENGTHS and Image.open(io.BytesIO(n.data)).width > 0
    assert [n.data for n in numbers.generate(mnist_test, per_cell=1)] == [n.data for n in sample]


def test_non_digits_are_letters_and_scribbles() -> None:
    sample = nondigits.generate(6)
    assert [name.split("_")[0] for name, _ in sample] == ["letter", "scribble"] * 3
    assert all(Image.open(io.BytesIO(data)).width >= 120 for _, data in sample)


def test_holes_tell_closed_forms_from_open_ones() -> None:
    ring, hook = Image.new("L", (28, 28)), Image.new("L", (28, 28))
    ImageDraw.Draw(ring).ellipse((6, 4, 22, 18), outline=255, width=3)  # a closed loop (a 9's head)
    ImageDraw.Draw(hook).arc((6, 4, 22, 18), start=200, end=460, fill=255, width=3)  # open: a 100-degree gap
    assert hands.holes(np.asarray(ring)) == 1
    assert hands.holes(np.asarray(hook)) == 0
    eight = Image.new("L", (28, 28))
    ImageDraw.Draw(eight).ellipse((8, 2, 20, 13), outline=255, width=2)
    ImageDraw.Draw(eight).ellipse((7, 13, 21, 26), outline=255, width=2)
    assert hands.holes(np.asarray(eight)) == 2


def test_ruled_numbers_carry_their_truth_and_their_lines_run_edge_to_edge(mnist_test: mnist.Split) -> None:
    sample = numbers.generate_ruled(mnist_test, per_cell=2)
    assert {n.family for n in sample} == set(numbers.RULED)
    assert [n.data for n in numbers.generate_ruled(mnist_test, per_cell=2)] == [n.data for n in sample]
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    rng = np.random.default_rng(0)
    for style, count in (("baseline", 1), ("lined", 3), ("strike", 1)):
        mask = Image.new("L", (600, 300), 0)
        numbers.rule(mask, (100, 100, 400, 100), style, rng)
        ink = np.asarray(mask) > 0
        for column in (ink[:, 0], ink[:, -1]):  # each line from edge to edge
            assert np.count_nonzero(np.diff(column.astype(np.int8)) == 1) == count, style
        middle = np.flatnonzero(ink[:, 300])
        assert {
            "baseline": 180 <= middle.min() <= 200,
            "lined": middle.min() < 100 < 180 < middle.max(),
            "strike": 140 <= middle.min() <= 160,
        }[style], (style, middle)


def test_numbers_on_squared_paper_carry_their_truth_and_a_grid_both_ways(mnist_test: mnist.Split) -> None:
    sample = numbers.generate_squared(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"squared"} and len(sample) == 2 * len(numbers.LENGTHS)
    assert [n.data for n in numbers.generate_squared(mnist_test, per_cell=1)] == [n.data for n in sample]
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    # The grid itself: lines edge to edge both ways, 0.45-0.7 of the digits' height apart.
    grid = np.asarray(uploadlike.rule_paper(Image.new("L", (600, 400), 0), 100.0, np.random.default_rng(1), "squared"))
    for profile, side in ((grid.mean(axis=1), 400), (grid.mean(axis=0), 600)):
        starts = np.flatnonzero(np.diff((profile > 0.5 * profile.max()).astype(np.int8)) == 1)
        assert side / 70 - 2 <= starts.size <= side / 45 + 2, starts


def test_numbers_with_separators_have_marks_between_their_digits(mnist_test: mnist.Split) -> None:
    sample = numbers.generate_separators(mnist_test, per_cell=1)
    assert {n.family for n in sample} == set(numbers.SEPARATORS)
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    assert [n.data for n in numbers.generate_separators(mnist_test, per_cell=1)] == [n.data for n in sample]
    rng = np.random.default_rng(0)
    digits = [mnist_test.images[i] for i in range(5)]
    for style in numbers.SEPARATORS:
        ink = np.asarray(numbers.separated_by(digits, style, rng)) > 127
        # 12.345: six pieces side by side, the mark apart from the digits, low in their band.
        columns = np.flatnonzero(ink.any(axis=0))
        runs = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
        assert len(runs) == 6, style
        rows = np.flatnonzero(ink.any(axis=1))
        mark_rows = np.flatnonzero(ink[:, runs[2][0] : runs[2][-1] + 1].any(axis=1))
        assert mark_rows.min() > rows.min() + 0.3 * (rows.max() - rows.min()), style
        assert len(mark_rows) < 0.5 * len(rows), style


def test_a_cut_comb_runs_off_both_sides_of_the_picture(mnist_test: mnist.Split) -> None:
    digits = [mnist_test.images[i] for i in range(5)]
    whole = np.asarray(uploadlike.in_comb(digits, np.random.default_rng(3))) > 60
    cut = np.asarray(uploadlike.in_comb(digits, np.random.default_rng(3), cut=True)) > 60
    assert cut.shape[1] < whole.shape[1]
    # The comb's top and bottom lines reach both edges of the cut picture, not of the whole one.
    assert cut[:, 0].sum() >= 2 and cut[:, -1].sum() >= 2
    assert not whole[:, 0].any() and not whole[:, -1].any()
    sample = numbers.generate_cut_combs(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"cut-comb"}
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)


def test_slanted_numbers_lean_far_and_keep_all_their_ink(mnist_test: mnist.Split) -> None:
    sample = numbers.generate_slanted(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"slanted"}
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    assert [n.data for n in numbers.generate_slanted(mnist_test, per_cell=1)] == [n.data for n in sample]
    digits = [mnist_test.images[i] for i in (1, 2, 3, 4)]  # 2, 1, 0, 4
    upright = np.asarray(numbers.compose(digits, False, np.random.default_rng(5), lean=0.0)) > 127
    for lean in (-0.6, 0.6):
        leaning = np.asarray(numbers.compose(digits, False, np.random.default_rng(5), lean=lean)) > 127
        # The canvas grows to hold the lean: no ink is cut off at its sides.
        assert not leaning[:, 0].any() and not leaning[:, -1].any()
        assert abs(int(leaning.sum()) - int(upright.sum())) < 0.1 * upright.sum()
        # Leaning right (a positive shear), x falls as the rows go down: the ink's moments say
        # so, by the lean (the digits' own lean is the upright picture's).
        assert _shear(leaning) - _shear(upright) == pytest.approx(-lean, abs=0.1)


def _shear(ink: np.ndarray) -> float:
    ys, xs = np.nonzero(ink)
    return float(np.cov(xs, ys)[0, 1] / np.var(ys, ddof=1))


def test_ringed_numbers_have_a_ring_clear_of_the_number_and_round_it(mnist_test: mnist.Split) -> None:
    sample = numbers.generate_ringed(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"ringed"} and len(sample) == 2 * len(numbers.LENGTHS)
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    assert [n.data for n in numbers.generate_ringed(mnist_test, per_cell=1)] == [n.data for n in sample]
    drawn = numbers.compose([mnist_test.images[i] for i in range(4)], False, np.random.default_rng(2))
    for seed in range(6):
        mask = np.asarray(numbers.ringed(drawn, np.random.default_rng(seed))) > 127
        height, width = mask.shape
        top, left = (height - drawn.height) // 2, (width - drawn.width) // 2
        ink = np.zeros_like(mask)
        ink[top : top + drawn.height, left : left + drawn.width] = np.asarray(drawn) > 127
        near = ndimage.binary_dilation(ink, iterations=3)
        ring = mask & ~near
        # The number is there as it was, and the ring passes clear of its ink, on every side of it.
        assert np.array_equal(mask & ink, ink) and not (mask & near & ~ink).any(), seed
        ink_rows, ink_cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        rows, cols = np.flatnonzero(ring.any(axis=1)), np.flatnonzero(ring.any(axis=0))
        assert rows.min() < ink_rows.min() and rows.max() > ink_rows.max(), seed
        assert cols.min() < ink_cols.min() and cols.max() > ink_cols.max(), seed


def test_shadowed_numbers_have_a_shade_and_a_lit_paper_along_the_border(mnist_test: mnist.Split) -> None:
    """A set of its own (its own random stream, the same each time), every number photographed with
    a shadow across the page: its border's paper lies in two levels, as the `shadow` family's."""
    sample = numbers.generate_shadowed(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"shadowed"} and len(sample) == 2 * len(numbers.LENGTHS)
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    assert [n.data for n in numbers.generate_shadowed(mnist_test, per_cell=1)] == [n.data for n in sample]
    for n in sample:
        grey = inks.to_grey(Image.open(io.BytesIO(n.data)))
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        dim, bright = np.quantile(border, (0.05, 0.95))
        assert dim < 0.8 * bright, (n.filename, dim, bright)


def test_underlined_numbers_have_a_line_under_all_their_digits(mnist_test: mnist.Split) -> None:
    """A set of its own, the same each time; the line runs under the whole number, at its foot
    (touching it) or a little below, never through the digits."""
    sample = numbers.generate_underlined(mnist_test, per_cell=1)
    assert {n.family for n in sample} == {"underlined"} and len(sample) == 2 * len(numbers.LENGTHS)
    assert all(numbers.truth_of(n.filename) == (n.text, n.kind) for n in sample)
    assert [n.data for n in numbers.generate_underlined(mnist_test, per_cell=1)] == [n.data for n in sample]
    drawn = numbers.compose([mnist_test.images[i] for i in range(3)], False, np.random.default_rng(2))
    ink = np.asarray(drawn) > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    for seed in range(8):
        mask = Image.new("L", (drawn.width + 200, drawn.height + 200), 0)
        mask.paste(drawn, (100, 100))
        numbers.underline(mask, (100, 100), drawn, np.random.default_rng(seed))
        line = (np.asarray(mask) > 127) & ~np.pad(ink, 100)
        line_rows, line_cols = np.flatnonzero(line.any(axis=1)), np.flatnonzero(line.any(axis=0))
        assert line_rows.min() >= 100 + rows[-1] - 0.1 * (rows[-1] - rows[0]), seed  # at the foot or below
        assert line_cols.min() <= 100 + cols[0] and line_cols.max() >= 100 + cols[-1], seed  # under all of it


def test_a_slip_photo_shows_a_small_sheet_on_a_darker_desk_all_round(mnist_test: mnist.Split) -> None:
    """The desk, darker than the slip, lines the whole border; the slip (with the digit on it) is
    3-25 % of the picture (its bright paper a little less: the writing and the rim)."""
    for _, data, _ in uploadlike.generate(mnist_test, 100, families=("slip",)):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        paper = np.percentile(grey, 99)
        assert np.mean(border < paper - 30) > 0.99
        share = float(np.mean(grey > (np.median(border) + paper) / 2))
        assert 0.015 < share < 0.25, share
