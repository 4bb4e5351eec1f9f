"""Training digits drawn as pictures and framed by the service (train/served.py)."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import framing
from service.errors import ServiceError
from train import mnist, served, uploadlike


@pytest.mark.slow
def test_served_frames_are_the_same_whatever_the_number_of_processes(mnist_test: mnist.Split) -> None:
    images, labels = mnist_test.images[:550], mnist_test.labels[:550]  # 1 % of the full counts
    alone = served.frames(images, labels, 3, processes=1)
    pooled = served.frames(images, labels, 3, processes=2)
    assert np.array_equal(alone[0], pooled[0])
    assert np.array_equal(alone[1], pooled[1])
    frames, kept = alone
    wanted = sum(max(1, round(full * 0.01)) for full in served.SERVED_FAMILIES.values())
    assert frames.shape[1:] == (28, 28) and frames.dtype == np.uint8
    assert 0.95 * wanted <= len(frames) == len(kept) <= wanted
    assert set(kept) <= set(labels.tolist())


def test_each_served_frame_is_what_the_service_makes_of_the_picture(mnist_test: mnist.Split) -> None:
    """A chunk's frames are `framing.prepare` of the family's pictures drawn in its random stream,
    each labelled with its source digit (one label here: a chunk of 7s)."""
    sevens = np.flatnonzero(mnist_test.labels == 7)[:6]
    digits, labels = mnist_test.images[sevens], mnist_test.labels[sevens]
    made, kept = served._chunk((digits, labels, "mouse", [1, 2, 3]))
    rng = np.random.default_rng([1, 2, 3])
    expected = []
    for digit in digits:
        data, _ = uploadlike.render_mouse(digit, rng)
        try:
            expected.append(framing.prepare(data).pixels)
        except ServiceError:
            continue
    assert len(made) == len(expected) > 0 and kept == [7] * len(made)
    assert all(np.array_equal(a, b) for a, b in zip(made, expected, strict=True))
    # Drawn by a mouse, not MNIST's scan: no frame is the digit's own.
    scanned = [framing.frame(d.astype(np.float32) / 255.0) for d in digits]
    assert not any(np.array_equal(frame, own) for frame, own in zip(made, scanned, strict=False))
