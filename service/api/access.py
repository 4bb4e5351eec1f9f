"""Who may do what. Two scopes: `predict` (send pictures or tensors) and `read` (recorded
predictions and metrics). Bearer tokens come from the settings: a read token may also predict.

With no tokens configured, predicting is open (the first README command keeps working) and reading
is allowed to loopback clients only: the history holds every upload's file name and result.
Tokens are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from service.errors import ServiceError
from service.settings import Settings

PREDICT, READ = "predict", "read"
KEY_RETRY_S = 0.5  # a client-address key that could not be read or made is tried again at most this often

log = logging.getLogger(__name__)


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    predict_tokens: tuple[bytes, ...]
    read_tokens: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(tuple(t.encode() for t in settings.predict_tokens), tuple(t.encode() for t in settings.read_tokens))

    def scopes_of(self, token: bytes | None) -> set[str]:
        if token is None:
            return set()
        # Every configured token is compared (constant time each, no early exit: sum, not any), so
        # timing tells nothing about which one matched or how much of it.
        read = sum(hmac.compare_digest(token, t) for t in self.read_tokens) > 0
        predict = sum(hmac.compare_digest(token, t) for t in self.predict_tokens) > 0
        return {READ, PREDICT} if read else ({PREDICT} if predict else set())

    def check(self, request: Request, scope: str) -> None:
        """Raise 401 (no or unknown token where one is needed) or 403 (not allowed) for `scope`."""
        guarded = self.read_tokens if scope == READ else self.predict_tokens + self.read_tokens
        if scope == PREDICT and not guarded:
            return  # no tokens at all: predicting is open
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip().encode() if scheme.lower() == "bearer" and value.strip() else None
        if not guarded:  # reading, with no read tokens configured
            client = request.client.host if request.client else ""
            if _loopback(client):
                return
            raise Forbidden(
                "recorded predictions and metrics are served to loopback clients only; "
                "set MNIST_READ_TOKENS to give others a token",
            )
        scopes = self.scopes_of(token)
        if scope in scopes:
            return
        if token is None or not scopes:
            raise Unauthorized(f"send 'Authorization: Bearer <token>' with a token allowed to {scope}")
        raise Forbidden(f"this token may not {scope}")


class ClientAddress:
    """What is stored of the client's address: as it is, hashed (the default), or nothing."""

    def __init__(self, mode: str, data_dir: Path) -> None:
        self.mode = mode
        self._data_dir = data_dir
        self._key = b""  # none yet
        self._key_error: str | None = None
        self._tried_at = 0.0
        if mode == "hashed":
            self._load_key()
        # Clients come back: an HMAC costs ~25 us per request, a cache hit well under 1.
        self._hashed = functools.lru_cache(maxsize=4096)(self._hash)

    def _load_key(self) -> bool:
        """The key from the data directory. A worker starts even when it cannot be read or made
        (the disk full, read-only, not mounted yet): uvicorn would stop every worker for one
        that failed to start. Addresses are then recorded as "" and the key tried again, at
        most every KEY_RETRY_S (the store on the same disk most likely refuses records anyway)."""
        self._tried_at = time.monotonic()
        try:
            self._key = _hash_key(self._data_dir)
        except OSError as exc:
            if str(exc) != self._key_error:  # one line per new kind of failure
                log.error(
                    "cannot keep the client-address key in %s (addresses recorded as ''): %s", self._data_dir, exc
                )
            self._key_error = str(exc)
            return False
        return True

    def __call__(self, request: Request) -> str:
        host = request.client.host if request.client else ""
        if self.mode == "raw" or not host:
            return host
        if self.mode == "none":
            return ""
        if not self._key and (time.monotonic() - self._tried_at < KEY_RETRY_S or not self._load_key()):
            return ""
        return self._hashed(host)

    def _hash(self, host: str) -> str:
        # Keyed: a plain hash of an IPv4 address is undone by trying all 2^32 of them.
        return "h:" + hmac.new(self._key, host.encode(), hashlib.sha256).hexdigest()[:16]


def _hash_key(data_dir: Path) -> bytes:
    """The deployment's key for hashing addresses: kept beside the store, so hashes stay comparable
    across workers and restarts (the same client hashes the same)."""
    path = data_dir / "client-hash.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("xb") as fh:  # the first worker to start writes it
            fh.write(secrets.token_bytes(32))
        path.chmod(0o600)
    except FileExistsError:
        pass
    key = path.read_bytes()
    return key if len(key) == 32 else hashlib.sha256(key).digest()
