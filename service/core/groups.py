"""A group of ink -- one digit, two touching digits, or more -- as the group model sees it.

Cutting two touching digits apart leaves each with a piece of the other, and the digit model
reads such halves badly (on the generated numbers, one touching pair in six was misread even
when the reader was told how many digits there were). So, as Hochuli et al. (2018) do, a second
model reads each group whole: how many digits it holds, and which pair when it holds two. The
reader weighs its answer against the digit model's on each way of cutting the group
(reading.Segmented.choose). Pure functions; the model itself is an OnnxModel with its own card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core import framing
from service.core.card import ModelCard, ModelCardError
from service.core.model import OnnxModel

# The group frame: MNIST's 28 px height and 20 px digit box, twice as wide, so that a single
# digit looks as it does in MNIST and two touching digits still fit at the same height.
SHAPE = (28, 56)
BOX = (20, 52)
MORE = "3+"
# The digit model's say against the group model's, as an exponent on its probabilities. It reads
# each part of a cut alone, and a part cut from touching digits carries a piece of its neighbour
# that it reads with confidence all the same. On the generated numbers (seeds 11, 12 and 13;
# 2,520 numbers, ad hoc): touching ones read 774 of 1,260 with 1.0, 784 with 0.5 (0.4-0.5 best on
# each seed), separated ones 802 against 800.
DIGIT_WEIGHT = 0.5
# The group model's classes: one digit, a pair (tens first), or three digits and more.
LABELS = (*(str(d) for d in range(10)), *(f"{a}{b}" for a in range(10) for b in range(10)), MORE)


def digits_in(label: str) -> int:
    """How many digits a group model's label stands for (MORE: three, at least)."""
    return 3 if label == MORE else len(label)


def frame_group(ink: np.ndarray) -> np.ndarray:
    """A group's ink (any size, [0, 1]) -> uint8 SHAPE, framed like a digit at MNIST's height."""
    return framing.frame(ink, SHAPE, BOX)


@dataclass(frozen=True)
class GroupClasses:
    """Where a group model's card puts each answer among its outputs."""

    singles: np.ndarray  # [10] output index of digit d
    pairs: np.ndarray  # [10, 10] output index of the pair (a, b)
    more: int

    @classmethod
    def of(cls, card: ModelCard) -> GroupClasses:
        index = {label: i for i, label in enumerate(card.labels)}
        missing = [label for label in LABELS if label not in index]
        if missing or card.input.height != SHAPE[0] or card.input.width != SHAPE[1]:
            raise ModelCardError(
                f"{card.name} is not a group model: it needs {SHAPE[0]}x{SHAPE[1]} input and the labels "
                f"0-9, 00-99 and {MORE!r} (missing {missing[:3]})"
            )
        return cls(
            singles=np.array([index[str(d)] for d in range(10)]),
            pairs=np.array([[index[f"{a}{b}"] for b in range(10)] for a in range(10)]),
            more=index[MORE],
        )

    def counts(self, probs: np.ndarray) -> np.ndarray:
        """[3]: how likely the group is one digit, two, three or more."""
        return np.array([probs[self.singles].sum(), probs[self.pairs].sum(), probs[self.more]])


class GroupModel:
    """The group model (an ONNX session) and where its card puts each answer."""

    def __init__(self, model: OnnxModel) -> None:
        self.classes = GroupClasses.of(model.card)
        self.model = model

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """uint8 group frames [N, 28, 56] -> probabilities [N, classes]."""
        return self.model.predict(frames)

    def close(self) -> None:
        self.model.close()


def _log(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(np.maximum(p, 1e-9)))


def weigh(option: np.ndarray, group: np.ndarray | None, classes: GroupClasses | None) -> Weighed:
    """One way to read a group -- the digit model's answers for its parts, [k, 10] -- scored with
    the group model's answer for the whole group, if there is one: a product of the two models'
    probabilities, the digit model's taken to the power DIGIT_WEIGHT (neither alone reads touching
    pairs well: on the numbers set of seed 12, 20 per length, touching numbers went from ~75 % to
    93 % with both). A digit's confidence is then its share of that product over all readings of
    the same parts."""
    if group is None or classes is None or option.shape[0] > 2:
        # Each part its likeliest digit; three parts and more are all one class to the group model.
        score = float(_log(option.max(axis=1)).sum())
        if group is not None and classes is not None:
            score = float(_log(group[[classes.more]])[0]) + DIGIT_WEIGHT * score
        return Weighed(score, tuple((int(p.argmax()), float(p.max())) for p in option))
    parts = DIGIT_WEIGHT * _log(option)
    if option.shape[0] == 1:
        joint = _log(group[classes.singles]) + parts[0]
        d = int(joint.argmax())
        return Weighed(float(joint[d]), ((d, float(_share(joint)[d])),))
    # Every pair (a, b): the group model's P(ab) times the digit model's P(a) and P(b).
    joint = _log(group[classes.pairs]) + parts[0][:, None] + parts[1][None, :]
    a, b = (int(i) for i in np.unravel_index(int(joint.argmax()), joint.shape))
    shares = _share(joint)
    return Weighed(float(joint[a, b]), ((a, float(shares.sum(axis=1)[a])), (b, float(shares.sum(axis=0)[b]))))


def _share(joint: np.ndarray) -> np.ndarray:
    """Log-scores -> each one's share of their sum (a softmax)."""
    out = np.exp(joint - joint.max())
    return np.asarray(out / out.sum())


@dataclass(frozen=True)
class Weighed:
    score: float  # log-probability: the higher the surer
    digits: tuple[tuple[int, float], ...]  # (digit, confidence) of each part, left to right
