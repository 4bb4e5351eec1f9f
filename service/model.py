"""The ONNX model behind a small wrapper: initialise once, execute on a batch, close once.

Everything about the model (file, input name, layout, normalisation, labels) comes from the
model card JSON written by the pipeline; nothing here knows it is a CNN for MNIST.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)


class ModelCardError(Exception):
    """The model card or the model file is missing, inconsistent or unusable."""


@dataclass(frozen=True)
class ModelCard:
    path: Path  # the card itself
    model_file: Path
    sha256: str
    version: str
    input_name: str
    output_name: str
    layout: str  # "NHWC", "NCHW" or "NF" (flat [N, H*W])
    height: int
    width: int
    scale: float
    mean: float
    std: float
    labels: tuple[str, ...]
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            inp, out, norm = raw["input"], raw["output"], raw["normalisation"]
            card = cls(
                path=path,
                model_file=(path.parent / raw["model_file"]).resolve(),
                sha256=str(raw["sha256"]),
                version=str(raw.get("version", raw["sha256"][:12])),
                input_name=str(inp["name"]),
                output_name=str(out["name"]),
                layout=str(inp["layout"]),
                height=int(inp["height"]),
                width=int(inp["width"]),
                scale=float(norm["scale"]),
                mean=float(norm["mean"]),
                std=float(norm["std"]),
                labels=tuple(str(v) for v in raw["labels"]),
                raw=raw,
            )
        except FileNotFoundError as exc:
            raise ModelCardError(f"model card not found: {path}") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelCardError(f"model card {path} is unreadable: {exc!r}") from exc
        if card.layout not in ("NHWC", "NCHW", "NF"):
            raise ModelCardError(f"model card {path}: unknown layout {card.layout!r}")
        if card.std == 0.0:
            raise ModelCardError(f"model card {path}: normalisation std is 0")
        return card


def usable_cpus() -> int:
    """CPUs this process may really use: affinity mask and cgroup v2/v1 CPU quota, not the host's."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, int(quota + 0.5)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxModel:
    """One ONNX Runtime session; `predict` takes uint8 frames [N, H, W] (white ink on black)."""

    def __init__(
        self,
        card: ModelCard,
        intra_threads: int | None = None,
        inter_threads: int = 1,
        verify_sha: bool = True,
    ) -> None:
        if not card.model_file.is_file():
            raise ModelCardError(f"model file not found: {card.model_file}")
        if verify_sha:
            actual = sha256_file(card.model_file)
            if actual != card.sha256:
                raise ModelCardError(f"model file {card.model_file} has sha256 {actual}, the card says {card.sha256}")
        self.card = card
        # No telemetry from a service that handles user uploads (and no home dir to persist it in).
        ort.disable_telemetry_events()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = intra_threads if intra_threads else usable_cpus()
        opts.inter_op_num_threads = inter_threads
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning threads burn CPU the HTTP side needs between requests.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(card.model_file), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except (RuntimeError, ValueError) as exc:  # ORT raises its own subclasses of these
            raise ModelCardError(f"onnxruntime cannot load {card.model_file}: {exc}") from exc
        names = [i.name for i in self.session.get_inputs()]
        if card.input_name not in names:
            raise ModelCardError(f"the model has inputs {names}, the card names {card.input_name!r}")
        self.threads = opts.intra_op_num_threads

    def to_tensor(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W] -> the model's input tensor, normalised as the card says."""
        x = frames.astype(np.float32)
        x *= self.card.scale
        if self.card.mean:
            x -= self.card.mean
        if self.card.std != 1.0:
            x /= self.card.std
        n = x.shape[0]
        if self.card.layout == "NHWC":
            return x.reshape(n, self.card.height, self.card.width, 1)
        if self.card.layout == "NCHW":
            return x.reshape(n, 1, self.card.height, self.card.width)
        return x.reshape(n, self.card.height * self.card.width)

    def run_tensor(self, tensor: np.ndarray) -> np.ndarray:
        out = self.session.run([self.card.output_name], {self.card.input_name: tensor})[0]
        return np.asarray(out, dtype=np.float32)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, H, W] -> probabilities [N, classes]."""
        return self.run_tensor(self.to_tensor(frames))

    def warm_up(self) -> None:
        self.predict(np.zeros((1, self.card.height, self.card.width), dtype=np.uint8))

    def close(self) -> None:
        # ORT frees the session with the object; drop our reference so it can.
        del self.session
