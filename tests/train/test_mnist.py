from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from train import mnist


def test_loads_and_verifies_the_canonical_files(mnist_dir: Path) -> None:
    test = mnist.load_split(mnist_dir, "t10k")
    assert test.images.shape == (10_000, 28, 28)
    assert test.images.dtype == np.uint8
    # The README's published first test labels.
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(test.labels, minlength=10).sum() == 10_000


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in mnist.CHECKSUMS:
        shutil.copy(src / f"{name}.gz", dst / f"{name}.gz")
    return dst


def test_a_missing_file_is_named(mnist_dir: Path, tmp_path: Path) -> None:
    data = _copy(mnist_dir, tmp_path / "d")
    (data / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(mnist.MnistDataError, match=r"missing.*t10k-labels-idx1-ubyte\.gz"):
        mnist.load_split(data, "t10k")


def test_a_wrong_file_is_named(mnist_dir: Path, tmp_path: Path) -> None:
    data = _copy(mnist_dir, tmp_path / "d")
    target = data / "t10k-images-idx3-ubyte.gz"
    with gzip.open(target, "rb") as fh:
        payload = bytearray(fh.read())
    payload[5000] ^= 0xFF  # one flipped pixel byte
    with gzip.open(target, "wb") as fh:
        fh.write(bytes(payload))
    with pytest.raises(mnist.MnistDataError, match=r"wrong content.*t10k-images-idx3-ubyte\.gz"):
        mnist.load_split(data, "t10k")


def test_a_file_that_is_not_gzip_is_named(mnist_dir: Path, tmp_path: Path) -> None:
    data = _copy(mnist_dir, tmp_path / "d")
    (data / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(mnist.MnistDataError, match=r"train-labels-idx1-ubyte\.gz"):
        mnist.load_split(data, "train")


def test_idx_magic_is_checked() -> None:
    with pytest.raises(mnist.MnistDataError, match="magic"):
        mnist.parse_idx_images(np.array([2049, 1, 28, 28], dtype=">i4").tobytes() + bytes(784))


def test_no_data_dir_and_no_download_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "default_data_dir", lambda: None)
    with pytest.raises(mnist.MnistDataError, match="--data"):
        mnist.resolve_data_dir(None, False, tmp_path)
