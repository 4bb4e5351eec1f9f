"""Train the digit classifier on MNIST (Keras 3, TensorFlow backend).

Reads top to bottom: constants, data, model, training, saving. Writes into --out:
  model.keras      the trained Keras model
  history.json     per-epoch loss/accuracy (train and validation)
  curves.png       the same as a picture
  train_meta.json  recipe, seed, data checksums, versions, wall time: the model card's inputs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

# Quiet TensorFlow's C++ start-up chatter before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from train import hands, mnist, served
from train.augment import AugmentConfig, augment_batch
from train.model import NUM_CLASSES, build_model, multiply_adds

log = logging.getLogger("train")

SEED = 20261125
EPOCHS = 15
BATCH_SIZE = 128
PEAK_LR = 2e-3
WEIGHT_DECAY = 1e-4
LABEL_SMOOTHING = 0.05
VALIDATION_SIZE = 5_000  # held out of the 60k training images, for honest curves
# Normalisation the service must reproduce: pixel / 255, white ink on black, NHWC.
SCALE = 1.0 / 255.0


def prepare(images: np.ndarray) -> np.ndarray:
    # Scale to [0, 1] and add the channel axis the convolutions expect.
    return (images.astype(np.float32) * SCALE)[..., np.newaxis]


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment: AugmentConfig | None) -> tf.data.Dataset:
    # One-hot labels, because label smoothing needs them.
    y1 = keras.utils.to_categorical(y, NUM_CLASSES).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y1))
    if augment is None:
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    ds = ds.shuffle(len(x), seed=SEED, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
    # A counter gives every batch its own stateless seed: reproducible, never repeated.
    counter = tf.data.Dataset.counter()
    ds = tf.data.Dataset.zip((counter, ds))

    def _aug(i: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        images, labels = batch
        seed = tf.stack([tf.constant(SEED, tf.int64), i])
        return augment_batch(images, seed, augment), labels

    return ds.map(_aug, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["loss"], label="train")
    ax1.plot(epochs, history["val_loss"], label="validation")
    ax1.set_title("loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.plot(epochs, history["accuracy"], label="train (augmented)")
    ax2.plot(epochs, history["val_accuracy"], label="validation")
    ax2.set_title("accuracy")
    ax2.set_xlabel("epoch")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(data_dir: Path, out: Path, epochs: int, limit: int | None) -> dict[str, object]:
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)

    # --- data ---
    split = mnist.load_split(data_dir, "train")
    x_all, y_all = prepare(split.images), split.labels
    x_train, y_train = x_all[:-VALIDATION_SIZE], y_all[:-VALIDATION_SIZE]
    x_val, y_val = x_all[-VALIDATION_SIZE:], y_all[-VALIDATION_SIZE:]
    if limit is not None:
        # Smoke runs: a small, still class-balanced slice (MNIST is shuffled).
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_val, y_val = x_val[: max(limit // 5, 100)], y_val[: max(limit // 5, 100)]
    # Hands MNIST under-represents (European 1s, crossed 7s, hairline to marker pens, digits cut
    # by the picture's edge), made from training digits only: validation stays pure MNIST.
    extra_x, extra_y = hands.variants(split.images[: len(x_train)], y_train, SEED)
    # Training digits drawn as pictures (photos, mouse drawings, ruled and boxed paper) and framed
    # by the service itself: the model learns the frames it is shown, not only MNIST's.
    shown_x, shown_y = served.frames(split.images[: len(x_train)], y_train, SEED)
    x_train = np.concatenate([x_train, prepare(extra_x), prepare(shown_x)])
    y_train = np.concatenate([y_train, extra_y, shown_y])
    aug = AugmentConfig()
    steps = len(x_train) // BATCH_SIZE
    train_ds = make_dataset(x_train, y_train, BATCH_SIZE, aug)
    val_ds = make_dataset(x_val, y_val, 512, None)

    # --- model ---
    # Short (smoke) runs: faster-moving batch-norm statistics, see build_model.
    bn_momentum = 0.9 if limit is not None else 0.99
    model = build_model(bn_momentum=bn_momentum)
    # Warm up for one epoch, then cosine decay: stable start with batch norm, fine finish.
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=PEAK_LR / 10,
        decay_steps=max(steps * (epochs - 1), 1),
        alpha=0.01,
        warmup_target=PEAK_LR,
        warmup_steps=steps,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=WEIGHT_DECAY),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
        metrics=["accuracy"],
    )
    log.info(
        "training %d images (%d validation), %d epochs of %d steps, %d parameters, %d MACs/image",
        len(x_train),
        len(x_val),
        epochs,
        steps,
        model.count_params(),
        multiply_adds(model),
    )

    # --- train ---
    started = time.monotonic()
    hist = model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    wall = time.monotonic() - started
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    history.pop("learning_rate", None)

    # --- save ---
    model.save(out / "model.keras")
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    plot_curves(history, out / "curves.png")
    meta: dict[str, object] = {
        "seed": SEED,
        "recipe": {
            "architecture": "conv3x3(32)-conv3x3(32)-maxpool-conv3x3(64)-conv3x3(64)-maxpool-"
            "dense(128)-dense(10,softmax); batch norm after each conv/dense, dropout",
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "batch_norm_momentum": bn_momentum,
            "optimizer": f"AdamW(weight_decay={WEIGHT_DECAY})",
            "learning_rate": f"1 epoch linear warm-up to {PEAK_LR}, cosine decay to 1%",
            "loss": f"categorical cross-entropy, label smoothing {LABEL_SMOOTHING}",
            "augmentation": aug.as_dict(),
            "added_hands": dict(hands.TRAINING_HANDS),
            "added_served_pictures": dict(served.SERVED_FAMILIES),
            "train_images": len(x_train),
            "validation_images": len(x_val),
        },
        "parameters": int(model.count_params()),
        "multiply_adds_per_image": multiply_adds(model),
        "training_wall_time_s": round(wall, 1),
        "final_validation_accuracy": history["val_accuracy"][-1],
        "data_checksums_sha256": mnist.data_checksums(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "normalisation": {"scale": SCALE, "mean": 0.0, "std": 1.0, "ink": "white_on_black"},
    }
    (out / "train_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("trained in %.0f s; validation accuracy %.4f", wall, history["val_accuracy"][-1])
    return meta


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="directory with the four MNIST IDX .gz files (default: ../shared/data/mnist when present)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download MNIST from a public mirror into --cache if no data dir",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "mnist-idx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    parser.add_argument("--out", type=Path, default=Path("artifacts/train"))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        data_dir = mnist.resolve_data_dir(args.data, args.download, args.cache)
        train(data_dir, args.out, args.epochs, args.limit)
    except mnist.MnistDataError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
