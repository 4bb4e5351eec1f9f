"""What the load generators send: a 28x28 MNIST PNG, a 640x480 photo-like JPEG of a digit, and
the hostile mix (blank pictures at the pixel limit)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from train import mnist


@dataclass(frozen=True)
class Upload:
    path: Path
    content_type: str


def make_inputs(out: Path) -> dict[str, Upload]:
    test = mnist.load_split(mnist.default_data_dir() or Path("../shared/data/mnist"), "t10k")
    png = out / "digit28.png"
    Image.fromarray(test.images[0]).save(png)
    rng = np.random.default_rng(1)
    ink = Image.fromarray(test.images[1]).resize((300, 300), Image.Resampling.BICUBIC)
    mask = Image.new("L", (640, 480), 0)
    mask.paste(ink, (170, 90))
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    a = np.asarray(mask, np.float32)[..., None] / 255.0
    paper = np.array([228, 222, 210], np.float32)
    rgb = paper * (1 - a) + np.array([30, 30, 60], np.float32) * a + rng.normal(0, 6, (480, 640, 1))
    jpg = out / "photo640x480.jpg"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(jpg, quality=85)
    return {"png28": Upload(png, "image/png"), "jpeg640": Upload(jpg, "image/jpeg")}


def blank_png(mode: str, pixels: int) -> bytes:
    """A blank picture of `pixels` pixels (8:5): ~120-160 KB on the wire, 40-320 MB decoded."""
    width = int((pixels * 8 / 5) ** 0.5)
    height = pixels // width
    buf = io.BytesIO()
    Image.new(mode, (width, height), "white").save(buf, format="PNG")
    return buf.getvalue()


def multipart(files: list[tuple[str, bytes]], boundary: str = "benchhostile") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
