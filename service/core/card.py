"""The model card: the contract between the build (train/, convert/) and the service.

One typed class writes it (the pipeline, the quantiser) and reads it (the service, evaluation).
The fields the service needs to run the model are typed; what the build measured (accuracy per
set, parity, recipe, versions) travels in `figures` and is served as it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAYOUTS = ("NHWC", "NCHW", "NF")  # NF: flat [N, H*W]
# The fields that say how to run a model; a derived model (e.g. quantised) keeps them.
_CONTRACT = ("input", "output", "normalisation", "labels", "opset")
# Keys of the JSON file that the typed fields below own; everything else is a measured figure.
_OWN_KEYS = (
    "name",
    "version",
    "model_file",
    "sha256",
    "created",
    "input",
    "output",
    "normalisation",
    "labels",
    "opset",
)


DEFAULT_UNCERTAIN_BELOW = 0.5


class ModelCardError(Exception):
    """The model card or the model file is missing, inconsistent or unusable."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    layout: str = ""  # inputs only
    height: int = 0
    width: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.layout:
            out |= {"layout": self.layout, "height": self.height, "width": self.width}
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TensorSpec:
        return cls(
            name=str(raw["name"]),
            shape=tuple(None if d is None else int(d) for d in raw.get("shape", ())),
            dtype=str(raw.get("dtype", "float32")),
            layout=str(raw.get("layout", "")),
            height=int(raw.get("height", 0)),
            width=int(raw.get("width", 0)),
        )


@dataclass(frozen=True)
class Normalisation:
    scale: float
    mean: float = 0.0
    std: float = 1.0
    notes: dict[str, str] = field(default_factory=dict)  # ink polarity, framing: for people

    def to_json(self) -> dict[str, Any]:
        return {"scale": self.scale, "mean": self.mean, "std": self.std, **self.notes}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Normalisation:
        notes = {k: str(v) for k, v in raw.items() if k not in ("scale", "mean", "std")}
        return cls(float(raw["scale"]), float(raw.get("mean", 0.0)), float(raw.get("std", 1.0)), notes)


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    model_file: Path  # absolute once loaded; written relative to the card
    sha256: str
    created: str
    input: TensorSpec
    output: TensorSpec
    normalisation: Normalisation
    labels: tuple[str, ...]
    opset: int
    figures: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where it was read from

    # --- building and deriving (the pipeline and the quantiser) ---
    @classmethod
    def for_model(cls, name: str, onnx_file: Path, **fields: Any) -> ModelCard:
        """A card for a freshly written ONNX file: its sha256, version and creation time."""
        sha = sha256_file(onnx_file)
        return cls(
            name=name,
            version=f"{name}-{sha[:12]}",
            model_file=onnx_file.resolve(),
            sha256=sha,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **fields,
        )

    def derive(self, name: str, onnx_file: Path, drop: tuple[str, ...] = ()) -> ModelCard:
        """The card of a model made from this one (e.g. quantised): the same contract, a new file,
        the figures but those in `drop` (they were measured on the other model)."""
        fresh = ModelCard.for_model(name, onnx_file, **{k: getattr(self, k) for k in _CONTRACT})
        return fresh.with_figures(**{k: v for k, v in self.figures.items() if k not in drop})

    def with_figures(self, **figures: Any) -> ModelCard:
        return dataclasses.replace(self, figures={**self.figures, **figures})

    @property
    def uncertain_below(self) -> float:
        """Answers less confident than this are flagged `uncertain`: the threshold calibrated on
        the upload-like set (figures.uncertain.threshold), or DEFAULT_UNCERTAIN_BELOW without one."""
        calibrated = self.figures.get("uncertain")
        if isinstance(calibrated, dict) and isinstance(calibrated.get("threshold"), int | float):
            return float(calibrated["threshold"])
        return DEFAULT_UNCERTAIN_BELOW

    # --- JSON ---
    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "model_file": self.model_file.name,
            "sha256": self.sha256,
            "created": self.created,
            "input": self.input.to_json(),
            "output": self.output.to_json(),
            "normalisation": self.normalisation.to_json(),
            "labels": list(self.labels),
            "opset": self.opset,
            **self.figures,
        }

    def write(self, path: Path) -> ModelCard:
        """Write the card beside its model file; returns it as read back."""
        if path.parent.resolve() != self.model_file.parent.resolve():
            raise ModelCardError(f"a card is written beside its model: {path} vs {self.model_file}")
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return ModelCard.load(path)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            card = cls(
                name=str(raw.get("name", "")),
                version=str(raw.get("version", raw["sha256"][:12])),
                model_file=(path.parent / raw["model_file"]).resolve(),
                sha256=str(raw["sha256"]),
                created=str(raw.get("created", "")),
                input=TensorSpec.from_json(raw["input"]),
                output=TensorSpec.from_json(raw["output"]),
                normalisation=Normalisation.from_json(raw["normalisation"]),
                labels=tuple(str(v) for v in raw["labels"]),
                opset=int(raw.get("opset", 0)),
                figures={k: v for k, v in raw.items() if k not in _OWN_KEYS},
                path=path,
            )
        except FileNotFoundError as exc:
            raise ModelCardError(f"model card not found: {path}") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelCardError(f"model card {path} is unreadable: {exc!r}") from exc
        if card.input.layout not in LAYOUTS:
            raise ModelCardError(f"model card {path}: unknown layout {card.input.layout!r}")
        if card.input.height <= 0 or card.input.width <= 0:
            raise ModelCardError(f"model card {path}: input height and width must be positive")
        if card.normalisation.std == 0.0:
            raise ModelCardError(f"model card {path}: normalisation std is 0")
        if not card.labels:
            raise ModelCardError(f"model card {path}: no labels")
        return card
