"""Ruled lines out of a number's ink: taken where they run far longer than the digits are tall,
never from a number without them."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import decode, framing, lines, pieces, reading, strokes
from tests.handwriting import png, written


def _mask(data: bytes) -> np.ndarray:
    found, _ = framing.ink_of(decode.decode(data, work_side=reading.READ_SIDE), reading.READ_SIDE)
    return pieces.ink_mask(strokes.without_specks(found.values), reading.LEVEL)


@pytest.mark.parametrize(("text", "pen", "gap"), [("7", 8, 0.3), ("2727", 6, 0.1), ("5412", 3, -0.05), ("77", 12, 0.0)])
def test_a_number_without_lines_is_left_as_it_is(text: str, pen: int, gap: float) -> None:
    """Long bars and bases (a 7, a 2), touching and overlapping digits: no line is that long."""
    mask = _mask(png(written(text, pen=pen, gap=gap)[0]))
    labels, box = pieces.pieces(mask)
    assert lines.without_lines(mask, labels, box)[0] is labels


def test_a_line_goes_and_the_strokes_crossing_it_stay_whole() -> None:
    mask = np.zeros((200, 700), dtype=bool)
    mask[98:102, :] = True  # the line, edge to edge
    for left in range(60, 700, 120):
        mask[40:160, left : left + 6] = True  # strokes crossing it, 120 px tall
    labels, box = lines.without_lines(mask, *pieces.pieces(mask))
    kept = labels > 0
    assert box.shape[0] - 1 == 6  # the six strokes, each whole again
    assert all(tuple(int(v) for v in b) == (40, b[1], 159, b[1] + 5) for b in box[1:])
    assert not kept[98:102, :50].any() and not kept[98:102, 70:170].any()  # the line between them went
