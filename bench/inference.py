"""Inference alone: ORT bare against ORT through the service's wrapper, float against int8,
and both against what this CPU can do in multiply-adds (one large MatMul)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from bench.report import Report
from service.core.card import ModelCard
from service.core.model import OnnxModel
from tests.utils import ROOT
from train import mnist

log = logging.getLogger("bench")


def inference_alone(report: Report) -> None:
    """ORT latency at batch 1 and throughput at the best batch, bare and through our wrapper,
    against what the CPU can do in multiply-adds (measured with a large matmul)."""
    import onnxruntime as ort

    card = ModelCard.load(ROOT / "models" / "mnist-cnn.card.json")
    ours_model = OnnxModel(card)
    opts = ort.SessionOptions()
    bare = ort.InferenceSession(str(card.model_file), sess_options=opts, providers=["CPUExecutionProvider"])
    test = mnist.load_split(mnist.default_data_dir() or Path("../shared/data/mnist"), "t10k")

    def timed(fn: object, n: int) -> float:
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - t)
        return float(np.median(samples))

    x1 = (test.images[:1].astype(np.float32) / 255)[..., None]
    f1 = test.images[:1]
    lat_bare = timed(lambda: bare.run(None, {"image": x1}), 2000)
    lat_ours = timed(lambda: ours_model.predict(f1), 2000)
    best: dict[str, tuple[int, float]] = {}
    for name in ("bare", "ours"):
        for b in (1, 8, 32, 64, 128, 256):
            xb = (test.images[:b].astype(np.float32) / 255)[..., None]
            fb = test.images[:b]
            fn = (
                (lambda xb=xb: bare.run(None, {"image": xb}))
                if name == "bare"
                else (lambda fb=fb: ours_model.predict(fb))
            )
            ips = b / timed(fn, max(20, 2000 // b))
            if ips > best.get(name, (0, 0.0))[1]:
                best[name] = (b, ips)
    int8_card = ROOT / "models" / "mnist-cnn-int8.card.json"
    if int8_card.exists():
        # Float and int8 as the service runs them with 2 workers (one ORT thread each), measured
        # alternately so that the ratio is not a drift of this machine's speed.
        one = {"float": OnnxModel(card, intra_threads=1), "int8": OnnxModel(ModelCard.load(int8_card), intra_threads=1)}
        f64 = test.images[:64]
        lat: dict[str, list[float]] = {"float": [], "int8": []}
        thr: dict[str, list[float]] = {"float": [], "int8": []}
        for _ in range(3):
            for name, m in one.items():
                lat[name].append(timed(lambda m=m: m.predict(f1), 1000))
                thr[name].append(64 / timed(lambda m=m: m.predict(f64), 50))
        lat_med = {k: float(np.median(v)) for k, v in lat.items()}
        ips_med = {k: float(np.median(v)) for k, v in thr.items()}
        report.facts |= {
            "one_thread_batch1_latency_ms_float": round(lat_med["float"] * 1e3, 3),
            "one_thread_batch1_latency_ms_int8": round(lat_med["int8"] * 1e3, 3),
            "int8_batch1_speedup": round(lat_med["float"] / lat_med["int8"], 2),
            "one_thread_batch64_images_per_s_float": round(ips_med["float"]),
            "one_thread_batch64_images_per_s_int8": round(ips_med["int8"]),
            "int8_batch64_speedup": round(ips_med["int8"] / ips_med["float"], 2),
            "int8_mnist_accuracy": one["int8"].card.figures["mnist_test"]["accuracy"],
            "float_mnist_accuracy": card.figures["mnist_test"]["accuracy"],
        }
    # The machine's attainable rate, measured the same way: ORT on one large MatMul (1024^3 MACs).
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1024, 1024]) for n in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1024, 1024])],
    )
    gemm_session = ort.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    gemm = timed(lambda: gemm_session.run(None, {"a": a, "b": a}), 30)
    macs_per_s = 1024**3 / gemm
    macs = int(card.figures["multiply_adds_per_image"])
    report.facts |= {
        "ort_batch1_latency_ms_bare": round(lat_bare * 1e3, 3),
        "ort_batch1_latency_ms_ours": round(lat_ours * 1e3, 3),
        "ort_best_batch_bare": best["bare"][0],
        "ort_best_images_per_s_bare": round(best["bare"][1]),
        "ort_best_batch_ours": best["ours"][0],
        "ort_best_images_per_s_ours": round(best["ours"][1]),
        "ours_vs_bare_throughput": round(best["ours"][1] / best["bare"][1], 3),
        "model_multiply_adds": macs,
        "machine_gemm_gmacs": round(macs_per_s / 1e9, 1),
        "roofline_images_per_s": round(macs_per_s / macs),
        "fraction_of_roofline": round(best["bare"][1] / (macs_per_s / macs), 3),
    }
    log.info("inference alone: %s", {k: v for k, v in report.facts.items() if k.startswith(("ort", "ours_vs", "frac"))})
