"""The Open Inference Protocol's wire format, parsed and validated once at the door: JSON bodies,
and the binary tensor data extension Triton's and KServe's clients use by default (a JSON header
of `Inference-Header-Content-Length` bytes, then the tensors' raw little-endian bytes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.core.card import ModelCard
from service.errors import ServiceError

MODEL_NAME = "mnist"
MODEL_VERSION = "1"  # Triton's versions are numbers; the card's own version is in the metadata
HEADER_LENGTH = "inference-header-content-length"
MAX_TENSOR_BATCH = 1024
FP32 = np.dtype("<f4")
# The second output: for each image, whether the model's confidence is under the card's threshold
# (the `uncertain` of every /v1 answer), as Triton's BOOL (one byte per element in binary).
UNCERTAIN = "uncertain"


def output_names(card: ModelCard) -> tuple[str, str]:
    return card.output.name, UNCERTAIN


def _bad(message: str, code: str = "bad_request") -> ServiceError:
    return ServiceError(message, code=code)


def _split(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """(the JSON header, the binary part after it)."""
    if header_length is None:
        head, rest = body, b""
    else:
        try:
            size = int(header_length)
        except ValueError:
            raise _bad("Inference-Header-Content-Length is not a number", "bad_header_length") from None
        if not 0 < size <= len(body):
            raise _bad(
                f"Inference-Header-Content-Length {size} does not fit a body of {len(body)} bytes", "bad_header_length"
            )
        head, rest = body[:size], body[size:]
    try:
        return json.loads(head), rest
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _bad(f"the body is not JSON: {message}", "bad_json") from None


@dataclass(frozen=True)
class InferRequest:
    """A parsed, validated inference request: one input tensor, the outputs asked for and how."""

    id: str | None
    tensor: np.ndarray  # float32 [N, H, W]
    outputs: tuple[tuple[str, bool], ...]  # the outputs asked for (all when none is named), binary or not

    @classmethod
    def parse(cls, body: bytes, header_length: str | None, card: ModelCard) -> InferRequest:
        head, binary = _split(body, header_length)
        if not isinstance(head, dict) or not isinstance(head.get("inputs"), list) or len(head["inputs"]) != 1:
            raise _bad('the body must be {"inputs": [one tensor]}')
        spec = head["inputs"][0]
        if not isinstance(spec, dict):
            raise _bad("an input must be an object")
        if spec.get("name", card.input.name) != card.input.name:
            raise _bad(f"unknown input {spec.get('name')!r}: the model's input is {card.input.name!r}", "unknown_input")
        params = head.get("parameters") or {}
        if not isinstance(params, dict):
            raise _bad("parameters must be an object")
        binary_output = params.get("binary_data_output") is True  # the default of every output
        asked = head.get("outputs", [])
        if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
            raise _bad("outputs must be a list of objects")
        names = output_names(card)
        outputs = []
        for out in asked:
            if out.get("name") not in names:
                known = ", ".join(names)
                raise _bad(f"unknown output {out.get('name')!r}: the model's outputs are {known}", "unknown_output")
            out_params = out.get("parameters") or {}
            binary_data = out_params.get("binary_data") if isinstance(out_params, dict) else None
            outputs.append((str(out["name"]), binary_output if binary_data is None else binary_data is True))
        tensor = _tensor(spec, binary, card)
        request_id = head.get("id")
        chosen = tuple(outputs) or tuple((name, binary_output) for name in names)
        return cls(request_id if isinstance(request_id, str) else None, tensor, chosen)


def _tensor(spec: dict[str, Any], binary: bytes, card: ModelCard) -> np.ndarray:
    if spec.get("datatype") != "FP32":
        raise _bad(f"datatype must be FP32, got {spec.get('datatype')!r}", "bad_datatype")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise _bad("shape must be a list of positive integers", "bad_shape")
    h, w = card.input.height, card.input.width
    if shape[1:] not in ([h, w, 1], [h * w]):
        raise _bad(f"shape must be [N,{h},{w},1] or [N,{h * w}], got {shape}", "bad_shape")
    if shape[0] > MAX_TENSOR_BATCH:
        raise ServiceError(f"at most {MAX_TENSOR_BATCH} images per request", status=413, code="batch_too_large")
    need = shape[0] * h * w
    size = (spec.get("parameters") or {}).get("binary_data_size") if isinstance(spec.get("parameters"), dict) else None
    if size is not None:
        if size != need * FP32.itemsize or len(binary) != size:
            raise _bad(
                f"binary_data_size {size} with {len(binary)} bytes after the header: shape {shape} "
                f"needs {need * FP32.itemsize}",
                "bad_data",
            )
        data = np.frombuffer(binary, dtype=FP32).astype(np.float32)
    else:
        if binary:
            raise _bad("binary data after the header, but the input has no binary_data_size", "bad_data")
        try:
            data = np.asarray(spec.get("data"), dtype=np.float32)
        except (ValueError, TypeError, RecursionError) as exc:
            raise _bad(f"data must be numbers: {exc}", "bad_data") from None
    if data.size != need:
        raise _bad(f"data has {data.size} values, shape {shape} needs {need}", "bad_data")
    if not np.all(np.isfinite(data)):
        raise _bad("data must be finite numbers", "bad_data")
    return data.reshape(shape[0], h, w)


def infer_response(
    request: InferRequest, probs: np.ndarray, uncertain: np.ndarray, card: ModelCard
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or a JSON header and the raw tensors after it,
    in the order of the outputs."""
    tensors = {card.output.name: ("FP32", np.ascontiguousarray(probs, dtype=FP32)), UNCERTAIN: ("BOOL", uncertain)}
    outputs, raw = [], []
    for name, binary in request.outputs:
        datatype, tensor = tensors[name]
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(tensor.shape)}
        if binary:
            data = np.ascontiguousarray(tensor).tobytes()
            output["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            output["data"] = tensor.ravel().tolist()
        outputs.append(output)
    body: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": MODEL_VERSION, "outputs": outputs}
    if request.id is not None:
        body["id"] = request.id
    head = json.dumps(body, separators=(",", ":")).encode()
    if not raw:
        return head, {"content-type": "application/json"}
    return head + b"".join(raw), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
