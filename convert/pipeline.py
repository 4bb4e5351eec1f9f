"""The whole model pipeline in one command: train -> convert -> verify parity -> evaluate ->
int8 variant (if within its accuracy budget) -> models/.

    mnist-pipeline                      # full run (~32 min on 2 cores), writes models/
    mnist-pipeline --smoke --out DIR    # 3 epochs on 6,000 images (~1 min), for CI

Every figure in the model card is measured here on the ONNX file itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from service.core.card import ModelCard, Normalisation, TensorSpec
from train import mnist

log = logging.getLogger("pipeline")

MODEL_NAME = "mnist-cnn"
LABELS = [str(d) for d in range(10)]


def card_path(models_dir: Path) -> Path:
    return models_dir / f"{MODEL_NAME}.card.json"


def base_card(onnx_file: Path, meta: dict[str, Any], opset: int) -> ModelCard:
    """The card's static part: what the service needs to run the model."""
    return ModelCard.for_model(
        MODEL_NAME,
        onnx_file,
        input=TensorSpec("image", (None, 28, 28, 1), layout="NHWC", height=28, width=28),
        output=TensorSpec("probabilities", (None, 10)),
        normalisation=Normalisation.from_json(
            meta["normalisation"]
            | {"frame": "digit cropped to its ink, longer side 20 px, centre of mass at (14, 14) of a 28x28 frame"}
        ),
        labels=tuple(LABELS),
        opset=opset,
    )


def plot_confusion(confusion: list[list[int]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    shown = np.log1p(m)
    ax.imshow(shown, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shown[i, j] > shown.max() / 2 else "black",
                )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(
    data_dir: Path,
    out: Path,
    work: Path,
    epochs: int | None,
    limit: int | None,
    parity_images: int,
    sizes: Any,  # figures.Sizes
    trained: Path | None = None,
) -> ModelCard:
    from convert import convert
    from service.core.model import OnnxModel
    from train import evaluate, figures, train

    # 1. train (or take a finished run of train.train, e.g. to resume after an interruption)
    train_dir = trained or work / "train"
    if trained is None:
        meta = train.train(data_dir, train_dir, epochs or train.EPOCHS, limit)
    else:
        meta = json.loads((trained / "train_meta.json").read_text())
    # 2. convert and 3. verify parity (raises on disagreement)
    onnx_file = out / f"{MODEL_NAME}.onnx"
    parity = convert.run(train_dir / "model.keras", onnx_file, data_dir, parity_images)
    card_file = card_path(out)
    card = base_card(onnx_file, meta, convert.OPSET).write(card_file)
    # 4. evaluate the ONNX file, through the service's own wrapper
    model = OnnxModel(card)
    test = mnist.load_split(data_dir, "t10k")
    idx_report = evaluate.evaluate_idx(model, test)
    idx_report.print(20)
    # Real-picture figures: upload-like families, the `uncertain` threshold, numbers.
    real = figures.measure(model, test, sizes)
    figures.log_figures(MODEL_NAME, real)
    # 5. the card, with every figure measured above
    card = card.with_figures(
        **real,
        **{
            "mnist_test": idx_report.as_dict(),
            "parity": parity.as_dict(),
            "parameters": meta["parameters"],
            "multiply_adds_per_image": meta["multiply_adds_per_image"],
            "training_wall_time_s": meta["training_wall_time_s"],
            "seed": meta["seed"],
            "recipe": meta["recipe"],
            "data_checksums_sha256": meta["data_checksums_sha256"],
            "versions": convert.versions(),
        },
    ).write(card_file)
    plot_confusion(
        idx_report.confusion(),
        out / f"{MODEL_NAME}.confusion.png",
        f"MNIST test, accuracy {idx_report.accuracy * 100:.2f}%",
    )
    # The Keras original too: parity tests and the Flask + Keras baselines of bench/ load it.
    shutil.copy(train_dir / "model.keras", out / f"{MODEL_NAME}.keras")
    shutil.copy(train_dir / "curves.png", out / f"{MODEL_NAME}.curves.png")
    shutil.copy(train_dir / "history.json", out / f"{MODEL_NAME}.history.json")
    # 6. the int8 variant, shipped only within its accuracy budget (never a stale one)
    from convert import quantize

    for stale in (out / f"{MODEL_NAME}-int8.onnx", out / f"{MODEL_NAME}-int8.card.json"):
        stale.unlink(missing_ok=True)
    try:
        quantize.run(card_file, out, data_dir, sizes)
    except quantize.QuantisationRejected as exc:
        log.warning("%s", exc)
    log.info(
        "wrote %s: MNIST test accuracy %.2f%%, upload-like (all families) %.2f%%",
        card_file,
        idx_report.accuracy * 100,
        real["upload_like_families"]["all"]["accuracy"] * 100,
    )
    return card


def main(argv: list[str] | None = None) -> int:
    from convert.convert import ParityError
    from train.train import add_data_args

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    parser.add_argument("--work", type=Path, default=None, help="intermediate files (default: a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="3 epochs on 6,000 images (CI, ~1 min)")
    parser.add_argument(
        "--trained",
        type=Path,
        default=None,
        help="skip training: use this finished `mnist-train --out` directory",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from train import figures, nondigits

    epochs, limit, parity, sizes = (3, 6000, 1000, figures.SMOKE) if args.smoke else (None, None, 2000, figures.Sizes())
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        data_dir = mnist.resolve_data_dir(args.data, args.download, args.cache)
        with tempfile.TemporaryDirectory(prefix="mnist-pipeline-") as tmp:
            run(data_dir, args.out, args.work or Path(tmp), epochs, limit, parity, sizes, args.trained)
    except (mnist.MnistDataError, ParityError, nondigits.FontsMissing) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
