"""The real-picture figures of a model card, measured through the service's own preprocessing:

- upload-like accuracy per family (train/uploadlike.py; `upload_like` stays the photo family);
- the `uncertain` threshold, calibrated so that 1 % of the correct upload-like answers are flagged,
  and how often it flags wrong answers, letters and scribbles (train/nondigits.py);
- string accuracy on generated numbers (train/numbers.py) by length, separated vs touching.

    mnist-figures                        # both committed cards (~5 min each on 2 cores)
    mnist-figures --card models/mnist-cnn-int8.card.json --smoke

Needs no TensorFlow. The pipeline and the quantiser call `measure` for every model they write.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.core import decode, framing, reading
from service.core.card import ModelCard, ModelCardError
from service.core.groups import GroupModel
from service.core.model import OnnxModel
from service.errors import ServiceError
from service.settings import Settings
from train import evaluate, mnist, nondigits, numbers, uploadlike

log = logging.getLogger("figures")

FLAG_CORRECT = 0.01  # the share of correct answers the `uncertain` flag may cost
KEYS = ("upload_like", "upload_like_families", "uncertain", "numbers")


@dataclass(frozen=True)
class Sizes:
    photos: int = uploadlike.COUNT  # the photo family; the other families scale with it
    numbers_per_cell: int = numbers.PER_CELL
    ruled_per_cell: int = 9  # photographed numbers on ruled lines, the three styles in turn
    nondigits: int = 300


FOUR_DIGIT_SEEDS = (11, 12, 13, 14, 15)
# Numbers sets of their own, by style (ruled_per_cell a length and kind): ruled lines; squared
# paper; a box or a comb of boxes; a line drawn round them; a shadow across the page; a line drawn
# under them; marks between the digits; the line of writing tilted; writing leaning far; a comb cut
# off at both sides; on a slip of paper lying on a desk.
NUMBER_SETS = {
    "ruled": numbers.generate_ruled,
    "squared": numbers.generate_squared,
    "boxed": numbers.generate_boxed,
    "ringed": numbers.generate_ringed,
    "shadowed": numbers.generate_shadowed,
    "underlined": numbers.generate_underlined,
    "marks": numbers.generate_separators,
    "tilted": numbers.generate_tilted,
    "slanted": numbers.generate_slanted,
    "cut-comb": numbers.generate_cut_combs,
    "slip": numbers.generate_on_slips,
}
SMOKE = Sizes(photos=100, numbers_per_cell=3, ruled_per_cell=3, nondigits=40)


def _answers(model: OnnxModel, files: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, confidence) per file through the service's framing; a refused file is -1, 0."""
    prepared, kept = [], []
    for i, data in enumerate(files):
        try:
            prepared.append(framing.prepare(data))
            kept.append(i)
        except ServiceError:
            continue
    pred = np.full(len(files), -1, np.int64)
    conf = np.zeros(len(files), np.float64)
    if prepared:
        probs = evaluate.surer_probs(model, prepared)
        pred[kept] = probs.argmax(axis=1)
        conf[kept] = probs.max(axis=1)
    return pred, conf


def _share(hits: np.ndarray) -> float:
    return round(float(np.mean(hits)), 6) if hits.size else 0.0


def upload_like(model: OnnxModel, test: mnist.Split, sizes: Sizes) -> dict[str, Any]:
    """Per-family accuracy, the photo family's full report, and the calibrated `uncertain` flag."""
    files = uploadlike.generate(test, sizes.photos, families=uploadlike.ALL_FAMILIES)
    pred, conf = _answers(model, [data for _, data, _ in files])
    labels = np.array([label for _, _, label in files])
    family = np.array([uploadlike.family_of(name) for name, _, _ in files])
    correct = pred == labels
    families: dict[str, Any] = {}
    for name in [*uploadlike.ALL_FAMILIES, "all"]:
        mask = family == name if name != "all" else np.ones(len(files), bool)
        families[name] = {
            "images": int(mask.sum()),
            "correct": int(correct[mask].sum()),
            "accuracy": _share(correct[mask]),
        }
    photo = family == "photo"
    names = [name for name, _, _ in files]
    report = evaluate.Report(
        f"upload-like ({int(photo.sum())} pictures)",
        labels[photo & (pred >= 0)],
        pred[photo & (pred >= 0)],
        misclassified=[f"{names[i]}: label {labels[i]} predicted {pred[i]}" for i in np.flatnonzero(photo & ~correct)],
        rejected=[names[i] for i in np.flatnonzero(photo & (pred < 0))],
    )
    # The threshold: the confidence under which FLAG_CORRECT of the correct answers fall.
    threshold = round(float(np.quantile(conf[correct], FLAG_CORRECT)), 4)
    others = nondigits.generate(sizes.nondigits)
    _, other_conf = _answers(model, [data for _, data in others])
    kinds = np.array([name.split("_", 1)[0] for name, _ in others])
    uncertain = {
        "threshold": threshold,
        "calibrated_on": f"upload-like, all families ({len(files)} pictures, train.uploadlike seed {uploadlike.SEED})",
        "flagged": {
            "correct": _share(conf[correct] < threshold),
            "wrong": _share(conf[~correct] < threshold),
            "letters": _share(other_conf[kinds == "letter"] < threshold),
            "scribbles": _share(other_conf[kinds == "scribble"] < threshold),
        },
        "wrong_answers": int((~correct).sum()),
        "non_digits": f"{len(others)} (train.nondigits seed {nondigits.SEED}: DejaVu letters, scribbles)",
    }
    return {
        "upload_like": report.as_dict() | {"generator": f"train.uploadlike seed {uploadlike.SEED}"},
        "upload_like_families": families,
        "uncertain": uncertain,
    }


