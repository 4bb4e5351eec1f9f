"""What one run measures: the run spec, one value per question, instead of long argument lists."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PARTS = (
    "inference",
    "reading",
    "cold",
    "hostile",
    "ours",
    "cassandra",
    "peers",
    "recording",
    "commits",
    "sync",
    "baselines",
    "against",
    "profile",
)


@dataclass(frozen=True)
class RunSpec:
    out: Path = BENCH
    smoke: bool = False
    workers: int = 2
    concurrencies: tuple[int, ...] = (1, 8, 64)
    seconds: float = 10.0  # per measured point
    # Per measured point: every wrk run is bounded in time and in requests. High enough that no
    # system reaches it within `seconds` (at 60,000 the floor hit it here at 6,000 req/s, and its
    # req/s, the denominator of every ratio, came out low); a point that reaches it says so.
    max_requests: int = 300_000
    warmup_s: float = 1.0  # unmeasured load before each point
    cassandra_warmup_s: float = 90.0  # unmeasured load on a fresh JVM before its scenarios
    cold_starts: int = 5
    rounds: int = 2  # peers: measured rounds, the systems' order rotated between them
    hostile_requests: int = 8  # concurrent requests of the hostile mix
    hostile_files: int = 16  # blank max-pixel PNGs in each
    parts: tuple[str, ...] = PARTS  # what to run (--only)
    against: str | None = None  # an earlier commit to measure this checkout against (bench/against.py)
    against_store: str = "sqlite"  # what both record in there: the embedded store, or a Cassandra node

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> RunSpec:
        parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
        parser.add_argument("--smoke", action="store_true", help="seconds per scenario, this service only")
        parser.add_argument("--out", type=Path, default=BENCH)
        parser.add_argument("--seconds", type=float, default=cls.seconds)
        parser.add_argument("--max-requests", type=int, default=cls.max_requests)
        parser.add_argument("--workers", type=int, default=cls.workers)
        parser.add_argument("--rounds", type=int, default=cls.rounds, help="peers: rounds, order rotated")
        parser.add_argument("--only", help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
        parser.add_argument("--against", help="a commit to measure this checkout against, side by side")
        parser.add_argument(
            "--against-store",
            choices=("sqlite", "cassandra"),
            default=cls.against_store,
            help="against: both record in the embedded store, or in one Cassandra node (own keyspaces)",
        )
        parser.add_argument("--no-baselines", action="store_true")
        parser.add_argument("--no-cassandra", action="store_true")
        parser.add_argument(
            "--cassandra-warmup", type=float, default=cls.cassandra_warmup_s, help="seconds of unmeasured load"
        )
        args = parser.parse_args(argv)
        parts = tuple(p.strip() for p in args.only.split(",")) if args.only else PARTS
        if not args.only:  # measuring against a commit needs one; profiling is a question of its own
            parts = tuple(p for p in parts if p != "profile" and (p != "against" or args.against is not None))
        unknown = set(parts) - set(PARTS)
        if unknown:
            parser.error(f"unknown parts {sorted(unknown)}: use {', '.join(PARTS)}")
        if args.smoke:
            return cls(
                out=args.out,
                smoke=True,
                workers=1,
                concurrencies=(1, 8),
                seconds=2.0,
                max_requests=2000,
                cold_starts=2,
                hostile_requests=2,
                parts=tuple(p for p in parts if p in ("reading", "commits", "cold", "hostile", "ours")),
            )
        off = (
            ("cassandra", args.no_cassandra),
            ("sync", args.no_cassandra),
            ("peers", args.no_baselines),
            ("baselines", args.no_baselines),
        )
        dropped = {name for name, flag in off if flag}
        return cls(
            out=args.out,
            workers=args.workers,
            seconds=args.seconds,
            max_requests=args.max_requests,
            cassandra_warmup_s=args.cassandra_warmup,
            rounds=args.rounds,
            parts=tuple(p for p in parts if p not in dropped),
            against=args.against,
            against_store=args.against_store,
        )
