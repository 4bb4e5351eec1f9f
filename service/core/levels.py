"""Grey levels: statistics on a subsample, Otsu's threshold, and the paper's lighting (a smooth
surface under the ink) -- what framing judges a picture's ink by. Pure functions."""

from __future__ import annotations

import numpy as np

# Statistics (percentiles, thresholds) are taken on at most this many pixels: plenty for a
# histogram, and their cost no longer grows with the picture.
STAT_SAMPLES = 16_384
OTSU_BINS = 64
# Polarity is voted by how far the 1st and 99th percentiles lie from the median; when neither is
# EVEN_TAILS times the other, the ink (under 1 % of the picture) moved neither, and the darkest
# and brightest EXTREMES of the pixels around the paper's lighting decide instead. The hairline
# family (a 1-3 px pen photographed on a page lit unevenly) had 13 of 200 refused as blank.
EVEN_TAILS = 1.5
EXTREMES = 0.001


def sample(values: np.ndarray) -> np.ndarray:
    """A regular subsample of at most ~STAT_SAMPLES values, for statistics."""
    flat = values.ravel()
    return flat[:: max(1, flat.size // STAT_SAMPLES)]


def quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Nearest-rank quantiles by one sort: np.percentile costs far more on arrays this small."""
    ordered = np.sort(values, axis=None)
    last = ordered.size - 1
    return [float(ordered[round(q * last)]) for q in qs]


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (64 bins)."""
    bins = np.clip((values * OTSU_BINS).astype(np.int32), 0, OTSU_BINS - 1)
    hist = np.bincount(bins.ravel(), minlength=OTSU_BINS)
    p = hist.astype(np.float64) / max(int(hist.sum()), 1)
    centres = (np.arange(OTSU_BINS) + 0.5) / OTSU_BINS
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1.0 - w0))
    return float((int(np.argmax(np.nan_to_num(between))) + 1) / OTSU_BINS)


def surface(values: np.ndarray, background_only: bool = True) -> np.ndarray | None:
    """A smooth (quadratic) surface fitted to the picture's background: to the pixels under Otsu's
    threshold, or to all of them (ink too sparse to pull it); None if too few pixels to fit."""
    h, w = values.shape
    step = max(1, int(np.sqrt(h * w / 4096)))  # ~4k samples are plenty for 6 parameters
    sample = values[::step, ::step]
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    ys = ys.astype(np.float32) / h - 0.5
    xs = xs.astype(np.float32) / w - 0.5
    background = sample <= otsu(sample) if background_only else np.ones(sample.shape, bool)
    if background.sum() < 12:
        return None
    basis = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=-1)
    a, b = basis[background].astype(np.float64), sample[background].astype(np.float64)
    # Normal equations of a 6-parameter least-squares fit (a tiny ridge keeps them well-posed).
    coef = np.linalg.solve(a.T @ a + 1e-6 * np.eye(6), a.T @ b)
    fy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    fx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    fitted = coef[0] + coef[1] * fx + coef[2] * fy + coef[3] * fx * fx + coef[4] * fx * fy + coef[5] * fy * fy
    return np.asarray(fitted, dtype=np.float32)


def flatten(ink: np.ndarray) -> np.ndarray:
    """Subtract a smooth background fitted to the non-ink pixels: uneven lighting, shadows and
    vignetting in photos become a flat black background."""
    under = surface(ink)
    return ink if under is None else np.asarray(ink - under, dtype=np.float32)


def dark_ink(grey: np.ndarray) -> bool:
    """Whether the ink is darker than the paper, judged by the extremes around the paper's own
    lighting: the darkest and brightest EXTREMES of the pixels, from a surface fitted to all."""
    under = surface(grey, background_only=False)
    residual = (grey if under is None else grey - under).ravel()
    k = max(1, int(residual.size * EXTREMES))
    darkest = float(np.partition(residual, k)[:k].mean())
    brightest = float(np.partition(residual, residual.size - k)[-k:].mean())
    return -darkest > brightest


def colour_axis(rgb: np.ndarray) -> np.ndarray | None:
    """RGB [0, 1] -> grey along the colours' main axis (the first principal component), in the
    same units as grey levels: ink as bright as its paper but of another colour (red on green)
    differs along it as a dark pen does in grey. None when the picture has one colour."""
    flat = rgb.reshape(-1, 3)
    picked = flat[:: max(1, flat.shape[0] // STAT_SAMPLES)].astype(np.float64)
    if picked.shape[0] < 2:
        return None
    _, vectors = np.linalg.eigh(np.cov(picked, rowvar=False))
    axis = vectors[:, -1]
    if axis.sum() < 0:  # brighter colours stay brighter, as far as the axis allows
        axis = -axis
    along = flat @ axis.astype(np.float32)
    lo, hi = float(along.min()), float(along.max())
    if hi - lo < 1e-6:
        return None
    # Two colours can lie up to sqrt(3) apart: beyond 1 the scale shrinks, below it stays absolute.
    return np.asarray(((along - lo) / max(1.0, hi - lo)).reshape(rgb.shape[:2]), dtype=np.float32)


def border(values: np.ndarray) -> np.ndarray:
    """The values along a 2-D array's border, each pixel once."""
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def mass_bounds(profile: np.ndarray, trim: float) -> tuple[int, int]:
    """The first and last index of a profile (ink summed along rows or columns) once `trim` of its
    mass is left off each end: a speck far from the digit does not stretch its box."""
    cum = np.cumsum(profile)
    total = cum[-1]
    lo = int(np.searchsorted(cum, total * trim, side="right"))
    hi = int(np.searchsorted(cum, total * (1.0 - trim), side="left"))
    return lo, max(hi, lo)
