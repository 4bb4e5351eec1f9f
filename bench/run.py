"""The benchmark: throughput, latency and footprint, side by side with the designs users would
otherwise build. One command starts everything it needs and writes bench/results.md, a JSON
file and a latency-vs-concurrency plot.

    bench/run                 # the full run (~15 min; installs the baselines' venvs once)
    bench/run --smoke         # a few seconds per scenario, this service only (CI)

Load comes from wrk (Debian's package) in a separate process, on 127.0.0.1 only, every run
bounded in time and in requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from train import mnist  # noqa: E402

log = logging.getLogger("bench")
BENCH = ROOT / "bench"
VENVS = ROOT / ".cache" / "bench-venvs"
PY = sys.executable


@dataclass
class Result:
    system: str
    scenario: str
    concurrency: int
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    rss_mb: float = 0.0  # the whole process tree
    worker_rss_mb: float = 0.0  # its largest process
    note: str = ""


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------
def make_inputs(out: Path) -> dict[str, tuple[Path, str]]:
    """A 28x28 MNIST PNG, and a 640x480 photo-like JPEG of a digit on paper."""
    test = mnist.load_split(mnist.default_data_dir() or Path("../shared/data/mnist"), "t10k")
    png = out / "digit28.png"
    Image.fromarray(test.images[0]).save(png)
    rng = np.random.default_rng(1)
    ink = Image.fromarray(test.images[1]).resize((300, 300), Image.Resampling.BICUBIC)
    mask = Image.new("L", (640, 480), 0)
    mask.paste(ink, (170, 90))
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    a = np.asarray(mask, np.float32)[..., None] / 255.0
    paper = np.array([228, 222, 210], np.float32)
    rgb = paper * (1 - a) + np.array([30, 30, 60], np.float32) * a + rng.normal(0, 6, (480, 640, 1))
    jpg = out / "photo640x480.jpg"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(jpg, quality=85)
    return {"png28": (png, "image/png"), "jpeg640": (jpg, "image/jpeg")}


# --- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], method: str = "GET") -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            req = urllib.request.Request(url, method=method)
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status < 500:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not up after {timeout} s")


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory of a process tree: (all processes, the largest single one -- a worker)."""
    sizes = []
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            sizes.append(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")))
            pids.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (OSError, StopIteration, ValueError):
            continue
    return sum(sizes) / 1024, max(sizes, default=0) / 1024


@contextmanager
def server(
    cmd: list[str], env: dict[str, str], ready_url: str, log_file: Path, timeout: float = 120
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    with log_file.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_http(ready_url, timeout, proc)
            yield proc, time.monotonic() - started
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wrk(
    url: str, body: Path, ctype: str, mode: str, concurrency: int, seconds: float, max_requests: int, warmup: float
) -> dict[str, float]:
    threads = 1 if concurrency < 8 else 2
    env = {
        **os.environ,
        "BODY_FILE": str(body),
        "MODE": mode,
        "CONTENT_TYPE": ctype,
        "MAX_REQUESTS": str(max(1, max_requests // threads)),
    }
    base = ["wrk", "-s", str(BENCH / "post.lua"), "-t", str(threads), "-c", str(concurrency), "--timeout", "30s"]
    if warmup > 0:
        subprocess.run(
            [*base, "-d", f"{max(1, round(warmup))}s", url],
            env=env,
            capture_output=True,
            timeout=warmup + 60,
            check=False,
        )
    out = subprocess.run(
        [*base, "-d", f"{max(1, round(seconds))}s", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=True,
    ).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
    return json.loads(line)  # type: ignore[no-any-return]


def measure(
    system: str,
    scenario: str,
    url: str,
    body: Path,
    ctype: str,
    mode: str,
    concurrency: int,
    pid: int,
    seconds: float,
    max_requests: int,
    warmup: float = 1.0,
) -> Result:
    raw = wrk(url, body, ctype, mode, concurrency, seconds, max_requests, warmup)
    secs = raw["duration_us"] / 1e6
    errors = int(raw["non2xx"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"])
    res = Result(
        system=system,
        scenario=scenario,
        concurrency=concurrency,
        requests=int(raw["requests"]),
        seconds=round(secs, 2),
        rps=round(raw["requests"] / secs, 1),
        p50_ms=raw["p50_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        errors=errors,
        rss_mb=round(tree_rss_mb(pid)[0], 1),
        worker_rss_mb=round(tree_rss_mb(pid)[1], 1),
    )
    log.info(
        "%-28s %-8s c=%-3d %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d  rss %.0f MB",
        system,
        scenario,
        concurrency,
        res.rps,
        res.p50_ms,
        res.p99_ms,
        res.errors,
        res.rss_mb,
    )
    return res


# --- the systems ------------------------------------------------------------------------------
def ours(
    report: Report,
    inputs: dict[str, tuple[Path, str]],
    work: Path,
    store: str,
    workers: int,
    concurrencies: list[int],
    seconds: float,
    max_requests: int,
    cassandra: str | None,
    smoke: bool = False,
    warmup_s: float = 0.0,
    model_card: Path | None = None,
    only: list[str] | None = None,
) -> None:
    port = free_port()
    tag = f"-{model_card.stem}" if model_card else ""
    env = {"MNIST_DATA_DIR": str(work / f"var-{store}-{workers}{tag}"), "MNIST_LOG_LEVEL": "WARNING"}
    if model_card is not None:
        env["MNIST_MODEL_CARD"] = str(model_card)
    if store == "cassandra":
        assert cassandra is not None
        host, _, cport = cassandra.partition(":")
        env |= {
            "CASSANDRA_CONTACT_POINTS": host,
            "CASSANDRA_PORT": cport,
            "CASSANDRA_USERNAME": "cassandra",
            "CASSANDRA_PASSWORD": "cassandra",
            "CASSANDRA_KEYSPACE": f"bench_{int(time.time())}",
            "CASSANDRA_CONSISTENCY": "ONE",
        }
    cmd = [PY, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    system = f"this service ({store}, {workers}w{', float model' if model_card else ''})"
    with server(cmd, env, f"http://127.0.0.1:{port}/readyz", work / f"ours-{store}-{workers}.log") as (proc, _):
        if warmup_s > 0:
            # A freshly started JVM takes minutes to compile its hot paths: measured here, its
            # CPU per recorded row fell from ~1.8 ms in the first seconds to ~0.35 ms after 2-3
            # minutes. Production nodes run for weeks, so load it unmeasured first and let the
            # outbox drain.
            png, ctype = inputs["png28"]
            url = f"http://127.0.0.1:{port}/v1/predict"
            wrk(url, png, ctype, "raw", 64, warmup_s, max_requests, warmup=0)
            wait_drained(f"http://127.0.0.1:{port}/readyz", timeout=300)
            report.facts[f"{store}_warmup_s"] = warmup_s
        # Raw image bodies (the fast path), the same PNG as a multipart form (what the baselines
        # take), and the photo. Smoke runs: the raw ones only.
        scenarios = [("png28", "raw"), ("png28-form", "multipart"), ("jpeg640", "raw")]
        if smoke:
            scenarios = [("png28", "raw"), ("jpeg640", "raw")]
        if only is not None:
            scenarios = [sc for sc in scenarios if sc[0] in only]
        for scenario, mode in scenarios:
            body, ctype = inputs[scenario.removesuffix("-form")]
            for c in concurrencies:
                url = f"http://127.0.0.1:{port}/v1/predict"
                report.results.append(
                    measure(system, scenario, url, body, ctype, mode, c, proc.pid, seconds, max_requests)
                )
        if store == "cassandra":
            drained = wait_drained(f"http://127.0.0.1:{port}/readyz", timeout=300)
            report.facts[f"cassandra_drain_after_load_s_{workers}w"] = round(drained, 1)


def wait_drained(url: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with urllib.request.urlopen(url, timeout=10) as resp:
            store = json.loads(resp.read())["store"]
        if store.get("outbox_depth") == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError("the outbox did not drain")


def cold_start(report: Report, work: Path, runs: int) -> None:
    times = []
    for i in range(runs):
        port = free_port()
        cmd = [PY, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
        env = {"MNIST_DATA_DIR": str(work / f"cold-{i}")}
        with server(cmd, env, f"http://127.0.0.1:{port}/readyz", work / "cold.log") as (_, took):
            times.append(took)
    report.facts["process_start_to_ready_s_median"] = round(float(np.median(times)), 3)
    report.facts["process_start_to_ready_s_all"] = [round(t, 3) for t in times]
    log.info("process start to /readyz: median %.2f s over %d runs", np.median(times), runs)


def inference_alone(report: Report) -> None:
    """ORT latency at batch 1 and throughput at the best batch, bare and through our wrapper,
    against what the CPU can do in multiply-adds (measured with a large matmul)."""
    import onnxruntime as ort

    from service.model import ModelCard, OnnxModel

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
            "int8_mnist_accuracy": one["int8"].card.raw["mnist_test"]["accuracy"],
            "float_mnist_accuracy": card.raw["mnist_test"]["accuracy"],
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
    macs = int(card.raw["multiply_adds_per_image"])
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


def venv(name: str, packages: list[str]) -> Path:
    """A virtual environment of its own for a baseline (never the project's)."""
    path = VENVS / name
    stamp = path / ".installed"
    if not stamp.exists():
        subprocess.run([PY, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "--quiet", *packages], check=True, timeout=1800)
        stamp.touch()
    return path / "bin" / "python"


def baselines(
    report: Report,
    inputs: dict[str, tuple[Path, str]],
    work: Path,
    concurrencies: list[int],
    seconds: float,
    max_requests: int,
) -> None:
    png, ctype = inputs["png28"]

    def form_runs(label: str, url: str, pid: int, cs: list[int], limit: int) -> None:
        """The 28x28 PNG as a multipart form (what every baseline takes), at each concurrency."""
        for c in cs:
            report.results.append(measure(label, "png28-form", url, png, ctype, "multipart", c, pid, seconds, limit))

    keras_py = venv("flask-keras", ["flask", "tensorflow==2.21.0", "keras==3.15.1", "pillow", "numpy"])
    model = ROOT / "models" / "mnist-cnn.keras"
    for label, per_request, cs in (
        ("(a) Flask+Keras, load_model per request", "1", [1]),
        ("(b) Flask+Keras, model loaded once", "0", concurrencies),
    ):
        port = free_port()
        env = {"BENCH_KERAS_MODEL": str(model), "BENCH_LOAD_PER_REQUEST": per_request, "BENCH_PORT": str(port)}
        cmd = [str(keras_py), str(BENCH / "baselines" / "flask_keras" / "app.py")]
        url = f"http://127.0.0.1:{port}/predict"
        with server(cmd, env, url, work / f"flask-{per_request}.log", timeout=180) as (proc, _):
            form_runs(label, url, proc.pid, cs, max_requests if per_request == "0" else 30)
    try:
        bento_py = venv("bentoml", ["bentoml", "onnxruntime", "pillow", "numpy"])
    except subprocess.CalledProcessError as exc:
        report.facts["bentoml"] = f"did not install: {exc}"
        return
    port = free_port()
    from service.model import ModelCard
    from service.settings import default_card

    env = {
        "BENCH_PROJECT_ROOT": str(ROOT),
        "BENCH_ONNX_MODEL": str(ModelCard.load(default_card()).model_file),
        "BENTOML_HOME": str(work / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    cmd = [str(bento_py), "-m", "bentoml", "serve", "bento_mnist:Mnist", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/predict"
    with server(
        [*cmd, "--working-dir", str(BENCH / "baselines" / "bentoml_onnx")],
        env,
        f"http://127.0.0.1:{port}/readyz",
        work / "bentoml.log",
        timeout=180,
    ) as (proc, _):
        form_runs("(c) BentoML + ONNX Runtime", url, proc.pid, concurrencies, max_requests)


# --- report -----------------------------------------------------------------------------------
def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def ratios(report: Report) -> dict[str, str]:
    def best(prefix: str, scenario: str = "png28-form") -> Result | None:
        rows = [r for r in report.results if r.system.startswith(prefix) and r.scenario == scenario]
        return max(rows, key=lambda r: r.rps) if rows else None

    d = best("this service (cassandra") or best("this service")
    out: dict[str, str] = {}
    if d is None:
        return out
    for key, prefix in (("d/a", "(a)"), ("d/b", "(b)"), ("d/c", "(c)")):
        other = best(prefix)
        if other is not None and other.rps > 0:
            out[key] = f"{d.rps / other.rps:.1f}x req/s (best of each: {d.rps:.0f} vs {other.rps:.1f})"
    return out


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for system, scenario in sorted({(r.system, r.scenario) for r in report.results}):
        rows = sorted(
            (r for r in report.results if r.system == system and r.scenario == scenario), key=lambda r: r.concurrency
        )
        if len(rows) > 1:
            ax.plot([r.concurrency for r in rows], [r.p99_ms for r in rows], marker="o", label=f"{system} {scenario}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent connections")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("p99 latency vs concurrency (2 cores, load generator on the same machine)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: Report, out: Path, smoke: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report.facts["ratios"] = ratios(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (out / "results.json").write_text(
        json.dumps(
            {
                "date": stamp,
                "commit": git_commit(),
                "machine": machine(),
                "smoke": smoke,
                "facts": report.facts,
                "results": [asdict(r) for r in report.results],
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Benchmark results" + (" (smoke run)" if smoke else ""),
        "",
        f"- date: {stamp}",
        f"- commit: {git_commit()}",
        f"- machine: {machine()}",
        "- load: wrk on 127.0.0.1, same machine; every run bounded in time and requests",
        "",
        "| system | upload | conc. | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MB (all / largest process) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.results:
        lines.append(
            f"| {r.system} | {r.scenario} | {r.concurrency} | {r.rps:.1f} | {r.p50_ms:.2f} | "
            f"{r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.rss_mb:.0f} / {r.worker_rss_mb:.0f} |"
        )
    lines += ["", "## Other figures", ""]
    lines += [f"- {k}: {v}" for k, v in report.facts.items() if k != "ratios"]
    if report.facts["ratios"]:
        lines += ["", "## Ratios (this service with Cassandra vs the baselines, 28x28 PNG as a multipart form)", ""]
        lines += [f"- {k}: {v}" for k, v in report.facts["ratios"].items()]  # type: ignore[attr-defined]
    lines += ["", "![p99 latency vs concurrency](latency.png)", ""]
    (out / "results.md").write_text("\n".join(lines))
    plot(report, out / "latency.png")
    sys.stdout.write((out / "results.md").read_text())


def start_cassandra(work: Path) -> str:
    env = {
        **os.environ,
        "CASSANDRA_HOME_DIR": str(work / "cassandra"),
        "CASSANDRA_PORT": "29042",
        "CASSANDRA_STORAGE_PORT": "27000",
        "CASSANDRA_JMX_PORT": "27199",
    }
    out = subprocess.run(
        [str(ROOT / "scripts" / "cassandra" / "start")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def stop_cassandra(work: Path) -> None:
    env = {**os.environ, "CASSANDRA_HOME_DIR": str(work / "cassandra")}
    subprocess.run([str(ROOT / "scripts" / "cassandra" / "stop")], env=env, check=False, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="seconds per scenario, this service only")
    parser.add_argument("--out", type=Path, default=BENCH)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-cassandra", action="store_true")
    parser.add_argument(
        "--cassandra-warmup", type=float, default=90.0, help="seconds of unmeasured load on a fresh Cassandra"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report = Report()
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        work = Path(tmp)
        inputs = make_inputs(work)
        if args.smoke:
            ours(report, inputs, work, "sqlite", 1, [1, 8], 2.0, 2000, None, smoke=True)
            cold_start(report, work, 2)
            write(report, args.out, smoke=True)
            return 0
        concurrencies = [1, 8, 64]
        inference_alone(report)
        cold_start(report, work, 5)
        ours(report, inputs, work, "sqlite", args.workers, concurrencies, args.seconds, args.max_requests, None)
        float_card = ROOT / "models" / "mnist-cnn.card.json"
        if (ROOT / "models" / "mnist-cnn-int8.card.json").exists():  # served by default; the float one side by side
            ours(
                report,
                inputs,
                work,
                "sqlite",
                args.workers,
                concurrencies,
                args.seconds,
                args.max_requests,
                None,
                model_card=float_card,
                only=["png28"],
            )
        if not args.no_cassandra:
            cassandra = start_cassandra(work)
            try:
                ours(
                    report,
                    inputs,
                    work,
                    "cassandra",
                    args.workers,
                    concurrencies,
                    args.seconds,
                    args.max_requests,
                    cassandra,
                    warmup_s=args.cassandra_warmup,
                )
            finally:
                stop_cassandra(work)
        if not args.no_baselines:
            baselines(report, inputs, work, concurrencies, args.seconds, args.max_requests)
        container = ROOT / "artifacts" / "test" / "container-start.json"
        if container.exists():
            report.facts["runtime_image_start_to_ready_s"] = json.loads(container.read_text())["start_to_ready_s"]
        write(report, args.out, smoke=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
