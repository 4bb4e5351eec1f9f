"""Grey levels: which way the ink is, around the paper's own lighting."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import levels


def _page(ink: float) -> np.ndarray:
    """A page lit from the left (grey 0.55 to 0.85) with a thin diagonal line `ink` away from it."""
    h, w = 240, 320
    grey = np.tile(np.linspace(0.55, 0.85, w, dtype=np.float32), (h, 1))
    for k in range(150):  # 150 px of line: 0.2 % of the page
        grey[40 + k, 80 + k // 2] += ink
    return grey


@pytest.mark.parametrize(("ink", "dark"), [(-0.2, True), (0.12, False)])
def test_sparse_ink_is_judged_against_the_lighting(ink: float, dark: bool) -> None:
    grey = _page(ink)
    lo, med, hi = levels.quantiles(grey, (0.01, 0.5, 0.99))
    # The line moves neither percentile: they only see the lighting, alike on both sides.
    assert max(med - lo, hi - med) < levels.EVEN_TAILS * min(med - lo, hi - med)
    assert levels.dark_ink(grey) is dark


def test_flatten_takes_the_lighting_out_and_keeps_the_ink() -> None:
    flat = levels.flatten(1.0 - _page(-0.3))
    background = np.delete(flat.ravel(), np.flatnonzero(flat.ravel() > 0.15))
    assert float(np.ptp(background)) < 0.05  # the 0.3 of lighting is gone
    assert float(flat.max()) > 0.25  # the line stands out
