"""Cassandra: the cluster object, connecting, and the schema (created and migrated idempotently,
never dropped)."""

from __future__ import annotations

import re
import ssl
from typing import Any

from cassandra import ConsistencyLevel, DriverException, InvalidRequest, OperationTimedOut
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException, ConnectionShutdown
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, RetryPolicy, TokenAwarePolicy
from cassandra.query import SimpleStatement

from service.settings import Settings, parse_replication
from service.store.record import ADDED_FIELDS

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
DRIVER_ERRORS = (DriverException, NoHostAvailable, ConnectionException, OSError)
# DDL cannot take bind markers. The keyspace name and replication map are validated
# identifiers and numbers (settings.validate and _replication_cql), never free text.
KEYSPACE_DDL = "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {keyspace}.predictions (
    day date,
    id timeuuid,
    created_at timestamp,
    filename text,
    digit tinyint,
    confidence float,
    probabilities list<float>,
    model_sha text,
    image_sha256 text,
    image_bytes int,
    width int,
    height int,
    client text,
    latency_ms float,
    PRIMARY KEY ((day), id)
) WITH CLUSTERING ORDER BY (id DESC)
  AND default_time_to_live = {ttl}
  AND comment = 'one row per answered prediction; partitioned by UTC day so partitions stay bounded'
"""
DAYS_DDL = """
CREATE TABLE IF NOT EXISTS {keyspace}.prediction_days (
    bucket int,
    day date,
    PRIMARY KEY ((bucket), day)
) WITH CLUSTERING ORDER BY (day DESC)
  AND comment = 'the days that have predictions, newest first, for paging across partitions'
