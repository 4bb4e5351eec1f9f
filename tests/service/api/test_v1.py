from __future__ import annotations

import io
import json
import urllib.parse
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient

from service.app import create_app
from service.errors import StoreUnavailable
from service.settings import Settings
from service.store.embedded import EmbeddedStore
from tests.utils import png_bytes
from train import mnist


@pytest.fixture(scope="module")
def digits(mnist_dir: object) -> mnist.Split:
    assert mnist.default_data_dir() is not None
    return mnist.load_split(mnist.default_data_dir(), "t10k")  # type: ignore[arg-type]


def _photo_png(digit: np.ndarray) -> bytes:
    """Dark ink on light paper, inside a larger RGB picture."""
    big = Image.fromarray(255 - digit).resize((120, 120), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (200, 160), 255)
    canvas.paste(big, (50, 20))
    buf = io.BytesIO()
    canvas.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_predict_multipart_returns_digit_and_records_it(client: TestClient, digits: mnist.Split) -> None:
    resp = client.post("/v1/predict", files={"file": ("seven.png", png_bytes(digits.images[0]), "image/png")})
    assert resp.status_code == 200, resp.text
    [item] = resp.json()["predictions"]
    assert item["digit"] == int(digits.labels[0]) == 7
    assert item["filename"] == "seven.png"
    assert len(item["probabilities"]) == 10
    assert abs(sum(item["probabilities"]) - 1.0) < 1e-3
    assert item["confidence"] == max(item["probabilities"])
    assert set(item["timings_ms"]) == {"preprocess", "inference", "total"}
    card = client.get("/v1/model").json()
    assert item["model"] == {"version": card["version"], "sha256": card["sha256"]}
    stored = client.get(f"/v1/predictions/{item['id']}").json()
    assert stored["digit"] == 7 and stored["filename"] == "seven.png"
    assert stored["image"]["sha256"] == item["image"]["sha256"]


def test_predict_several_files_in_one_request(client: TestClient, digits: mnist.Split) -> None:
    files = [("file", (f"d{i}.png", png_bytes(digits.images[i]), "image/png")) for i in range(5)]
    resp = client.post("/v1/predict", files=files)
    assert resp.status_code == 200
    got = [p["digit"] for p in resp.json()["predictions"]]
    assert got == digits.labels[:5].tolist()
    assert len({p["id"] for p in resp.json()["predictions"]}) == 5


def test_predict_raw_body_with_filename_header(client: TestClient, digits: mnist.Split) -> None:
    resp = client.post(
        "/v1/predict?include=frame",
        content=_photo_png(digits.images[1]),
        headers={"Content-Type": "image/png", "X-Filename": "photo of a two.png"},
    )
    assert resp.status_code == 200, resp.text
    [item] = resp.json()["predictions"]
    assert item["digit"] == int(digits.labels[1]) == 2
    assert item["filename"] == "photo of a two.png"
    assert item["image"]["width"] == 200 and item["image"]["height"] == 160
    assert item["image"]["inverted"] is True
    assert item["frame_png"].startswith("data:image/png;base64,")


def test_predict_avif_body(client: TestClient, digits: mnist.Split) -> None:
    """AVIF, as browsers, Android and image CDNs now save pictures; unnamed, it is named by type."""
    photo = Image.open(io.BytesIO(_photo_png(digits.images[1])))
    buf = io.BytesIO()
    photo.save(buf, format="AVIF", quality=80)
    resp = client.post("/v1/predict", content=buf.getvalue(), headers={"Content-Type": "image/avif"})
    assert resp.status_code == 200, resp.text
    [item] = resp.json()["predictions"]
    assert item["digit"] == int(digits.labels[1]) == 2
    assert item["filename"] == "upload.avif" and item["image"]["format"] == "AVIF"


def test_one_bad_file_does_not_spoil_the_others(client: TestClient, digits: mnist.Split) -> None:
    files = [
        ("file", ("good.png", png_bytes(digits.images[2]), "image/png")),
        ("file", ("bad.png", b"definitely not a png", "image/png")),
    ]
    resp = client.post("/v1/predict", files=files)
    assert resp.status_code == 200
    good, bad = resp.json()["predictions"]
    assert good["digit"] == int(digits.labels[2])
    assert bad["error"]["code"] == "unsupported_image_type" and bad["status"] == 415
    assert "id" not in bad


