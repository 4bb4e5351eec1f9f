"""Evaluate an ONNX model (by its card) on an IDX set or on a folder of image files.

Image files go through `service.core.framing` -- the very code the service runs -- so the
figure is what users get. Labels come from a `<digit>_...` file-name prefix or a `<digit>/`
parent folder. Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from service.core import framing, surer
from service.core.card import ModelCard, ModelCardError
from service.core.model import OnnxModel
from service.errors import ServiceError
from service.settings import default_card
from train import mnist

log = logging.getLogger("evaluate")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".avif"}
BATCH = 1000


@dataclass
class Report:
    name: str
    labels: np.ndarray
    predictions: np.ndarray
    misclassified: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # files preprocessing refused

    @property
    def total(self) -> int:
        return int(self.labels.size) + len(self.rejected)

    @property
    def correct(self) -> int:
        return int(np.sum(self.labels == self.predictions))

    @property
    def accuracy(self) -> float:
        # A refused file counts as a miss: users would have got no digit either.
        return self.correct / self.total if self.total else 0.0

    def confusion(self) -> list[list[int]]:
        m = np.zeros((10, 10), dtype=np.int64)
        np.add.at(m, (self.labels.astype(np.int64), self.predictions.astype(np.int64)), 1)
        return m.tolist()

    def per_class(self) -> dict[str, float]:
        out = {}
        for d in range(10):
            mask = self.labels == d
            out[str(d)] = round(float(np.mean(self.predictions[mask] == d)), 6) if mask.any() else 0.0
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "set": self.name,
            "images": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 6),
            "per_class_accuracy": self.per_class(),
            "confusion_matrix": self.confusion(),
            "rejected": len(self.rejected),
        }

    def print(self, limit: int = 50) -> None:
        out = sys.stdout
        out.write(f"{self.name}: accuracy {self.accuracy * 100:.2f}% ({self.correct}/{self.total})\n")
        out.write("per class: " + "  ".join(f"{k}:{v * 100:.2f}%" for k, v in self.per_class().items()) + "\n")
        if self.rejected:
            out.write(f"refused by preprocessing ({len(self.rejected)}): {', '.join(self.rejected[:limit])}\n")
        out.write(f"misclassified ({len(self.misclassified)}):\n")
        for item in self.misclassified[:limit]:
            out.write(f"  {item}\n")
        if len(self.misclassified) > limit:
            out.write(f"  ... and {len(self.misclassified) - limit} more\n")


def evaluate_idx(model: OnnxModel, split: mnist.Split, name: str = "mnist-test") -> Report:
    """The model on IDX frames as they are (already 28x28, white on black)."""
    probs = np.concatenate([model.predict(split.images[i : i + BATCH]) for i in range(0, len(split.images), BATCH)])
    pred = probs.argmax(axis=1)
    labels = split.labels.astype(np.int64)
    wrong = [
        f"#{i}: label {labels[i]} predicted {pred[i]} ({probs[i, pred[i]]:.3f})" for i in np.nonzero(pred != labels)[0]
    ]
    return Report(name=name, labels=labels, predictions=pred, misclassified=wrong)


def label_of(path: Path) -> int | None:
    for candidate in (path.name.split("_", 1)[0], path.parent.name):
        if len(candidate) == 1 and candidate.isdigit():
            return int(candidate)
    return None


def surer_probs(model: OnnxModel, prepared: list[framing.Prepared]) -> np.ndarray:
    """The probabilities the service answers with for each prepared picture: where a picture has
    several frames, those of the reading that stands (service/core/surer.py)."""
    batch = surer.frames(prepared)
    probs = np.concatenate([model.predict(batch[i : i + BATCH]) for i in range(0, len(batch), BATCH)])
    return np.stack([p for _, p in surer.chosen(prepared, probs)])


def evaluate_files(model: OnnxModel, files: list[tuple[str, bytes, int]], name: str) -> Report:
    """(name, bytes, label) triples through the service's preprocessing, then the model."""
    prepared, labels, names, rejected = [], [], [], []
    for fname, data, label in files:
        try:
            prepared.append(framing.prepare(data))
        except ServiceError as exc:
            rejected.append(f"{fname} ({exc.code})")
            continue
        labels.append(label)
        names.append(fname)
    if not prepared:
        return Report(name, np.zeros(0, np.int64), np.zeros(0, np.int64), rejected=rejected)
    probs = surer_probs(model, prepared)
    pred = probs.argmax(axis=1)
    lab = np.asarray(labels, dtype=np.int64)
    wrong = [
        f"{names[i]}: label {lab[i]} predicted {pred[i]} ({probs[i, pred[i]]:.3f})" for i in np.nonzero(pred != lab)[0]
    ]
    return Report(name, lab, pred, misclassified=wrong, rejected=rejected)


def evaluate_folder(model: OnnxModel, folder: Path) -> Report:
    files = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        label = label_of(path)
        if label is None:
            log.warning("no label in the name of %s; skipped", path)
            continue
        files.append((str(path.relative_to(folder)), path.read_bytes(), label))
    return evaluate_files(model, files, f"folder {folder}")


def idx_as_png(split: mnist.Split) -> list[tuple[str, bytes, int]]:
    """The IDX frames as PNG files, e.g. to check that preprocessing keeps MNIST intact."""
    out = []
    for i, (img, label) in enumerate(zip(split.images, split.labels, strict=True)):
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG")
        out.append((f"{int(label)}_{i:05d}.png", buf.getvalue(), int(label)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--card", type=Path, default=default_card(), help="model card JSON (default: the one served)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--idx", type=Path, help="directory of IDX .gz files (uses the t10k split)")
    src.add_argument("--images", type=Path, help="folder of image files labelled by name")
    parser.add_argument(
        "--as-png",
        action="store_true",
        help="with --idx: encode each frame as PNG and run the service's preprocessing",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--show", type=int, default=50, help="how many misclassified files to list")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        model = OnnxModel(ModelCard.load(args.card))
        if args.images is not None:
            report = evaluate_folder(model, args.images)
        else:
            data_dir = args.idx or mnist.default_data_dir()
            if data_dir is None:
                raise mnist.MnistDataError("no MNIST directory: pass --idx DIR")
            split = mnist.load_split(data_dir, "t10k")
            if args.as_png:
                report = evaluate_files(model, idx_as_png(split), "mnist-test as PNG")
            else:
                report = evaluate_idx(model, split)
    except (ModelCardError, mnist.MnistDataError) as exc:
        log.error("%s", exc)
        return 2
    report.print(args.show)
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