"""
ADD_COLUMN_DDL = "ALTER TABLE {keyspace}.predictions ADD {column} {cql_type}"
AUTH_DDL = "ALTER KEYSPACE system_auth WITH replication = {replication}"
# Read at ALL after replicating system_auth: a read at ALL repairs the replicas it finds lacking
# (blocking read repair), so the new replicas have every role at once and logins work on any
# node without waiting for `nodetool repair` (a QUORUM login read could otherwise reach two
# replicas that have no roles yet: "cassandra is not permitted to log in").
AUTH_READS = (
    "SELECT * FROM system_auth.roles",
    "SELECT * FROM system_auth.role_members",
    "SELECT * FROM system_auth.role_permissions",
)
# Columns of fields added after the first schema (record.ADDED_FIELDS), with their CQL types.
ADDED_COLUMNS = {"door": "text", "text": "text", "digits": "text"}
assert set(ADDED_COLUMNS) == set(ADDED_FIELDS)


class CassandraStartupError(Exception):
    """Cassandra cannot be used with these settings; the message is one line for the operator."""


class CassandraUnreachable(CassandraStartupError):
    """No node answered at all (refused, timed out): down or not reachable yet -- not a wrong setting."""


# What a node that is down or out of reach looks like to the driver (per host, in NoHostAvailable);
# a node killed while the driver reads the schema resets the connection: ConnectionShutdown.
_DOWN = (OSError, OperationTimedOut, ConnectionShutdown)


def unreachable(exc: BaseException) -> bool:
    """True when every contact point failed to connect at all; False for a node that answered and
    refused (bad credentials, TLS, protocol): that is a wrong setting, and waiting will not fix it."""
    if isinstance(exc, NoHostAvailable):
        return bool(exc.errors) and all(isinstance(e, _DOWN) for e in exc.errors.values())
    return isinstance(exc, _DOWN)


class RetryTimeouts(RetryPolicy):  # type: ignore[misc]
    """Retry a timed-out write or read a few times: the writes are idempotent by record id.
    (The driver passes everything but the query by keyword.)"""

    MAX_RETRIES = 3

    def _again(self, consistency: Any, retry_num: int) -> tuple[Any, Any]:
        return (self.RETRY, consistency) if retry_num < self.MAX_RETRIES else (self.RETHROW, None)

    def on_write_timeout(self, query: Any, consistency: Any, retry_num: int = 0, **_: Any) -> tuple[Any, Any]:
        return self._again(consistency, retry_num)

    def on_read_timeout(self, query: Any, consistency: Any, retry_num: int = 0, **_: Any) -> tuple[Any, Any]:
        return self._again(consistency, retry_num)


def _replication_cql(text: str) -> str:
    parts = parse_replication(text)
    for key, value in parts.items():
        if key != "class" and not (IDENTIFIER.match(key) or key == "replication_factor"):
            raise CassandraStartupError(f"replication: bad data-centre name {key!r}")
        if key != "class" and not value.isdigit():
            raise CassandraStartupError(f"replication: bad factor {value!r}")
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in parts.items()) + "}"


def make_cluster(settings: Settings) -> Cluster:
    """A Cluster for these settings. Create it after the worker process forks."""
    auth = None
    if settings.cassandra_username:
        auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
    ssl_context = None
    if settings.cassandra_tls_ca:
        ssl_context = ssl.create_default_context(cafile=settings.cassandra_tls_ca)
    balancing = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc or None))
    profile = ExecutionProfile(
        load_balancing_policy=balancing,
        retry_policy=RetryTimeouts(),
        consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_consistency.upper()],
        request_timeout=10.0,
    )
    return Cluster(
        contact_points=list(settings.cassandra_contact_points),
        port=settings.cassandra_port,
        auth_provider=auth,
        ssl_context=ssl_context,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.cassandra_connect_timeout_s,
        control_connection_timeout=settings.cassandra_connect_timeout_s,
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
        protocol_version=5,
    )


def one_line(exc: BaseException) -> str:
    if isinstance(exc, NoHostAvailable):
        reasons = "; ".join(f"{host}: {err}" for host, err in exc.errors.items())
        return f"no Cassandra host answered ({reasons})".replace("\n", " ")
    return (str(exc) or type(exc).__name__).replace("\n", " ")


def schema_problem(cluster: Cluster, keyspace: str) -> str | None:
    """What the schema lacks (from the driver's metadata, no query), or None when it is complete."""
    if keyspace not in cluster.metadata.keyspaces:
        return f"keyspace {keyspace!r} does not exist"
    table = cluster.metadata.keyspaces[keyspace].tables.get("predictions")
    if table is None:
        return f"table {keyspace}.predictions does not exist"
    missing = sorted(set(ADDED_COLUMNS) - set(table.columns))
    return f"{keyspace}.predictions lacks columns {missing}" if missing else None


def connect(settings: Settings, migrate_schema: bool) -> tuple[Cluster, Session]:
    """Connect, migrate the schema if it lacks anything (and migrating is allowed), check it."""
    cluster = make_cluster(settings)
    where = f"{','.join(settings.cassandra_contact_points)}:{settings.cassandra_port}"
    keyspace = settings.cassandra_keyspace
    try:
        session = cluster.connect()
        # Only when something is missing: every worker connects, and DDL with its schema-agreement
        # waits would hold each one up for seconds (the preflight has usually migrated already).
        if migrate_schema and schema_problem(cluster, keyspace) is not None:
            migrate(session, settings)
        problem = schema_problem(cluster, keyspace)
        if problem is not None:
            raise CassandraStartupError(f"Cassandra at {where}: {problem} (run mnist-migrate)")
    except CassandraStartupError:
        cluster.shutdown()
        raise
    except DRIVER_ERRORS as exc:
        cluster.shutdown()
        kind = CassandraUnreachable if unreachable(exc) else CassandraStartupError
        raise kind(f"Cassandra at {where}: {one_line(exc)}") from exc
    return cluster, session


def migrate(session: Session, settings: Settings) -> None:
    """Create keyspace and tables if missing, add later columns if missing. Idempotent, safe
    under concurrent workers; never drops."""
    keyspace = settings.cassandra_keyspace
    if not IDENTIFIER.match(keyspace):
        raise CassandraStartupError(f"keyspace {keyspace!r} is not a valid CQL identifier")
    replication = _replication_cql(settings.cassandra_replication)
    ttl = int(settings.cassandra_ttl_s)
    for ddl in (
        KEYSPACE_DDL.format(keyspace=keyspace, replication=replication),
        TABLE_DDL.format(keyspace=keyspace, ttl=ttl),
        DAYS_DDL.format(keyspace=keyspace),
    ):
        session.execute(ddl, timeout=60.0)
    # Concurrent CREATE ... IF NOT EXISTS from several workers: wait until they agree.
    cluster = session.cluster
    cluster.control_connection.wait_for_schema_agreement(wait_time=30)
    # Where another process created the keyspace a moment before, this driver may not have heard
    # of it yet (its CREATE was a no-op, no schema event arrived): read the schema afresh.
    cluster.refresh_schema_metadata(max_schema_agreement_wait=30)
    cluster.refresh_table_metadata(keyspace, "predictions")
    known = cluster.metadata.keyspaces.get(keyspace)
    table = known.tables.get("predictions") if known is not None else None
    if table is None:
        raise CassandraStartupError(f"{keyspace}.predictions was created but is not in the schema yet")
    # Every missing column, then one wait for agreement and one refresh: each of those steps may
    # wait out its timeout when a node dies mid-way, so there is one of each, not one per column.
    missing = {column: cql_type for column, cql_type in ADDED_COLUMNS.items() if column not in table.columns}
    for column, cql_type in missing.items():
        try:
            ddl = ADD_COLUMN_DDL.format(keyspace=keyspace, column=column, cql_type=cql_type)
            session.execute(ddl, timeout=60.0)
        except InvalidRequest as exc:  # another worker added it in between
            if "conflicts with an existing column" not in str(exc) and "already exist" not in str(exc):
                raise
    if missing:
        cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        # The driver updates its metadata from schema events in the background: read the table
        # now, or the caller's check may still see it without the columns.
        cluster.refresh_table_metadata(keyspace, "predictions")


def replicate_auth(session: Session, settings: Settings) -> bool:
    """Give system_auth the keyspace's replication, if it is a NetworkTopologyStrategy one (a
    cluster): logins then survive the loss of any node that the data survives. Returns whether
    it changed the replication. The roles are read back at ALL, which copies them to every replica;
    a `nodetool repair system_auth` afterwards is still good practice."""
    wanted = parse_replication(settings.cassandra_replication)
    if wanted["class"] != "NetworkTopologyStrategy":
        raise CassandraStartupError("replicating system_auth needs CASSANDRA_REPLICATION=NetworkTopologyStrategy:...")
    current = session.cluster.metadata.keyspaces["system_auth"].replication_strategy
    have = {dc: str(rf) for dc, rf in getattr(current, "dc_replication_factors", {}).items()}
    changed = have != {k: v for k, v in wanted.items() if k != "class"}
    if changed:
        session.execute(AUTH_DDL.format(replication=_replication_cql(settings.cassandra_replication)), timeout=60.0)
        session.cluster.control_connection.wait_for_schema_agreement(wait_time=60)
    for query in AUTH_READS:  # every time: a run that follows an interrupted one repairs too
        session.execute(SimpleStatement(query, consistency_level=ConsistencyLevel.ALL, fetch_size=1000), timeout=60.0)
    return changed
