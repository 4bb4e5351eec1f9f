"""One typed settings object, read from the environment inside the app factory (never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOAT_CARD = PROJECT_ROOT / "models" / "mnist-cnn.card.json"
INT8_CARD = PROJECT_ROOT / "models" / "mnist-cnn-int8.card.json"
GROUPS_CARD = PROJECT_ROOT / "models" / "mnist-groups.card.json"


def default_card() -> Path:
    """The int8 model if the pipeline shipped one (it does so only within its accuracy budget,
    see convert/quantize.py), else the float model."""
    return INT8_CARD if INT8_CARD.is_file() else FLOAT_CARD


CONSISTENCY_LEVELS = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)


# Numbers that may also be "auto" (None): the service works them out itself.
AUTO_FLOATS = ("cassandra_ack_hold_s",)


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    # --- model and inference ---
    model_card: Path = field(default_factory=default_card)
    groups_card: Path = GROUPS_CARD  # the group model /v1/read weighs touching digits with
    ort_threads: int = 0  # 0: the CPUs this process may really use
    # Frames of requests arriving together may share one ORT call, up to this many. Measured on
    # 2 cores (bench/): sharing did not raise throughput (ORT is ~15 % of a request's CPU), so
    # each request's own frames go alone by default.
    max_batch: int = 1
    # --- input limits ---
    max_body_bytes: int = 10 * 1024 * 1024
    max_files: int = 16
    max_pixels: int = 40_000_000
    max_request_pixels: int = 64_000_000  # summed over a request's files
    # Decoded pictures alive at once in one worker. A 40 MP RGB picture takes 160 MB in Pillow:
    # with this budget a worker under a flood of such uploads stays near 100 MB + the budget
    # (bench: hostile mix), and a picture that alone needs more is refused with 413.
    decode_budget_mb: int = 192
    max_filename_chars: int = 255
    # Slow senders: the request head and the body each have a deadline (408 after it).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # --- embedded store / Cassandra outbox ---
    data_dir: Path = Path("var")
    # --- Cassandra (unset contact points: the embedded store alone) ---
    cassandra_contact_points: tuple[str, ...] = ()
    cassandra_port: int = 9042
    cassandra_keyspace: str = "mnist"
    cassandra_local_dc: str = ""
    cassandra_username: str = ""
    cassandra_password: str = field(default="", repr=False)
    cassandra_consistency: str = "LOCAL_QUORUM"
    cassandra_replication: str = "SimpleStrategy:1"  # or "NetworkTopologyStrategy:dc1=3,dc2=3"
    cassandra_ttl_s: int = 0  # 0: rows never expire
    cassandra_tls_ca: str = ""  # path of a CA bundle: TLS on when set
    cassandra_connect_timeout_s: float = 10.0
    cassandra_max_in_flight: int = 256
    cassandra_migrate: bool = True  # create the schema at start-up (idempotent)
    # Unreachable at start-up: serve and record into the outbox, connecting in the background (edge
    # hosts boot before their network); strict: refuse to start instead. Wrong settings (credentials,
    # keyspace, TLS) stop start-up either way.
    cassandra_strict_startup: bool = False
    # Acknowledged records stay in the outbox this long, to be sent again if a node restarts
    # meanwhile. None ("auto"): asked of the nodes (store/durability.py) — 0 where an acknowledgement
    # means fsynced (commitlog_sync group or batch), the sync period + 5 s where it does not.
    cassandra_ack_hold_s: float | None = None
    # --- access (service/api/access.py) ---
    predict_tokens: tuple[str, ...] = field(default=(), repr=False)  # bearer tokens that may predict
    read_tokens: tuple[str, ...] = field(default=(), repr=False)  # ... that may also read history and metrics
    client_address: str = "hashed"  # what is stored of a client's address: raw, hashed or none
    # --- misc ---
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    recent_limit_max: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from MNIST_* and CASSANDRA_* environment variables; fail fast on bad values."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            key = f.name.upper() if f.name.startswith("cassandra_") else f"MNIST_{f.name.upper()}"
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            default = f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default
            if f.name in AUTO_FLOATS:
                values[f.name] = None if raw.strip().lower() == "auto" else _parse(key, raw, 0.0)
                continue
            values[f.name] = _parse(key, raw, default)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        positive = (
            "max_batch",
            "max_body_bytes",
            "max_files",
            "max_pixels",
            "max_request_pixels",
            "decode_budget_mb",
            "max_filename_chars",
            "cassandra_port",
            "cassandra_max_in_flight",
            "recent_limit_max",
        )
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.header_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise SettingsError("MNIST_HEADER_TIMEOUT_S and MNIST_BODY_TIMEOUT_S must be positive")
        if self.ort_threads < 0:
            raise SettingsError(f"ort_threads must be >= 0, got {self.ort_threads}")
        if self.cassandra_ack_hold_s is not None and self.cassandra_ack_hold_s < 0:
            raise SettingsError(f"CASSANDRA_ACK_HOLD_S must be >= 0 or 'auto', got {self.cassandra_ack_hold_s}")
        if self.cassandra_ttl_s < 0:
            raise SettingsError(f"cassandra_ttl_s must be >= 0, got {self.cassandra_ttl_s}")
        if self.cassandra_consistency.upper() not in CONSISTENCY_LEVELS:
            raise SettingsError(
                f"CASSANDRA_CONSISTENCY must be one of {', '.join(CONSISTENCY_LEVELS)}, "
                f"got {self.cassandra_consistency!r}"
            )
        if not self.cassandra_keyspace.replace("_", "").isalnum() or len(self.cassandra_keyspace) > 48:
            raise SettingsError(f"CASSANDRA_KEYSPACE {self.cassandra_keyspace!r} is not a valid name")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"MNIST_LOG_LEVEL {self.log_level!r} is not a logging level")
        if self.client_address not in ("raw", "hashed", "none"):
            raise SettingsError(f"MNIST_CLIENT_ADDRESS {self.client_address!r}: use raw, hashed or none")
        if any(len(t) < 16 for t in self.predict_tokens + self.read_tokens):
            raise SettingsError("MNIST_PREDICT_TOKENS / MNIST_READ_TOKENS: every token needs 16 characters or more")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"MNIST_LOG_FORMAT {self.log_format!r}: use 'text' or 'json'")
        parse_replication(self.cassandra_replication)

    @property
    def cassandra_enabled(self) -> bool:
        return bool(self.cassandra_contact_points)


def parse_replication(text: str) -> dict[str, str]:
    """'SimpleStrategy:1' or 'NetworkTopologyStrategy:dc1=3,dc2=2' -> a CQL replication map."""
    strategy, _, rest = text.partition(":")
    if strategy == "SimpleStrategy" and rest.isdigit() and int(rest) > 0:
        return {"class": "SimpleStrategy", "replication_factor": rest}
    if strategy == "NetworkTopologyStrategy" and rest:
        out = {"class": "NetworkTopologyStrategy"}
        for part in rest.split(","):
            dc, _, rf = part.partition("=")
            if not dc or not rf.isdigit():
                break
            out[dc.strip()] = rf
        else:
            return out
    raise SettingsError(
        f"CASSANDRA_REPLICATION {text!r}: use 'SimpleStrategy:RF' or 'NetworkTopologyStrategy:dc1=RF,dc2=RF'"
    )


def _parse(key: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r}: {exc}") from exc
    return raw
