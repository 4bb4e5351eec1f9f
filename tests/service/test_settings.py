"""Settings: read from the environment once, typed; a bad value stops start-up naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import INT8_CARD, Settings, SettingsError, parse_replication


def test_defaults_and_parsing() -> None:
    s = Settings.from_env(
        {
            "MNIST_MAX_FILES": "4",
            "MNIST_DATA_DIR": "/srv/data",
            "MNIST_LOG_FORMAT": "json",
            "CASSANDRA_CONTACT_POINTS": " 10.0.0.1, 10.0.0.2 ,",
            "CASSANDRA_MIGRATE": "no",
            "CASSANDRA_ACK_HOLD_S": "2.5",
            "UNRELATED": "x",
        }
    )
    assert (s.max_files, s.data_dir, s.log_format) == (4, Path("/srv/data"), "json")
    assert s.cassandra_contact_points == ("10.0.0.1", "10.0.0.2") and s.cassandra_enabled
    assert s.cassandra_migrate is False and s.cassandra_ack_hold_s == 2.5
    default = Settings.from_env({})
    assert default.cassandra_ack_hold_s is None, "the hold is asked of the nodes unless set"
    assert Settings.from_env({"CASSANDRA_ACK_HOLD_S": "Auto"}).cassandra_ack_hold_s is None
    assert Settings.from_env({"CASSANDRA_ACK_HOLD_S": "0"}).cassandra_ack_hold_s == 0.0
    assert not default.cassandra_enabled and default.max_request_pixels >= default.max_pixels
    assert "password" not in repr(Settings(cassandra_password="secret")).lower().replace("cassandra_password", "")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MNIST_MAX_FILES": "zero"}, "MNIST_MAX_FILES='zero'"),
        ({"MNIST_MAX_FILES": "0"}, "max_files must be positive"),
        ({"MNIST_DECODE_BUDGET_MB": "-1"}, "decode_budget_mb must be positive"),
        ({"MNIST_ORT_THREADS": "-2"}, "ort_threads"),
        ({"MNIST_LOG_LEVEL": "LOUD"}, "MNIST_LOG_LEVEL"),
        ({"MNIST_LOG_FORMAT": "xml"}, "MNIST_LOG_FORMAT"),
        ({"CASSANDRA_CONSISTENCY": "SOME"}, "CASSANDRA_CONSISTENCY"),
        ({"CASSANDRA_KEYSPACE": "bad-name"}, "CASSANDRA_KEYSPACE"),
        ({"CASSANDRA_REPLICATION": "SimpleStrategy:x"}, "CASSANDRA_REPLICATION"),
        ({"CASSANDRA_TTL_S": "-5"}, "cassandra_ttl_s"),
        ({"CASSANDRA_ACK_HOLD_S": "-1"}, "CASSANDRA_ACK_HOLD_S"),
        ({"CASSANDRA_ACK_HOLD_S": "forever"}, "CASSANDRA_ACK_HOLD_S='forever'"),
        ({"CASSANDRA_CONNECT_TIMEOUT_S": "soon"}, "CASSANDRA_CONNECT_TIMEOUT_S"),
    ],
)
def test_bad_values_fail_fast_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_replication_maps() -> None:
    assert parse_replication("SimpleStrategy:3") == {"class": "SimpleStrategy", "replication_factor": "3"}
    assert parse_replication("NetworkTopologyStrategy:dc1=3,dc2=2") == {
        "class": "NetworkTopologyStrategy",
        "dc1": "3",
        "dc2": "2",
    }
    for bad in ("SimpleStrategy:0", "NetworkTopologyStrategy:", "NetworkTopologyStrategy:dc1", "Other:1"):
        with pytest.raises(SettingsError):
            parse_replication(bad)


def test_the_service_serves_the_int8_model_by_default(card_path: Path) -> None:
    assert card_path == INT8_CARD
    assert Settings.from_env({}).model_card == INT8_CARD
    assert Settings.from_env({"MNIST_MODEL_CARD": "models/mnist-cnn.card.json"}).model_card == Path(
        "models/mnist-cnn.card.json"
    )
