"""Telling a node that is down (wait for it) from one that refuses (a wrong setting: stop)."""

from __future__ import annotations

from cassandra import AuthenticationFailed, OperationTimedOut
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown, ProtocolVersionUnsupported

from service.store.cassandra_schema import unreachable


def test_a_node_refusing_resetting_or_silent_is_unreachable() -> None:
    down = {
        "127.0.0.1:9042": ConnectionRefusedError(111, "refused"),
        "127.0.0.2:9042": OperationTimedOut("timed out"),
        # a node killed while the driver reads its schema resets the connection
        "127.0.0.3:9042": ConnectionShutdown("[Errno 104] Connection reset by peer"),
    }
    assert unreachable(NoHostAvailable("Unable to connect to any servers", down))


def test_a_node_that_answers_and_refuses_is_a_wrong_setting() -> None:
    for refusal in (AuthenticationFailed("Bad credentials"), ProtocolVersionUnsupported("127.0.0.1", 5)):
        errors = {"127.0.0.1:9042": ConnectionRefusedError(111, "refused"), "127.0.0.2:9042": refusal}
        assert not unreachable(NoHostAvailable("Unable to connect to any servers", errors))
    assert not unreachable(NoHostAvailable("Unable to connect to any servers", {}))
