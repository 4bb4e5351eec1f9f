"""Training-time augmentation: make MNIST look more like real uploads.

Real pictures reach the model through `service.core.framing`, which frames them the way MNIST
was framed, but never exactly: the crop is a pixel off, the digit is tilted, the pen was
thinner or thicker. Each augmentation below covers one of those differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    max_rotation_deg: float = 12.0  # hand-held photos are rarely more tilted than this
    scale_range: tuple[float, float] = (0.85, 1.15)  # the 20-px box is only approximate
    max_shift_px: float = 2.5  # centre of mass vs. bounding box disagreements
    max_shear: float = 0.15  # slanted handwriting
    p_thicken: float = 0.15  # felt-tip pens, canvas brushes
    p_thin: float = 0.10  # ball-point pens, downscaled photos

    def as_dict(self) -> dict[str, object]:
        return {
            "max_rotation_deg": self.max_rotation_deg,
            "scale_range": list(self.scale_range),
            "max_shift_px": self.max_shift_px,
            "max_shear": self.max_shear,
            "p_thicken": self.p_thicken,
            "p_thin": self.p_thin,
        }


def _affine_params(batch: int, size: int, cfg: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Per-image inverse affine maps (output pixel -> input pixel) for ImageProjectiveTransform."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    max_rot = cfg.max_rotation_deg * math.pi / 180.0
    angle = tf.random.stateless_uniform([batch], seeds[0], -max_rot, max_rot)
    scale = tf.random.stateless_uniform([batch], seeds[1], *cfg.scale_range)
    shear = tf.random.stateless_uniform([batch], seeds[2], -cfg.max_shear, cfg.max_shear)
    tx = tf.random.stateless_uniform([batch], seeds[3], -cfg.max_shift_px, cfg.max_shift_px)
    ty = tf.random.stateless_uniform([batch], seeds[4], -cfg.max_shift_px, cfg.max_shift_px)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Inverse of (scale * rotate * shear): rotate back, undo shear, divide by scale.
    m00 = cos / scale
    m01 = (sin - shear * cos) / scale
    m10 = -sin / scale
    m11 = (cos + shear * sin) / scale
    c = (size - 1) / 2.0
    a2 = c - m00 * (c + tx) - m01 * (c + ty)
    b2 = c - m10 * (c + tx) - m11 * (c + ty)
    zeros = tf.zeros([batch])
    return tf.stack([m00, m01, a2, m10, m11, b2, zeros, zeros], axis=1)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """images: float32 [B, 28, 28, 1] in [0, 1]; returns the same shape, deterministic per seed."""
    batch = tf.shape(images)[0]
    size = images.shape[1]
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    transforms = _affine_params(batch, size, cfg, seeds[0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([size, size]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    # Stroke width: a 2x2 max filter thickens by about a pixel, a min filter thins.
    thick = tf.nn.max_pool2d(out, ksize=2, strides=1, padding="SAME")
    thin = -tf.nn.max_pool2d(-out, ksize=2, strides=1, padding="SAME")
    u = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1])
    out = tf.where(u < cfg.p_thicken, thick, out)
    out = tf.where((u >= cfg.p_thicken) & (u < cfg.p_thicken + cfg.p_thin), thin, out)
    return tf.clip_by_value(out, 0.0, 1.0)
