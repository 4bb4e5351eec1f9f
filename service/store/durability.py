"""What an acknowledgement from Cassandra means, asked of the nodes themselves.

A node with `commitlog_sync: group` (or `batch`) acknowledges a write only after the commit log
holding it is fsynced: the record survives a power cut, and the outbox may forget it at once.
With `periodic` (Cassandra's default) the acknowledgement comes before the fsync, and a node
that loses power loses up to a period of acknowledged writes: the outbox then keeps acknowledged
records for the period plus a margin and sends them again when a node goes down or comes back.
Measured here (tests/service/store/test_power_cut.py): a power cut with `periodic` and no hold
lost acknowledged records; with `group` and no hold it lost none.

Each node is asked through the virtual table `system_views.settings` (Cassandra 4.0+, readable by
any login); the weakest answer decides. A node that cannot be asked is taken as periodic.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from service.store.cassandra_schema import DRIVER_ERRORS, one_line

log = logging.getLogger(__name__)

QUERY = "SELECT name, value FROM system_views.settings WHERE name IN ('commitlog_sync', 'commitlog_sync_period')"
SYNCED = ("group", "batch")  # acknowledged after the fsync
MARGIN_S = 5.0  # the period is a target, not a bound: a busy disk's fsync comes late
UNKNOWN_PERIOD_S = 10.0  # Cassandra's default period
# Right after connecting, the driver is still opening its pools to the other hosts ("marked
# down"): each host gets a few tries before it counts as unknown.
TRIES, PAUSE_S = 6, 0.5
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"^\s*(\d+)\s*([a-zµ]+)\s*$")


@dataclass(frozen=True)
class Durability:
    hold_s: float  # how long acknowledged records stay in the outbox
    summary: str  # for /readyz and the log


def duration_s(text: str) -> float | None:
    """'10000ms' or '10s' (Cassandra's duration syntax) in seconds; None if unreadable."""
    match = DURATION.match(text)
    if match is None or match.group(2) not in UNITS:
        return None
    return int(match.group(1)) * UNITS[match.group(2)]


def probe(session: Session, hosts: list[Any]) -> Durability:
    """Ask every host that is up how it syncs its commit log; the weakest answer decides."""
    periodic: dict[str, float] = {}  # host -> its period
    synced: list[str] = []
    for host in hosts:
        values = _ask(session, host)
        mode = values.get("commitlog_sync", "unknown")
        if mode in SYNCED:
            synced.append(f"{host.address} {mode}")
        else:
            period = duration_s(values.get("commitlog_sync_period", "")) or UNKNOWN_PERIOD_S
            periodic[f"{host.address} {mode}"] = period
    if not periodic and synced:
        return Durability(0.0, f"acknowledged = fsynced ({', '.join(synced)}): no hold")
    hold = max(periodic.values(), default=UNKNOWN_PERIOD_S) + MARGIN_S
    weak = ", ".join(f"{name} {period:g} s" for name, period in periodic.items()) or "no node answered"
    return Durability(hold, f"acknowledged before the fsync ({weak}): acknowledged records held {hold:g} s")


def _ask(session: Session, host: Any) -> dict[str, str]:
    for attempt in range(TRIES):
        try:
            return {r.name: r.value for r in session.execute(QUERY, host=host, timeout=10.0)}
        except DRIVER_ERRORS as exc:
            if attempt == TRIES - 1:
                log.warning("cannot ask %s how it syncs its commit log (taken as periodic): %s", host, one_line(exc))
            else:
                time.sleep(PAUSE_S)
    return {}


def configured(hold_s: float) -> Durability:
    return Durability(hold_s, f"acknowledged records held {hold_s:g} s (CASSANDRA_ACK_HOLD_S)")
