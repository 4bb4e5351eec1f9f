"""Train the group model: how many digits a group of ink holds, and which pair when two touch.

The reader (service/core/reading.py) cuts a number's ink into groups; most are one digit, some
are two digits that touch, a few are more. This model reads a whole group framed at MNIST's
height in 28x56 (service/core/groups.py): 10 single digits, 100 pairs, "3+" -- Hochuli et al.
(2018) read touching pairs this way, without cutting them.

    mnist-groups --out models                # ~25 min on 2 cores: train, convert, card
    mnist-groups --out /tmp/g --smoke        # ~1 min
    mnist-groups --out /tmp/g --epochs 8     # a longer schedule, to compare (not the shipped model)

Training data is made here from MNIST *training* digits (the numbers set the card reports on is
made from *test* digits): pairs that touch or overlap, singles, triples; slanted, tilted, drawn
with a hairline or a marker, framed by the service's own code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from service.core import groups
from train import mnist, numbers, uploadlike

log = logging.getLogger("groups")

SEED = 20261126
# Samples per number of digits. Pairs carry 100 classes, so most of the data (~900 per pair).
COUNTS = {1: 25_000, 2: 90_000, 3: 10_000}
VALIDATION_DIGITS = 5_000  # the last MNIST training digits make the validation groups only
EPOCHS = 5
BATCH_SIZE = 128
PEAK_LR = 2e-3
UP = 3  # groups are composed at 3x MNIST's scale, then framed down as the service frames ink
# Gaps between the digits of a group, in MNIST pixels: mostly touching or overlapping (by up to
# 3.5 px), sometimes a hair apart (pieces that overlap horizontally are one group too).
TOUCHING = (-3.5, 0.5)
APART = (0.5, 2.0)
P_APART = 0.15
MAX_SHEAR = 0.35  # numbers.py slants by up to 0.25; a little more here
MAX_TILT_DEG = 6.0
P_HAIRLINE = 0.25  # the centre line: mouse drawings and fine pens
P_MARKER = 0.15


@dataclass(frozen=True)
class Groups:
    frames: np.ndarray  # uint8 [n, 28, 56]
    labels: np.ndarray  # int64 [n], index into groups.LABELS


def _pen(img: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The group as drawn by a random pen: as it is, its centre line (1-3 px), or a marker."""
    arr = np.asarray(img, np.float32) / 255.0
    r = rng.random()
    if r < P_HAIRLINE:
        line = Image.fromarray(np.asarray(uploadlike.skeletonise(arr > 0.3), np.uint8) * 255, mode="L")
        if rng.random() < 0.5:
            line = line.filter(ImageFilter.MaxFilter(3))
        return np.asarray(line, np.float32) / 255.0
    if r < P_HAIRLINE + P_MARKER:
        thick = img.filter(ImageFilter.MaxFilter(int(rng.choice([3, 5, 7]))))
        return np.asarray(thick, np.float32) / 255.0
    return arr


def _label(digits: list[int]) -> int:
    text = "".join(str(d) for d in digits) if len(digits) < 3 else groups.MORE
    return groups.LABELS.index(text)


_DIGITS: tuple[np.ndarray, np.ndarray] | None = None  # per worker process


def _init(images: np.ndarray, labels: np.ndarray) -> None:
    global _DIGITS
    _DIGITS = (images, labels)


def _sample(key: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    assert _DIGITS is not None
    images, labels = _DIGITS
    rng = np.random.default_rng(key)
    count = key[1]
    picks = rng.integers(0, len(images), count)
    gaps = [rng.uniform(*(APART if rng.random() < P_APART else TOUCHING)) * UP for _ in range(count - 1)]
    crops = numbers.scaled_crops([images[p] for p in picks], rng, UP, 0.2)
    img = numbers.slant(numbers.lay_out(crops, gaps, rng, UP, baseline=2.5), rng.uniform(-MAX_SHEAR, MAX_SHEAR))
    img = img.rotate(float(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG)), Image.Resampling.BICUBIC, expand=True)
    return groups.frame_group(_pen(img, rng)), _label([int(labels[p]) for p in picks])


def generate(images: np.ndarray, labels: np.ndarray, counts: dict[int, int], seed: int) -> Groups:
    """Groups made from these digits, deterministically (each sample has its own seed), framed
    by the service's code in worker processes (~300 a second on 2 cores)."""
    keys = [(seed, count, i) for count, n in sorted(counts.items()) for i in range(n)]
    workers = max(1, len(os.sched_getaffinity(0)))
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(images, labels)) as pool:
        out = list(pool.map(_sample, keys, chunksize=256))
    return Groups(np.stack([f for f, _ in out]), np.array([label for _, label in out], np.int64))


