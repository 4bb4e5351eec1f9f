"""Unit tests of the durability probe: what the nodes' answers make of the outbox's hold, and
when they are asked again.
(Against real nodes: test_power_cut.py and test_cluster.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cassandra import OperationTimedOut

from service.store import durability
from service.store.cassandra_sink import NodeWatch
from service.store.durability import MARGIN_S, UNKNOWN_PERIOD_S, configured, duration_s, probe


@dataclass(frozen=True)
class Host:
    address: str


@dataclass(frozen=True)
class Row:
    name: str
    value: str


class Session:
    """Answers the settings query per host, as Cassandra's virtual table does; a host mapped to
    an exception raises it (the first `flaky` times only, for a host whose pool is not open yet)."""

    def __init__(self, answers: dict[str, dict[str, str] | Exception], flaky: int = 10**6) -> None:
        self.answers, self.flaky = answers, flaky
        self.asked = 0

    def execute(self, query: str, host: Host, timeout: float) -> list[Row]:
        assert "system_views.settings" in query
        self.asked += 1
        answer = self.answers[host.address]
        if isinstance(answer, Exception):
            if self.asked <= self.flaky:
                raise answer
            answer = {"commitlog_sync": "group"}
        return [Row(k, v) for k, v in answer.items()]


def run(answers: dict[str, dict[str, str] | Exception]) -> Any:
    return probe(Session(answers), [Host(a) for a in answers])  # type: ignore[arg-type]


def test_synced_everywhere_means_no_hold() -> None:
    group = {"commitlog_sync": "group", "commitlog_sync_period": "0ms"}
    found = run({"127.0.0.1": group, "127.0.0.2": group, "127.0.0.3": {"commitlog_sync": "batch"}})
    assert found.hold_s == 0.0
    assert "fsynced" in found.summary and "127.0.0.3 batch" in found.summary


def test_one_periodic_node_decides_with_its_period() -> None:
    found = run(
        {
            "127.0.0.1": {"commitlog_sync": "group"},
            "127.0.0.2": {"commitlog_sync": "periodic", "commitlog_sync_period": "2s"},
            "127.0.0.3": {"commitlog_sync": "periodic", "commitlog_sync_period": "20000ms"},
        }
    )
    assert found.hold_s == 20.0 + MARGIN_S
    assert "127.0.0.3 periodic 20 s" in found.summary


@pytest.mark.parametrize("answer", [OperationTimedOut("no answer"), {}, {"commitlog_sync": "periodic"}])
def test_a_node_that_cannot_be_asked_counts_as_periodic(
    answer: dict[str, str] | Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durability, "PAUSE_S", 0.0)
    found = run({"127.0.0.1": {"commitlog_sync": "group"}, "127.0.0.2": answer})
    assert found.hold_s == UNKNOWN_PERIOD_S + MARGIN_S


def test_no_host_means_the_conservative_hold() -> None:
    assert run({}).hold_s == UNKNOWN_PERIOD_S + MARGIN_S


def test_durations_in_cassandras_syntax() -> None:
    assert [duration_s(t) for t in ("10000ms", "10s", "2m", " 5 s", "1h")] == [10.0, 10.0, 120.0, 5.0, 3600.0]
    assert duration_s("ten") is None and duration_s("10parsecs") is None


def test_a_configured_hold_wins() -> None:
    assert configured(3.0).hold_s == 3.0 and "CASSANDRA_ACK_HOLD_S" in configured(3.0).summary


def test_a_host_whose_pool_is_still_opening_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durability, "PAUSE_S", 0.0)
    session = Session({"127.0.0.2": OperationTimedOut("marked down")}, flaky=2)
    assert probe(session, [Host("127.0.0.2")]).hold_s == 0.0  # type: ignore[arg-type]
    assert session.asked == 3


@dataclass
class UpHost:
    address: str
    is_up: bool | None


class Cluster:
    """The driver's Cluster as NodeWatch sees it: metadata.all_hosts()."""

    def __init__(self, hosts: list[UpHost]) -> None:
        self.hosts = hosts
        self.metadata = self

    def all_hosts(self) -> list[UpHost]:
        return self.hosts


def test_the_nodes_are_asked_again_when_one_comes_up_without_an_event() -> None:
    """The probe asks the nodes that are up; a node marked up with no event the watch heard of
    (one CI run's third node) is a change all the same, once."""
    third = UpHost("127.0.0.3", None)
    watch = NodeWatch(Cluster([UpHost("127.0.0.1", True), UpHost("127.0.0.2", True), third]))  # type: ignore[arg-type]
    assert watch.take() is False
    third.is_up = True
    assert watch.take() is True and watch.take() is False
    watch.on_down(third)  # and the driver's events, as before
    assert watch.take() is True and watch.take() is False
