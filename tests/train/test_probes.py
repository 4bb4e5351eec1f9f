"""The framing probes (`mnist-probes`): each set is what it says, and reads as the README says."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from service.core.model import OnnxModel
from train import crops, mnist, probes


def test_cut_digits_touch_every_side_and_read(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    for data, _ in probes.cut(mnist_test, 5, 0, True):
        grey = np.asarray(Image.open(io.BytesIO(data)), np.float32)
        ink = grey < 200  # paper is 230; the cut is where MNIST's level passes 60 of 255
        assert all(side.any() for side in (ink[0], ink[-1], ink[:, 0], ink[:, -1]))
    right, refused, total = probes.read(digit_model, probes.cut(mnist_test, 50, 0, False))
    assert (total, refused) == (50, 0) and right >= 48


def test_colour_pairs_are_as_bright_and_read(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    for data, _ in probes.colour(mnist_test, 5):
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
        luma = rgb @ probes.LUMA
        assert np.percentile(luma, 99) - np.percentile(luma, 1) < 40
    right, _, total = probes.read(digit_model, probes.colour(mnist_test, 30))
    assert total == 30 and right >= 28


def test_flat_colours_are_all_refused(digit_model: OnnxModel) -> None:
    assert probes.read(digit_model, probes.flat(30)) == (30, 30, 30)


def test_a_step_switched_off_is_off_inside_the_block_only(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    """`--without lines`: the squared-paper digits of the ruled family read worse without the
    step that takes the lines out, and the service is as served again after the block, even one
    left by an exception."""
    from service.core import lines
    from train import ablations, uploadlike

    served = lines.across
    files = [(data, label) for _, data, label in uploadlike.generate(mnist_test, families=("ruled",))[:60]]
    right, _, _ = probes.read(digit_model, iter(files))
    with ablations.without("lines"):
        assert lines.across is not served
        off, _, _ = probes.read(digit_model, iter(files))
    assert lines.across is served
    assert right >= 57 and off <= right - 20, (right, off)
    try:
        with ablations.without("desk"):
            raise RuntimeError
    except RuntimeError:
        pass
    steps = ablations.STEPS.values()
    assert all(getattr(ablations.served_module(module), name) is not stand_in for module, name, stand_in, _ in steps)


def test_every_step_names_a_function_the_service_has() -> None:
    from train import ablations

    for module, name, _, _ in ablations.STEPS.values():
        assert callable(getattr(ablations.served_module(module), name)), name


def test_digits_and_numbers_in_other_hands_read(digit_model: OnnxModel) -> None:
    """Debian's handwriting fonts (22 faces, scripts/setup-system installs them): every digit of
    every face once, clean or photographed, and two 4-digit numbers a face (one separated, drawn
    with a mouse; one touching, photographed) — digits from writers MNIST never had."""
    from train import figures, handfonts

    pictures = list(handfonts.digits(1))
    assert len({name for _, _, name in pictures}) == 22
    answers, _ = figures._answers(digit_model, [data for data, _, _ in pictures])
    assert int(np.sum(answers == np.array([d for _, d, _ in pictures]))) >= 214  # 219 of 220 measured
    whole = figures._group_model()
    read = [figures.read_number(digit_model, data, whole) == text for data, text, _, _ in handfonts.number_pictures(2)]
    assert len(read) == 44 and sum(read) >= 40  # 43 measured


def test_crops_show_what_they_say_and_read(mnist_test: mnist.Split, digit_model: OnnxModel) -> None:
    """`mnist-probes crops`: a scan's dark border runs along a whole side; a neighbour's ink reaches
    the picture's outer tenth, where the digit's frame never is; a line lies under the digit. Each reads (the
    README's figures: 300, 299, 272 and 292 of 300; the ringed ones' shapes: test_rings.py)."""
    for data, _ in crops.scanner(mnist_test, 5):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        assert min(float(np.median(side)) for side in (grey[0], grey[-1], grey[:, 0], grey[:, -1])) < 80
    shown = 0
    for data, _ in crops.neighbours(mnist_test, 10):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        outer = np.ones(grey.shape, bool)
        tenth = grey.shape[0] // 10
        outer[tenth:-tenth, tenth:-tenth] = False  # the digit's frame is 0.8 of the picture at most
        shown += int(np.any(grey[outer] < 120))
    assert shown >= 6  # 7 of 10: a neighbour can show no more than its frame's margin
    for data, _ in crops.underlined(mnist_test, 5):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        dark_rows = np.flatnonzero((grey < 120).mean(axis=1) > 0.2)
        assert dark_rows.size and dark_rows.max() > 0.65 * grey.shape[0]  # the line, at 0.67-0.92 down
    for make, least in ((crops.scanner, 39), (crops.neighbours, 39), (crops.underlined, 31), (crops.ringed, 38)):
        right, refused, total = probes.read(digit_model, make(mnist_test, 40))
        assert (total, refused) == (40, 0) and right >= least, make.__name__
