"""The ONNX model behind a small wrapper: initialise once, execute on a batch, close once.

Everything about the model (file, input name, layout, normalisation, labels) comes from its
card; nothing here knows it is a CNN for MNIST.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.core.card import ModelCard, ModelCardError, sha256_file

log = logging.getLogger(__name__)

# What a session raises: ORT's own exception classes derive from Exception directly (not from
# RuntimeError), so they are listed from its binding; numpy's shape errors are ValueErrors.
ORT_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    ValueError,
    *(
        c
        for c in vars(ort.capi.onnxruntime_pybind11_state).values()
        if isinstance(c, type) and issubclass(c, Exception)
    ),
)


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
        except ORT_ERRORS as exc:
            raise ModelCardError(f"onnxruntime cannot load {card.model_file}: {exc}") from exc
        names = [i.name for i in self.session.get_inputs()]
        if card.input.name not in names:
            raise ModelCardError(f"the model has inputs {names}, the card names {card.input.name!r}")
        self.threads = opts.intra_op_num_threads

    def to_tensor(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W] -> the model's input tensor, normalised as the card says."""
        norm = self.card.normalisation
        x = frames.astype(np.float32)
        x *= norm.scale
        if norm.mean:
            x -= norm.mean
        if norm.std != 1.0:
            x /= norm.std
        return self.to_layout(x)

    def to_layout(self, x: np.ndarray) -> np.ndarray:
        """Any [N, H, W(, 1)] or [N, H*W] float tensor -> the layout the model takes."""
        n, h, w = x.shape[0], self.card.input.height, self.card.input.width
        if self.card.input.layout == "NHWC":
            return x.reshape(n, h, w, 1)
        if self.card.input.layout == "NCHW":
            return x.reshape(n, 1, h, w)
        return x.reshape(n, h * w)

    def run_tensor(self, tensor: np.ndarray) -> np.ndarray:
        out = self.session.run([self.card.output.name], {self.card.input.name: tensor})[0]
        return np.asarray(out, dtype=np.float32)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, H, W] -> probabilities [N, classes]."""
        return self.run_tensor(self.to_tensor(frames))

    def warm_up(self) -> None:
        self.predict(np.zeros((1, self.card.input.height, self.card.input.width), dtype=np.uint8))

    def close(self) -> None:
        # ORT frees the session with the object; drop our reference so it can.
        del self.session
