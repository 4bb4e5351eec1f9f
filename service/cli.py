"""Command line: `serve` the API, `predict` local files, `migrate` the Cassandra schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from service import logs
from service.settings import Settings, SettingsError

log = logging.getLogger("service")


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnist-serve", description="Run the HTTP service.")
    parser.add_argument(
        "--host", default=os.environ.get("MNIST_HOST") or "127.0.0.1", help="default: $MNIST_HOST or 127.0.0.1"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("MNIST_PORT") or 8000), help="default: $MNIST_PORT or 8000"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes; each opens its own model session and store"
    )
    parser.add_argument("--log-level", default=None)
    parser.add_argument(
        "--root-path", default="", help="the path prefix a reverse proxy serves this under (e.g. /mnist)"
    )
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (the client's address, https links)",
    )
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1", help="proxies whose X-Forwarded-* count")
    args = parser.parse_args(argv)
    if args.log_level:
        os.environ["MNIST_LOG_LEVEL"] = args.log_level  # workers read their settings themselves
    try:
        settings = Settings.from_env()  # fail fast, before any worker starts
        _preflight(settings)
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if settings.cassandra_enabled and settings.cassandra_strict_startup:
        # Strict start-up is the pre-flight's, and it passed. The workers start as usual (waiting
        # for Cassandra, recording into the outbox) because uvicorn starts a new one whenever one
        # dies, and stops them all when one fails to start: a worker replaced during an outage,
        # strict too, took the whole service down.
        os.environ["CASSANDRA_STRICT_STARTUP"] = "false"
    if args.workers > 1 and not settings.ort_threads:
        # Each worker has its own ORT session: share the CPUs out instead of oversubscribing them.
        from service.core.model import usable_cpus

        os.environ["MNIST_ORT_THREADS"] = str(max(1, usable_cpus() // args.workers))
    import uvicorn

    from service.api.protocol import HeaderDeadlineProtocol

    metrics_dir = _fresh_metrics_dir() if args.workers > 1 else None
    try:
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=settings.log_level.lower(),
            log_config=None,  # each worker configures logging itself (service.logs), in its own process
            loop="auto",
            http=HeaderDeadlineProtocol,  # httptools, with a deadline for the request head
            access_log=False,
            root_path=args.root_path,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _fresh_metrics_dir() -> str:
    """A directory of its own for this start's workers' metrics (prometheus_client's multiprocess
    mode): counters from an earlier run must not add up into this one's."""
    from service.metrics import MULTIPROC_ENV

    path = tempfile.mkdtemp(prefix="mnist-metrics-")
    os.environ[MULTIPROC_ENV] = path  # the spawned workers inherit it
    return path


def _preflight(settings: Settings) -> None:
    """Check the model card and Cassandra once, before workers fork, so a wrong host, port,
    keyspace or password is one clear line rather than a traceback per worker."""
    from service.core.card import ModelCard, ModelCardError
    from service.core.groups import GroupClasses

    try:
        ModelCard.load(settings.model_card)
        GroupClasses.of(ModelCard.load(settings.groups_card))
    except ModelCardError as exc:
        raise SettingsError(str(exc)) from exc
    if settings.cassandra_enabled:
        _check_cassandra(settings, migrate_schema=settings.cassandra_migrate, strict=settings.cassandra_strict_startup)


def _check_cassandra(settings: Settings, migrate_schema: bool, strict: bool, replicate_auth: bool = False) -> None:
    """Connect once (and migrate if asked); any problem becomes one SettingsError line, except a
    node that is merely unreachable when not `strict` (the service then serves and connects later)."""
    from service.store import cassandra_schema
    from service.store.cassandra_schema import DRIVER_ERRORS, CassandraStartupError, CassandraUnreachable, connect

    driver_log = logging.getLogger("cassandra")
    level = driver_log.level
    driver_log.setLevel(logging.CRITICAL)  # its tracebacks would bury our one line
    try:
        cluster, session = connect(settings, migrate_schema=migrate_schema)
    except CassandraUnreachable as exc:
        if strict:
            raise SettingsError(str(exc)) from exc
        log.warning("%s; serving, and recording into the outbox until it answers", exc)
        return
    except CassandraStartupError as exc:
        raise SettingsError(str(exc)) from exc
    finally:
        driver_log.setLevel(level)
    try:
        if replicate_auth and cassandra_schema.replicate_auth(session, settings):
            log.info("system_auth now replicated as %s: repair it on each node", settings.cassandra_replication)
    except (CassandraStartupError, *DRIVER_ERRORS) as exc:
        raise SettingsError(f"system_auth: {cassandra_schema.one_line(exc)}") from exc
    finally:
        cluster.shutdown()


def migrate(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mnist-migrate",
        description="Create the Cassandra keyspace and tables if missing (idempotent; never drops).",
    )
    parser.add_argument(
        "--replicate-auth",
        action="store_true",
        help="also give system_auth the keyspace's NetworkTopologyStrategy replication (a cluster's logins)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if not settings.cassandra_enabled:
            raise SettingsError("CASSANDRA_CONTACT_POINTS is not set: nothing to migrate")
        _check_cassandra(settings, migrate_schema=True, strict=True, replicate_auth=args.replicate_auth)
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    log.info("schema ready in keyspace %s", settings.cassandra_keyspace)
    return 0


def predict(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mnist-predict",
        description="Print the digit in each picture (no server); each prediction is recorded like any other. "
        "Columns: file, digit (or number), confidence, and 'uncertain' when it is.",
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--number", action="store_true", help="read a whole number in each picture (as /v1/read)")
    args = parser.parse_args(argv)
    from service.core.card import ModelCardError

    try:
        settings = Settings.from_env()
        return asyncio.run(_predict_files(settings, args.images, args.number))
    except (SettingsError, ModelCardError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


async def _predict_files(settings: Settings, paths: list[Path], number: bool = False) -> int:
    from service.core.outcome import Picture
    from service.errors import ServiceError
    from service.metrics import Metrics
    from service.wiring import open_predictor

    status = 0
    pictures: list[tuple[Path, Picture]] = []
    for path in paths:
        try:
            pictures.append((path, Picture(path.name, path.read_bytes())))
        except OSError as exc:
            sys.stderr.write(f"{path}: cannot read: {exc.strerror}\n")
            status = 1
    async with open_predictor(settings, Metrics()) as predictor:
        labels = predictor.model.card.labels
        use_case = predictor.read_pictures if number else predictor.predict_pictures
        for path, picture in pictures:
            try:
                [outcome] = await use_case([picture], "cli", "")
            except ServiceError as exc:
                sys.stderr.write(f"{path}: {exc.code}: {exc.message}\n")
                return 2
            if outcome.record is None:
                assert outcome.failure is not None
                sys.stderr.write(f"{path}: {outcome.failure.code}: {outcome.failure.message}\n")
                status = 1
                continue
            rec = outcome.record
            answer = rec.text if number else labels[rec.digit]
            flag = "\tuncertain" if predictor.uncertain(rec.confidence) else ""
            sys.stdout.write(f"{path}\t{answer}\t{rec.confidence:.4f}{flag}\n")
    return status


def main(argv: list[str] | None = None) -> int:
    """`python -m service [serve|predict|migrate] ...`; no sub-command means serve."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logs.configure(os.environ.get("MNIST_LOG_LEVEL") or "INFO", os.environ.get("MNIST_LOG_FORMAT") or "text")
    commands = {"serve": serve, "predict": predict, "migrate": migrate}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return serve(argv)
