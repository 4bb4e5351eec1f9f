"""The Open Inference Protocol door through the real Triton client (tritonclient[http]) with its
defaults — binary tensors both ways — against the service as a real process on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.core.card import ModelCard
from service.settings import default_card
from tests.utils import running_service
from train import mnist

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[triton.InferenceServerClient]:
    env = {"MNIST_DATA_DIR": str(tmp_path_factory.mktemp("var"))}
    with running_service(env=env) as (base, _, _):
        c = triton.InferenceServerClient(url=base.removeprefix("http://"))
        yield c
        c.close()


def _inputs(x: np.ndarray, binary: bool) -> list[triton.InferInput]:
    tensor = triton.InferInput("image", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    return [tensor]


def test_health_metadata_config_index_and_statistics(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
    assert client.is_model_ready("mnist", model_version="1")
    server = client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("mnist")
    assert meta["inputs"][0] == {"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}
    assert client.get_model_metadata("mnist", model_version="1")["name"] == "mnist"
    config = client.get_model_config("mnist")
    assert config["input"][0]["dims"] == [28, 28, 1] and config["max_batch_size"] >= 64
    assert client.get_model_repository_index() == [{"name": "mnist", "version": "1", "state": "READY"}]
    before = client.get_inference_statistics("mnist")["model_stats"][0]["inference_count"]
    client.infer("mnist", _inputs(np.zeros((3, 28, 28, 1), np.float32), binary=True))
    after = client.get_inference_statistics("mnist")["model_stats"][0]
    assert after["inference_count"] == before + 3 and after["last_inference"] > 0


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("flat", [False, True])
def test_infer_with_the_clients_defaults_and_json(
    client: triton.InferenceServerClient, mnist_test: mnist.Split, batch: int, binary: bool, flat: bool
) -> None:
    x = mnist_test.images[:batch].astype(np.float32) / 255.0
    x = x.reshape(batch, 784) if flat else x[..., None]
    names = ("probabilities", "uncertain")
    outputs = None if binary else [triton.InferRequestedOutput(name, binary_data=False) for name in names]
    result = client.infer("mnist", _inputs(x, binary), outputs=outputs, request_id="r-1")
    probs, uncertain = result.as_numpy("probabilities"), result.as_numpy("uncertain")
    assert probs.shape == (batch, 10) and probs.dtype == np.float32
    assert probs.argmax(1).tolist() == mnist_test.labels[:batch].tolist()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    assert uncertain.shape == (batch,) and uncertain.dtype == np.bool_
    threshold = ModelCard.load(default_card()).uncertain_below
    assert uncertain.tolist() == (probs.max(1) < threshold).tolist()
    assert result.get_response()["id"] == "r-1"


def test_versioned_infer_and_binary_output_on_request(
    client: triton.InferenceServerClient, mnist_test: mnist.Split
) -> None:
    x = mnist_test.images[:2].astype(np.float32)[..., None] / 255.0
    outputs = [triton.InferRequestedOutput("probabilities", binary_data=True)]
    result = client.infer("mnist", _inputs(x, binary=False), outputs=outputs, model_version="1")
    assert result.as_numpy("probabilities").argmax(1).tolist() == mnist_test.labels[:2].tolist()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, x: c.infer("other", _inputs(x, True)), "unknown model"),
        (lambda c, x: c.infer("mnist", _inputs(x, True), model_version="7"), "no version"),
        (lambda c, x: c.infer("mnist", _inputs(x[:, :27], True)), "shape must be"),
        (
            lambda c, x: c.infer("mnist", _inputs(x, True), outputs=[triton.InferRequestedOutput("logits")]),
            "unknown output",
        ),
        (lambda c, x: c.infer("mnist", [_renamed(x)]), "unknown input"),
    ],
)
def test_the_clients_error_paths(client: triton.InferenceServerClient, call: object, message: str) -> None:
    x = np.zeros((1, 28, 28, 1), np.float32)
    with pytest.raises(InferenceServerException, match=message):
        call(client, x)  # type: ignore[operator]
    assert client.is_server_live()


def _renamed(x: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput("pixels", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return tensor


def test_binary_and_json_tensors_give_the_same_answer(client: triton.InferenceServerClient) -> None:
    """Random inputs (not MNIST-like), sent as raw bytes and as JSON text: the same probabilities."""
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28, 1), dtype=np.float32)
    binary = client.infer("mnist", _inputs(x, True)).as_numpy("probabilities")
    text = client.infer(
        "mnist", _inputs(x, False), outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)]
    ).as_numpy("probabilities")
    np.testing.assert_allclose(binary, text, rtol=1e-6, atol=1e-7)