def read_number(model: OnnxModel, data: bytes, whole: GroupModel | None = None) -> str:
    """The number in a picture as /v1/read reads it ("" when it cannot be read); `whole`: the group
    model (the service always has one; without, the reader's cuts are weighed by the digits alone)."""
    return read_numbers(model, data, (whole,))[0]


def read_numbers(model: OnnxModel, data: bytes, wholes: tuple[GroupModel | None, ...]) -> list[str]:
    """read_number with each of these group models (None: none), the picture segmented and its
    frames classified once for all of them."""
    try:
        decoded = decode.decode(data, work_side=reading.READ_SIDE)
        segmented = reading.segment(decoded, any(w is not None for w in wholes))
        probs = model.predict(segmented.frames())
    except ServiceError:
        return [""] * len(wholes)
    texts = []
    for whole in wholes:
        group_probs = None if whole is None else whole.predict(segmented.whole_frames())
        try:
            digits = segmented.choose(probs, group_probs, None if whole is None else whole.classes)
        except ServiceError:
            texts.append("")
            continue
        texts.append("".join(str(d.digit) for d in digits))
    return texts


def _group_model() -> GroupModel | None:
    """The group model the service would read numbers with (MNIST_GROUPS_CARD, else the shipped
    one); None where there is none (a training image without models/): then the figure is the
    digit model's alone, and the card says so (`group_model`: null)."""
    card = Settings.from_env().groups_card
    if not card.is_file():
        log.warning("no group model at %s: numbers are read by the digit model alone", card)
        return None
    return GroupModel(OnnxModel(ModelCard.load(card)))


def number_figures(model: OnnxModel, test: mnist.Split, sizes: Sizes) -> dict[str, Any]:
    """String accuracy on generated numbers, by kind and length, and by family: as the service
    reads them (with the shipped group model), and with the digit model alone for comparison."""
    whole = _group_model()
    hits: dict[tuple[str, str], list[bool]] = collections.defaultdict(list)
    for n in numbers.generate(test, sizes.numbers_per_cell):
        ok, alone = (text == n.text for text in read_numbers(model, n.data, (whole, None)))
        for cell in ((n.kind, str(len(n.text))), (n.kind, "all"), ("family", n.family)):
            hits[cell].append(ok)
            hits[("alone", cell[0] + " " + cell[1])].append(alone)
    for tag, made in NUMBER_SETS.items():
        for n in made(test, sizes.ruled_per_cell):
            ok = read_numbers(model, n.data, (whole,))[0] == n.text
            hits[(tag, n.family)].append(ok)
            hits[(tag, "all")].append(ok)
    # The targets are on 4-digit numbers: that cell again on more seeds (60 a cell is
    # +-3 pp of sampling noise; seed 11's cell is the main table's).
    for seed in FOUR_DIGIT_SEEDS:
        for n in numbers.generate(test, sizes.numbers_per_cell, seed, lengths=(4,)):
            hits[("four", n.kind)].append(read_numbers(model, n.data, (whole,))[0] == n.text)
    table: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for (group, key), oks in sorted(hits.items()):
        table[group][key] = _share(np.array(oks))
    return {
        "generator": f"train.numbers seed {numbers.SEED}, {sizes.numbers_per_cell} per length and kind",
        "group_model": whole.model.card.version if whole else None,
        "string_accuracy": {kind: table[kind] for kind in numbers.KINDS},
        "string_accuracy_by_family": table["family"],
        "string_accuracy_digit_model_alone": table["alone"],
        # Photographed on ruled lines (train.numbers.generate_ruled, 2-8 digits, both kinds), by style.
        "string_accuracy_on_ruled_lines": table["ruled"],
        # Photographed on squared paper (train.numbers.generate_squared, 2-8 digits, both kinds).
        "string_accuracy_on_squared_paper": table["squared"]["all"],
        # Photographed in a printed box or one digit a cell of a comb (train.numbers.generate_boxed).
        "string_accuracy_in_a_box": table["boxed"],
        # Photographed with a line drawn round them by hand (train.numbers.generate_ringed).
        "string_accuracy_ringed": table["ringed"]["all"],
        # Photographed with a shadow across the page (train.numbers.generate_shadowed).
        "string_accuracy_shadowed": table["shadowed"]["all"],
        # Photographed with a line drawn under them by hand, touching or not (train.numbers.generate_underlined).
        "string_accuracy_underlined": table["underlined"]["all"],
        # Photographed on a slip of paper lying on a desk (train.numbers.generate_on_slips).
        "string_accuracy_on_a_slip": table["slip"]["all"],
        # Photographed with a decimal point, thousands commas or a dash between the digits
        # (train.numbers.generate_separators), read as the digits alone.
        "string_accuracy_with_separators": table["marks"],
        # One digit a cell of a comb cropped inside its first and last cells (train.numbers.generate_cut_combs).
        "string_accuracy_in_a_cut_comb": table["cut-comb"]["all"],
        # Photographed with the whole line of writing tilted 8-20 degrees (train.numbers.generate_tilted).
        "string_accuracy_tilted": table["tilted"]["all"],
        # Written leaning far, shears of 0.35-0.6 either way (train.numbers.generate_slanted).
        "string_accuracy_slanted": table["slanted"]["all"],
        # 4-digit numbers of both kinds on each of FOUR_DIGIT_SEEDS (numbers_per_cell a seed).
        "string_accuracy_4_digits_over_seeds": {"seeds": list(FOUR_DIGIT_SEEDS), **table["four"]},
    }