def test_file_names_are_data(client: TestClient, digits: mnist.Split) -> None:
    name = "../../etc/passwd\x00\x1b[31m\u200b" + "x" * 400
    # Written by hand: HTTP clients would escape the control characters a hostile client sends raw.
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: image/png\r\n\r\n'
        + png_bytes(digits.images[0])
        + b"\r\n--B--\r\n"
    )
    resp = client.post("/v1/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert resp.status_code == 200, resp.text
    stored = resp.json()["predictions"][0]["filename"]
    assert stored.startswith("../../etc/passwd[31m")
    assert len(stored) == 255
    assert not any(ord(c) < 32 for c in stored)


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"content": b"hello"}, 415, "unsupported_media_type"),
        (
            {"content": b"\x89PNG\r\n\x1a\n" + b"junk" * 10, "headers": {"Content-Type": "image/png"}},
            400,
            "corrupt_image",
        ),
        (
            {"content": b"\x00\x01\x02 binary junk", "headers": {"Content-Type": "image/png"}},
            415,
            "unsupported_image_type",
        ),
        ({"content": b"", "headers": {"Content-Type": "image/png"}}, 400, "empty_file"),
        ({"files": {"file": ("empty.png", b"", "image/png")}}, 400, "empty_file"),
        (
            {
                "content": b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--B--\r\n',
                "headers": {"Content-Type": "multipart/form-data; boundary=B"},
            },
            400,
            "missing_file",
        ),
        (
            {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
            400,
            "missing_file",
        ),
    ],
)
def test_bad_requests(client: TestClient, kwargs: dict[str, Any], status: int, code: str) -> None:
    _error(client.post("/v1/predict", **kwargs), status, code)


def test_truncated_image(client: TestClient, digits: mnist.Split) -> None:
    data = _photo_png(digits.images[0])
    _error(
        client.post("/v1/predict", content=data[:300], headers={"Content-Type": "image/png"}),
        400,
        "corrupt_image",
    )


def test_blank_image_is_422(client: TestClient) -> None:
    _error(
        client.post(
            "/v1/predict",
            content=png_bytes(np.full((50, 50), 255, np.uint8)),
            headers={"Content-Type": "image/png"},
        ),
        422,
        "no_ink",
    )


def test_body_over_the_limit_is_refused_before_reading(tmp_path: Any, card_path: Any) -> None:
    s = Settings(model_card=card_path, data_dir=tmp_path, max_body_bytes=10_000)
    with TestClient(create_app(s)) as c:
        big = b"\x89PNG" + bytes(20_000)
        _error(c.post("/v1/predict", content=big, headers={"Content-Type": "image/png"}), 413, "body_too_large")
        _error(c.post("/v1/predict", files={"file": ("big.png", big, "image/png")}), 413, "body_too_large")

        # Without Content-Length (chunked), the stream is cut off as soon as it passes the limit.
        def chunks() -> Any:
            for _ in range(100):
                yield bytes(1000)

        _error(
            c.post("/v1/predict", content=chunks(), headers={"Content-Type": "image/png"}),
            413,
            "body_too_large",
        )
        assert c.get("/healthz").status_code == 200


def test_pixel_limit_is_413(tmp_path: Any, card_path: Any) -> None:
    s = Settings(model_card=card_path, data_dir=tmp_path, max_pixels=10_000)
    with TestClient(create_app(s)) as c:
        data = png_bytes(np.full((200, 200), 255, np.uint8))
        _error(c.post("/v1/predict", content=data, headers={"Content-Type": "image/png"}), 413, "image_too_large")


def test_too_many_files_is_413(tmp_path: Any, card_path: Any, digits: mnist.Split) -> None:
    s = Settings(model_card=card_path, data_dir=tmp_path, max_files=3)
    with TestClient(create_app(s)) as c:
        files = [("file", (f"{i}.png", png_bytes(digits.images[i]), "image/png")) for i in range(4)]
        _error(c.post("/v1/predict", files=files), 413, "too_many_parts")
        files = [("file", (f"{i}.png", png_bytes(digits.images[i]), "image/png")) for i in range(3)]
        assert c.post("/v1/predict", files=files).status_code == 200


