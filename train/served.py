"""Training digits as the service frames pictures of them: the train/serve gap closed by data.

MNIST's frames were made by one scanner and one framing; the service frames phone photos,
mouse drawings, ruled and boxed paper itself (`service.core.framing`), and its frames differ
from MNIST's in ways the affine augmentation does not reach: a 1-px mouse stroke brought to
MNIST's width, a box's corner left beside the digit, a blurred photo's grey halo. Here MNIST
*training* digits are drawn by the upload-like renderers (`train/uploadlike.py`) and framed
by `framing.prepare`, the very call the service makes, so the model trains on what it is
shown. The card's families draw MNIST *test* digits through the same renderers: they measure
the renderers' hands on digits the model never saw, and the hidden real pictures are the
check that the renderers are real enough.

Rendering and framing cost ~45 ms a picture here, so the pictures are made by a pool of
processes (spawned: the trainer has TensorFlow loaded), in chunks seeded by their position so
the frames are the same whatever the number of processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os

import numpy as np

from service.core import framing
from service.errors import ServiceError
from train import uploadlike

log = logging.getLogger("train.served")

# How many of each family training adds to MNIST's 55,000 (drawn from the training digits).
# Mouse drawings weigh most: 5 of the 6 misses on real pictures at 8b151da were mouse drawings.
SERVED_FAMILIES = {
    "photo": 2000,
    "mouse": 4000,
    "hairline": 1500,
    "marker": 1500,
    "edge": 1000,
    "ruled": 2000,
    "desk": 1000,
    "boxed": 1000,
    "comb": 2000,
}
CHUNK = 250  # pictures a task: one random stream each


def _chunk(task: tuple[np.ndarray, np.ndarray, str, list[int]]) -> tuple[list[np.ndarray], list[int]]:
    digits, labels, family, seed = task
    render = next(f.render for f in uploadlike.FAMILIES if f.name == family)
    rng = np.random.default_rng(seed)
    frames, kept = [], []
    for digit, label in zip(digits, labels, strict=True):
        data, _ = render(digit, rng)
        try:
            frames.append(framing.prepare(data).pixels)
        except ServiceError:
            continue  # refused as the service would refuse it: not a training example
        kept.append(int(label))
    return frames, kept


def frames(
    images: np.ndarray, labels: np.ndarray, seed: int, processes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 frames [N, 28, 28], labels [N]) of training digits drawn by each family in
    SERVED_FAMILIES and framed by the service. The counts are for MNIST's 55,000; a smaller
    training slice gets proportionally fewer."""
    share = min(1.0, len(images) / 55_000)
    rng = np.random.default_rng([seed, 1])
    tasks = []
    for number, (family, full) in enumerate(SERVED_FAMILIES.items()):
        picks = rng.choice(len(images), size=max(1, round(full * share)), replace=True)
        for start in range(0, len(picks), CHUNK):
            part = picks[start : start + CHUNK]
            tasks.append((images[part], labels[part], family, [seed, number, start]))
    processes = processes or min(len(tasks), len(os.sched_getaffinity(0)))  # as train/groups.py counts them
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_chunk, tasks)
    else:
        results = [_chunk(task) for task in tasks]
    out = [frame for made, _ in results for frame in made]
    out_labels = [label for _, kept in results for label in kept]
    log.info("%d served pictures framed (%d refused)", len(out), sum(len(t[1]) for t in tasks) - len(out))
    return np.stack(out), np.asarray(out_labels, dtype=labels.dtype)