def measure(model: OnnxModel, test: mnist.Split, sizes: Sizes = Sizes()) -> dict[str, Any]:
    figures = upload_like(model, test, sizes)
    figures["numbers"] = number_figures(model, test, sizes)
    return figures


def log_figures(name: str, figures: dict[str, Any]) -> None:
    fams = figures["upload_like_families"]
    log.info("%s upload-like: %s", name, ", ".join(f"{k} {v['accuracy'] * 100:.2f}%" for k, v in fams.items()))
    u = figures["uncertain"]
    log.info("%s uncertain below %.4f: flags %s", name, u["threshold"], u["flagged"])
    s = figures["numbers"]["string_accuracy"]
    log.info(
        "%s numbers: %s", name, {k: v.get("4") for k, v in s.items()} | {"all": {k: v["all"] for k, v in s.items()}}
    )
    log.info("%s numbers on ruled lines: %s", name, figures["numbers"].get("string_accuracy_on_ruled_lines"))
    log.info("%s numbers on squared paper: %s", name, figures["numbers"].get("string_accuracy_on_squared_paper"))
    log.info("%s numbers in a box: %s", name, figures["numbers"].get("string_accuracy_in_a_box"))
    log.info("%s numbers ringed: %s", name, figures["numbers"].get("string_accuracy_ringed"))
    log.info("%s numbers shadowed: %s", name, figures["numbers"].get("string_accuracy_shadowed"))
    log.info("%s numbers underlined: %s", name, figures["numbers"].get("string_accuracy_underlined"))
    log.info("%s numbers on a slip: %s", name, figures["numbers"].get("string_accuracy_on_a_slip"))
    log.info("%s numbers with separators: %s", name, figures["numbers"].get("string_accuracy_with_separators"))
    log.info("%s numbers tilted: %s", name, figures["numbers"].get("string_accuracy_tilted"))
    log.info("%s numbers slanted: %s", name, figures["numbers"].get("string_accuracy_slanted"))
    log.info("%s numbers in a cut comb: %s", name, figures["numbers"].get("string_accuracy_in_a_cut_comb"))
    log.info("%s 4-digit numbers over seeds: %s", name, figures["numbers"].get("string_accuracy_4_digits_over_seeds"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="MNIST IDX directory")
    parser.add_argument("--card", type=Path, action="append", help="a card to measure and update (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="small sets (a minute): to check the command")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no card")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    models = Path(__file__).resolve().parent.parent / "models"
    cards = args.card or [models / "mnist-cnn.card.json", models / "mnist-cnn-int8.card.json"]
    try:
        test = mnist.test_split(args.data)
        for path in cards:
            card = ModelCard.load(path)
            figures = measure(OnnxModel(card), test, SMOKE if args.smoke else Sizes())
            log_figures(card.name, figures)
            if not args.dry_run:
                card.with_figures(**figures).write(path)
                log.info("wrote %s", path)
    except (ModelCardError, mnist.MnistDataError, nondigits.FontsMissing) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