def test_recent_predictions_are_paged_newest_first(client: TestClient, digits: mnist.Split) -> None:
    ids = []
    for i in range(5):
        r = client.post(
            "/v1/predict",
            content=png_bytes(digits.images[i]),
            headers={"Content-Type": "image/png", "X-Filename": f"n{i}.png"},
        )
        ids.append(r.json()["predictions"][0]["id"])
    page1 = client.get("/v1/predictions?limit=3").json()
    assert [it["id"] for it in page1["items"]] == ids[::-1][:3]
    page2 = client.get(f"/v1/predictions?limit=3&before={page1['next']}").json()
    assert [it["id"] for it in page2["items"]] == ids[::-1][3:]
    assert page2["next"] is None
    _error(client.get("/v1/predictions?limit=0"), 400, "bad_limit")
    _error(client.get("/v1/predictions?limit=abc"), 400, "bad_limit")
    _error(client.get("/v1/predictions?before=nope"), 400, "bad_id")


def test_prediction_by_id_errors(client: TestClient) -> None:
    _error(client.get("/v1/predictions/not-a-uuid"), 400, "bad_id")
    _error(client.get(f"/v1/predictions/{uuid.uuid1()}"), 404, "not_found")


def test_model_card_endpoint(client: TestClient, card_path: Any) -> None:
    card = client.get("/v1/model").json()
    on_disk = json.loads(card_path.read_text())
    assert card["sha256"] == on_disk["sha256"]
    assert card["mnist_test"]["accuracy"] == on_disk["mnist_test"]["accuracy"]
    assert card["runtime"]["intra_op_threads"] >= 1


def test_health_ready_and_metrics(client: TestClient, digits: mnist.Split) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model"]["ready"] is True and ready.json()["store"]["ok"] is True
    client.post("/v1/predict", content=png_bytes(digits.images[0]), headers={"Content-Type": "image/png"})
    client.post("/v1/predict", content=b"junk", headers={"Content-Type": "image/png"})
    text = client.get("/metrics").text
    assert 'mnist_predictions_total{digit="7"} 1.0' in text
    assert 'mnist_http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
    assert 'mnist_http_requests_total{method="POST",route="/v1/predict",status="415"} 1.0' in text
    assert 'mnist_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/predict",status="200"}' in text
    assert "\nmnist_outbox_depth 0.0\n" in text  # the sample itself, not its HELP line
    assert 'mnist_image_errors_total{code="unsupported_image_type"} 1.0' in text
    assert "\nmnist_relay_degraded 0.0\n" in text


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    _error(client.get("/nope"), 404, "not_found")
    for method, path, allowed in [
        ("GET", "/v1/predict", {"POST"}),
        ("DELETE", "/v1/predictions", {"GET", "HEAD"}),
        ("PUT", "/", {"GET", "HEAD", "POST"}),
        ("GET", "/v2/models/mnist/infer", {"POST"}),
    ]:
        resp = client.request(method, path)
        assert resp.status_code == 405, (method, path)
        assert set(resp.headers["allow"].replace(" ", "").split(",")) == allowed, (method, path)
    _error(client.get("/v1/predict"), 405, "method_not_allowed")


def test_a_store_that_cannot_record_answers_503_with_retry_after(
    client: TestClient, digits: mnist.Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: object, records: object) -> None:
        raise StoreUnavailable("the prediction could not be recorded: database or disk is full")

    monkeypatch.setattr(EmbeddedStore, "add", refuse)
    data = png_bytes(digits.images[0])
    resp = client.post("/v1/predict", content=data, headers={"Content-Type": "image/png"})
    _error(resp, 503, "store_unavailable")
    assert int(resp.headers["retry-after"]) >= 1
    page = client.post("/", files={"file": ("d.png", data, "image/png")})
    assert page.status_code == 503 and "store_unavailable" in page.text
    monkeypatch.undo()
    assert client.post("/v1/predict", content=data, headers={"Content-Type": "image/png"}).status_code == 200
    assert 'mnist_store_write_failures_total{store="sqlite"} 2.0' in client.get("/metrics").text