def test_groups(test: mnist.Split, per_count: int = 2_000) -> Groups:
    """Groups made from MNIST test digits: the card's figure (a seed the training never used)."""
    return generate(test.images, test.labels, dict.fromkeys(COUNTS, per_count), SEED + 1)


def accuracy_by_count(probs: np.ndarray, data: Groups) -> dict[str, float]:
    """Exact answers (the count and, for 1 or 2 digits, the digits) per number of digits."""
    hits = probs.argmax(axis=1) == data.labels
    counts = np.array([groups.digits_in(groups.LABELS[y]) for y in data.labels])
    return {str(c): round(float(hits[counts == c].mean()), 6) for c in (1, 2, 3) if (counts == c).any()} | {
        "all": round(float(hits.mean()), 6)
    }


def train(data_dir: Path, out: Path, epochs: int, counts: dict[int, int]) -> dict[str, object]:
    # TensorFlow only here: the rest of this module serves evaluation without it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from train.model import build_group_model, multiply_adds

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)
    split = mnist.load_split(data_dir, "train")
    # --- data: training groups from the first 55,000 digits, validation groups from the rest ---
    cut = len(split.images) - VALIDATION_DIGITS
    started = time.monotonic()
    fit = generate(split.images[:cut], split.labels[:cut], counts, SEED)
    val = generate(split.images[cut:], split.labels[cut:], {k: max(v // 20, 50) for k, v in counts.items()}, SEED + 2)
    log.info("made %d training and %d validation groups in %.0f s", len(fit.labels), len(val.labels),
             time.monotonic() - started)  # fmt: skip

    def tensors(data: Groups) -> tuple[np.ndarray, np.ndarray]:
        x = data.frames[..., None].astype(np.float32) / 255.0
        return x, keras.utils.to_categorical(data.labels, len(groups.LABELS))

    # --- model: warm-up for one epoch, cosine decay (as the digit model) ---
    model = build_group_model(len(groups.LABELS))
    steps = len(fit.labels) // BATCH_SIZE
    schedule = keras.optimizers.schedules.CosineDecay(
        PEAK_LR / 10, max(steps * (epochs - 1), 1), alpha=0.01, warmup_target=PEAK_LR, warmup_steps=steps
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["accuracy"],
    )
    started = time.monotonic()
    hist = model.fit(*tensors(fit), batch_size=BATCH_SIZE, epochs=epochs, validation_data=tensors(val), verbose=2)
    wall = time.monotonic() - started
    model.save(out / "model.keras")
    np.save(out / "parity.npy", tensors(val)[0][:1000])
    meta: dict[str, object] = {
        "seed": SEED,
        "recipe": {
            "architecture": "conv3x3(32)-maxpool-conv3x3(64)-maxpool-conv3x3(96)-maxpool-dense(192)-"
            "dense(111,softmax); 'same' padding, batch norm after each conv/dense, dropout",
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "optimizer": "AdamW(weight_decay=0.0001)",
            "learning_rate": f"1 epoch linear warm-up to {PEAK_LR}, cosine decay to 1%",
            "loss": "categorical cross-entropy, label smoothing 0.05",
            "groups": {str(k): v for k, v in counts.items()},
            "gaps_mnist_px": {"touching": list(TOUCHING), "apart": list(APART), "p_apart": P_APART},
            "max_shear": MAX_SHEAR,
            "max_tilt_deg": MAX_TILT_DEG,
            "pens": {"hairline": P_HAIRLINE, "marker": P_MARKER},
        },
        "parameters": int(model.count_params()),
        "multiply_adds_per_image": multiply_adds(model),
        "training_wall_time_s": round(wall, 1),
        "final_validation_accuracy": float(hist.history["val_accuracy"][-1]),
        "data_checksums_sha256": mnist.data_checksums(),
    }
    (out / "train_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("trained in %.0f s; validation accuracy %.4f", wall, meta["final_validation_accuracy"])
    return meta


def main(argv: list[str] | None = None) -> int:
    from convert import groups_pipeline
    from train.train import add_data_args

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    parser.add_argument("--work", type=Path, default=Path("artifacts/groups"), help="intermediate files")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"training epochs (default {EPOCHS})")
    parser.add_argument("--smoke", action="store_true", help="1 epoch on 1,500 groups (~1 min)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    epochs, counts = (1, {1: 500, 2: 800, 3: 200}) if args.smoke else (args.epochs, COUNTS)
    try:
        data_dir = mnist.resolve_data_dir(args.data, args.download, args.cache)
        train(data_dir, args.work, epochs, counts)
        groups_pipeline.publish(args.work, args.out, data_dir, per_count=200 if args.smoke else 2_000)
    except mnist.MnistDataError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
