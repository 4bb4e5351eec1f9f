"""MNIST in its canonical IDX format: find, verify and load the four files.

Numpy only (no TensorFlow), so evaluation and tests can use it in a light environment.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# sha256 of the *decompressed* payloads: they hold for every public mirror's .gz files
# and for repacked copies alike, whereas the .gz bytes differ between sources.
CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"


class MnistDataError(Exception):
    """A data file is missing, malformed or does not match its known checksum."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28], white ink on black, as published
    labels: np.ndarray  # uint8 [N]


def default_data_dir() -> Path | None:
    """`../shared/data/mnist` beside the project, when it is there."""
    return DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else None


def test_split(data: Path | None) -> Split:
    """MNIST's test split from `data`, else from ../shared/data/mnist (the generated sets' source)."""
    directory = data or default_data_dir()
    if directory is None:
        raise MnistDataError("no MNIST directory: pass --data DIR")
    return load_split(directory, "t10k")


def _read_verified(directory: Path, name: str) -> bytes:
    path = directory / f"{name}.gz"
    if not path.is_file():
        raise MnistDataError(f"MNIST file missing: {path}")
    try:
        with gzip.open(path, "rb") as fh:
            payload = fh.read()
    except (OSError, EOFError) as exc:
        raise MnistDataError(f"MNIST file unreadable: {path}: {exc}") from exc
    digest = hashlib.sha256(payload).hexdigest()
    if digest != CHECKSUMS[name]:
        raise MnistDataError(
            f"MNIST file has the wrong content: {path} (sha256 of payload {digest}, expected {CHECKSUMS[name]})"
        )
    return payload


def parse_idx_images(payload: bytes) -> np.ndarray:
    header = np.frombuffer(payload, dtype=">i4", count=4)
    magic, count, rows, cols = (int(v) for v in header)
    if magic != IMAGE_MAGIC:
        raise MnistDataError(f"not an IDX image file (magic {magic})")
    return np.frombuffer(payload, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def parse_idx_labels(payload: bytes) -> np.ndarray:
    magic, count = (int(v) for v in np.frombuffer(payload, dtype=">i4", count=2))
    if magic != LABEL_MAGIC:
        raise MnistDataError(f"not an IDX label file (magic {magic})")
    return np.frombuffer(payload, dtype=np.uint8, offset=8, count=count)


def load_split(directory: Path, split: str) -> Split:
    """Load `train` or `t10k` from a directory holding the canonical .gz files."""
    if split not in ("train", "t10k"):
        raise ValueError(f"unknown split {split!r}")
    images = parse_idx_images(_read_verified(directory, f"{split}-images-idx3-ubyte"))
    labels = parse_idx_labels(_read_verified(directory, f"{split}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise MnistDataError(f"{split}: {len(images)} images but {len(labels)} labels")
    return Split(images=images, labels=labels)


def data_checksums() -> dict[str, str]:
    return dict(CHECKSUMS)


def download(directory: Path) -> Path:
    """Fetch the four files from a public mirror into `directory` (opt-in; never used by tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in CHECKSUMS:
        target = directory / f"{name}.gz"
        if target.is_file():
            continue
        for mirror in MIRRORS:
            url = mirror + target.name
            log.info("downloading %s", url)
            try:
                with (
                    urllib.request.urlopen(url, timeout=60) as resp,
                    tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp,
                ):
                    shutil.copyfileobj(resp, tmp)
                Path(tmp.name).replace(target)
                break
            except OSError as exc:
                log.warning("mirror failed: %s: %s", url, exc)
        else:
            raise MnistDataError(f"could not download {target.name} from any mirror")
    for name in CHECKSUMS:
        _read_verified(directory, name)
    return directory


def resolve_data_dir(data: Path | None, do_download: bool, cache: Path) -> Path:
    """The directory to load from: --data, else ../shared/data/mnist, else a download."""
    if data is not None:
        return data
    found = default_data_dir()
    if found is not None:
        return found
    if do_download:
        return download(cache)
    raise MnistDataError("no MNIST directory: pass --data DIR (four IDX .gz files) or --download")
