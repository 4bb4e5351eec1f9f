"""The profile's sorting of py-spy samples into the stages of a request."""

from __future__ import annotations

from bench.profile import OTHER, stage_of, stage_samples
from bench.spec import RunSpec

ROOT = (
    "Runner.run (asyncio/runners.py:118);RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py:422)"
)
PREDICT = ROOT + ";MetricsMiddleware.__call__ (service/api/middleware.py:45);predict (service/api/v1.py:94)"


def test_a_sample_goes_to_the_stage_of_its_innermost_recognised_frame() -> None:
    # inside the middleware, but deeper in the model: inference
    ort = PREDICT + ";Batcher._infer (service/core/batcher.py:97);Session.run (onnxruntime/capi/x.py:220)"
    assert stage_of(ort.split(";")) == "inference (ONNX Runtime)"
    # the middleware's own work
    own = (
        ROOT + ";MetricsMiddleware.__call__ (service/api/middleware.py:57);Histogram.observe (prometheus_client/m.py:1)"
    )
    assert stage_of(own.split(";")) == "metrics and headers middleware"
    # the router under a middleware is the web stack's work, not the middleware's
    routing = ROOT + ";MetricsMiddleware.__call__ (service/api/middleware.py:45);Router.app (starlette/routing.py:704)"
    assert stage_of(routing.split(";")) == OTHER
    # uvicorn's proxy_headers.py is no "headers middleware" of ours; nothing recognised: the stack's own
    assert (
        stage_of((ROOT + ";ProxyHeadersMiddleware.__call__ (uvicorn/middleware/proxy_headers.py:1)").split(";"))
        == OTHER
    )


def test_samples_add_up_by_stage_and_skip_what_is_not_a_sample() -> None:
    lines = [
        PREDICT + ";SqliteFile._insert (service/store/sqlite.py:247) 30",
        PREDICT + ";read_pictures (service/api/uploads.py:99);MultipartParser.write (python_multipart/m.py:1) 10",
        ROOT + " 60",
        "",
        "garbage without a count",
    ]
    samples = stage_samples(lines)
    assert samples == {OTHER: 60, "record: commit to SQLite": 30, "upload parsing": 10}
    assert next(iter(samples)) == OTHER  # largest first
    assert stage_samples([]) == {}


def test_a_full_run_leaves_the_profile_out_and_only_runs_it() -> None:
    assert "profile" not in RunSpec.parse([]).parts
    assert "against" not in RunSpec.parse([]).parts
    assert "against" in RunSpec.parse(["--against", "HEAD~1"]).parts
    assert RunSpec.parse(["--only", "profile"]).parts == ("profile",)
