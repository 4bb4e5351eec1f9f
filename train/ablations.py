"""One step of the service's preprocessing switched off, to measure what it does.

The README gives, for each step that mends a kind of picture, what the family or numbers set of
such pictures reads with the step and without it; `mnist-probes family ruled --without lines`
(train/probes.py) measures the second. A step is switched off by replacing the one function that
does it, for the duration of a `with without(step):` block, with one that leaves its input as it
is: the rest of the service runs as served. Steps name their module (service.core.<name>), which
is imported only when the step is switched off: this file copied into an earlier checkout (as
train/probes.py's docstring says) works there for the steps that checkout has.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


def _ink(ink: Any, *_: Any) -> Any:
    return ink


def _none(*_: Any) -> float:
    return 0.0


# step -> (module in service.core, function, what stands in for it), and what the step does.
STEPS: dict[str, tuple[str, str, Callable[..., Any], str]] = {
    "lines": ("lines", "across", _ink, "ruled lines across the whole picture (lined or squared paper, a margin)"),
    "long-lines": (
        "lines",
        "without_lines",
        lambda mask, labels, box: (labels, box),
        "numbers: lines far longer than the digits are tall (a baseline, a line struck through)",
    ),
    "desk": ("paper", "on_sheet", lambda *_: None, "the desk around a sheet photographed lying on it"),
    "desk-doubt": (
        "paper",
        "_in_doubt",
        lambda *_: False,
        "a small sheet (a slip of paper on a desk) that may be a bold light digit, read both ways",
    ),
    "desk-band": ("paper", "_band", _ink, "a desk no deeper than along most of its side (a digit touching it)"),
    "shadow": ("shade", "relit", lambda grey: None, "a shadow with an edge across the page"),
    "shadow-doubt": (
        "shade",
        "_in_doubt",
        lambda *_: False,
        "a shade that may be a shadow or bold writing (a wedge, a dark one), read both ways",
    ),
    "underlines": (
        "lines",
        "_underlines",
        lambda spans, mask: [False] * len(spans),
        "numbers: a line drawn under them, shorter than a ruled line",
    ),
    "underline-doubt": (
        "underline",
        "touching",
        lambda ink: None,
        "a line along a single digit's foot that may be an underline or its base, read both ways",
    ),
    "boxes": ("boxes", "inside", _ink, "a printed box or a comb of boxes around the writing"),
    "cut-comb": ("boxes", "_cut_comb", _ink, "a comb of boxes cut off at both sides"),
    "closer": ("closer", "region", lambda ink, size: None, "a digit small in a large picture looked at closer up"),
    "neighbours": ("strokes", "without_neighbours", _ink, "parts of neighbouring digits at the picture's edges"),
    "underline": ("pieces", "without_underline", _ink, "a line drawn apart under a single digit"),
    "ring": ("rings", "without_ring", _ink, "a line drawn round a digit or a number by hand"),
    "tilt": ("skew", "tilt", _none, "numbers: a line of writing tilted"),
    "slant": ("skew", "slant", _none, "numbers: writing leaning far"),
}


@contextmanager
def without(step: str | None) -> Iterator[None]:
    """The service with `step` switched off inside the block (None: as served)."""
    if step is None:
        yield
        return
    module_name, name, stand_in, _ = STEPS[step]
    module = served_module(module_name)
    served = getattr(module, name)
    setattr(module, name, stand_in)
    try:
        yield
    finally:
        setattr(module, name, served)


def served_module(name: str) -> ModuleType:
    """service.core.<name>, as the service imports it."""
    return importlib.import_module(f"service.core.{name}")
