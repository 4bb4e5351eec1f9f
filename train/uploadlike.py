"""Make an "upload-like" evaluation set from MNIST *test* digits, deterministically.

Real uploads are photos or scans: dark ink on light paper, the digit somewhere inside a larger
picture, a little tilted, blurred, on textured and unevenly lit paper, saved as RGB or RGBA,
PNG or JPEG. Each file is named `<digit>_<index>.<ext>` so the evaluation command reads its
label from the name. Nothing here is committed: the same seed always gives the same files.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from train import mnist

log = logging.getLogger("uploadlike")

SEED = 7
COUNT = 1000


def render(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """One MNIST frame (uint8 28x28, white on black) -> an encoded photo-like picture."""
    canvas = int(rng.integers(64, 801))
    # The digit's 28-px frame covers 35-90 % of the shorter canvas side.
    frame_px = max(28, int(canvas * rng.uniform(0.35, 0.9)))
    width = canvas
    height = int(canvas * rng.uniform(0.75, 1.33))
    frame_px = min(frame_px, width, height)
    ink = Image.fromarray(digit, mode="L").resize((frame_px, frame_px), Image.Resampling.BICUBIC)
    ink = ink.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC)
    mask = Image.new("L", (width, height), 0)
    mask.paste(ink, (int(rng.integers(0, width - frame_px + 1)), int(rng.integers(0, height - frame_px + 1))))
    blur = rng.uniform(0.0, 1.5) * canvas / 200
    if blur > 0.3:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255.0

    paper = np.array(rng.uniform(170, 250, size=3), dtype=np.float32)
    pen = np.array(rng.uniform(0, 90, size=3), dtype=np.float32)
    if rng.random() < 0.3:  # blue ball-point
        pen = np.array([rng.uniform(10, 60), rng.uniform(20, 80), rng.uniform(110, 200)], np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Uneven lighting: a shadow falling across the page in a random direction.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1.0 - rng.uniform(0.0, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    grain = rng.normal(0.0, rng.uniform(1.0, 10.0), size=(height, width, 1)).astype(np.float32)
    rgb = (paper * (1 - alpha) + pen * alpha) * light[..., None] + grain
    rgb8 = np.clip(rgb, 0, 255).astype(np.uint8)

    buf = io.BytesIO()
    kind = rng.random()
    if kind < 0.15:
        # A dark digit on a transparent background, as drawing apps export it.
        rgba = np.dstack([np.broadcast_to(pen.astype(np.uint8), rgb8.shape), (alpha[..., 0] * 255).astype(np.uint8)])
        Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
        return buf.getvalue(), "png"
    image = Image.fromarray(rgb8, mode="RGB")
    if kind < 0.35:
        image.save(buf, format="PNG")
        return buf.getvalue(), "png"
    if kind < 0.45:
        image.convert("L").save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
        return buf.getvalue(), "jpg"
    image.save(buf, format="JPEG", quality=int(rng.integers(30, 96)))
    return buf.getvalue(), "jpg"


def generate(split: mnist.Split, count: int = COUNT, seed: int = SEED) -> list[tuple[str, bytes, int]]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(split.images), size=count, replace=False)
    out = []
    for i, idx in enumerate(picks):
        data, ext = render(split.images[idx], rng)
        label = int(split.labels[idx])
        out.append((f"{label}_{i:04d}_t{int(idx):05d}.{ext}", data, label))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="MNIST IDX directory")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pictures to")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        data_dir = args.data or mnist.default_data_dir()
        if data_dir is None:
            raise mnist.MnistDataError("no MNIST directory: pass --data DIR")
        split = mnist.load_split(data_dir, "t10k")
    except mnist.MnistDataError as exc:
        log.error("%s", exc)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data, _ in generate(split, args.count, args.seed):
        (args.out / name).write_bytes(data)
    log.info("wrote %d pictures to %s", args.count, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
