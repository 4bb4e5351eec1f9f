"""A picture framed several ways is read every way in one batch; a reading in doubt stands only
when clearly surer than the plain one."""

from __future__ import annotations

import numpy as np

from service.core import surer
from service.core.framing import Prepared


def _prepared(value: int, *alternatives: int) -> Prepared:
    alts = tuple(np.full((28, 28), a, np.uint8) for a in alternatives)
    return Prepared(np.full((28, 28), value, np.uint8), 300, 200, "PNG", "L", True, True, alternatives=alts)


def _probs(digit: int, confidence: float) -> np.ndarray:
    row = np.full(10, (1.0 - confidence) / 9, np.float32)
    row[digit] = confidence
    return row


def test_the_alternatives_follow_every_picture_in_order() -> None:
    batch = surer.frames([_prepared(1, 11, 12), _prepared(2), _prepared(3, 33)])
    assert batch.shape == (6, 28, 28)
    assert batch[:, 0, 0].tolist() == [1, 2, 3, 11, 12, 33]


def test_each_picture_keeps_its_surest_reading() -> None:
    prepared = [_prepared(1, 11, 12), _prepared(2), _prepared(3, 33)]
    rows = [(4, 0.6), (5, 0.9), (6, 0.9), (7, 0.8), (8, 0.99), (9, 0.97)]
    got = surer.chosen(prepared, np.stack([_probs(d, c) for d, c in rows]))
    assert [int(p.argmax()) for _, p in got] == [8, 5, 9]
    assert [int(f.pixels[0, 0]) for f, _ in got] == [12, 2, 33]  # the frame behind each answer
    assert all(f.alternatives == () for f, _ in got)
    assert got[1][0] is prepared[1]  # a picture framed one way is passed on as it is


def test_a_reading_in_doubt_must_be_clearly_surer() -> None:
    """A 2 whose base was taken for an underline read 7 at 0.976 against 2 at 0.974."""
    near = 0.974 + surer.MARGIN * 0.9
    [(frame, probs)] = surer.chosen([_prepared(1, 11)], np.stack([_probs(2, 0.974), _probs(7, near)]))
    assert int(frame.pixels[0, 0]) == 1 and int(probs.argmax()) == 2
    clear = 0.9 + surer.MARGIN * 1.1
    [(frame, probs)] = surer.chosen([_prepared(1, 11)], np.stack([_probs(2, 0.9), _probs(7, clear)]))
    assert int(frame.pixels[0, 0]) == 11 and int(probs.argmax()) == 7
