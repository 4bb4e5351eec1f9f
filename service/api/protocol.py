"""uvicorn's httptools protocol with a deadline for the request head: a client that opens a
connection and trickles its headers (or sends none) is answered 408 and cut off after
MNIST_HEADER_TIMEOUT_S, instead of holding a connection for ever. (The body has its own deadline,
MNIST_BODY_TIMEOUT_S, in uploads.py; idle keep-alive connections uvicorn closes itself.)"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings


@functools.cache
def header_timeout_s() -> float:
    """Read once per worker process (each is spawned with the parent's environment)."""
    return Settings.from_env(os.environ).header_timeout_s


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(header_timeout_s(), self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        body = json.dumps({"error": {"code": "header_timeout", "message": "the request head took too long"}}).encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is cut off too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