def test_records_say_which_door_they_came_through(client: TestClient, digits: mnist.Split) -> None:
    data = png_bytes(digits.images[0])
    client.post("/v1/predict", content=data, headers={"Content-Type": "image/png"})
    client.post("/", files={"file": ("d.png", data, "image/png")})
    x = (digits.images[:1].astype(np.float32) / 255.0).ravel().tolist()
    body = {"inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": x}]}
    assert client.post("/v2/models/mnist/infer", json=body).status_code == 200
    items = client.get("/v1/predictions").json()["items"]
    assert [(it["door"], it["filename"], it["digit"]) for it in items] == [
        ("oip", "", 7),
        ("page", "d.png", 7),
        ("v1", "upload.png", 7),
    ]


def test_openapi_describes_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in [
        "/v1/predict",
        "/v1/predictions",
        "/v1/predictions/{id}",
        "/v1/model",
        "/healthz",
        "/readyz",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{model}",
        "/v2/models/{model}/infer",
        "/",
    ]:
        assert path in doc["paths"], path
    assert "413" in {str(k) for k in doc["paths"]["/v1/predict"]["post"]["responses"]}


def test_upload_page_and_no_javascript_form(client: TestClient, digits: mnist.Split) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and 'enctype="multipart/form-data"' in page.text
    assert client.get("/static/app.js").status_code == 200
    resp = client.post("/", files={"file": ("form.png", _photo_png(digits.images[3]), "image/png")})
    assert resp.status_code == 200
    assert f'data-testid="digit">{int(digits.labels[3])}<' in resp.text
    assert "form.png" in resp.text
    bad = client.post("/", files={"file": ("x.txt", b"text", "text/plain")})
    assert bad.status_code == 415 and "unsupported_image_type" in bad.text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.binary(max_size=2048),
    ctype=st.sampled_from(
        [
            "image/png",
            "image/jpeg",
            "application/octet-stream",
            "multipart/form-data; boundary=zz",
            "text/plain",
        ]
    ),
)
def test_random_bodies_never_5xx(client: TestClient, data: bytes, ctype: str) -> None:
    resp = client.post("/v1/predict", content=data, headers={"Content-Type": ctype})
    assert resp.status_code < 500, resp.text
    assert "error" in resp.json() or resp.status_code == 200


@pytest.mark.parametrize(
    "name",
    ["chiffre €, n°7.png", "数字" * 1000, "é" * 300, 'name; with "quotes" and spaces.png'],
)
def test_unicode_file_names_in_every_form_clients_send(client: TestClient, digits: mnist.Split, name: str) -> None:
    data = png_bytes(digits.images[0])
    want = name[:255]
    # 1. multipart, as httpx/requests send it (UTF-8 in filename="...")
    sent = client.post("/v1/predict", files={"file": (name, data, "image/png")})
    assert sent.status_code == 200, sent.text
    assert sent.json()["predictions"][0]["filename"] == want
    # 2. multipart with RFC 5987 filename* (and an ASCII fallback that must lose)
    quoted = urllib.parse.quote(name, safe="")
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="fallback.png"; '
        + f"filename*=UTF-8''{quoted}".encode()
        + b"\r\nContent-Type: image/png\r\n\r\n"
        + data
        + b"\r\n--B--\r\n"
    )
    star = client.post("/v1/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert star.status_code == 200, star.text
    assert star.json()["predictions"][0]["filename"] == want
    # 3. a raw body named by a percent-encoded X-Filename
    raw = client.post("/v1/predict", content=data, headers={"Content-Type": "image/png", "X-Filename": quoted})
    assert raw.json()["predictions"][0]["filename"] == want


def test_raw_utf8_x_filename_is_not_mojibake(client: TestClient, digits: mnist.Split) -> None:
    name = "chiffre €.png"
    resp = client.post(  # the header's raw bytes are UTF-8 (the server's ASGI layer sees them as latin-1)
        "/v1/predict",
        content=png_bytes(digits.images[0]),
        headers={"Content-Type": "image/png", "X-Filename": name.encode()},  # type: ignore[dict-item]
    )
    assert resp.json()["predictions"][0]["filename"] == name
