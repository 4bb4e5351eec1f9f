"""Security headers: added once to every answer; a header the answer sets itself is kept."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from service.api.headers import ALWAYS, SecurityHeaders


def _own(request: Request) -> PlainTextResponse:
    return PlainTextResponse("framed", headers={"X-Frame-Options": "SAMEORIGIN"})


def _plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain")


def test_every_answer_gets_each_header_once_and_its_own_value_wins() -> None:
    app = Starlette(routes=[Route("/own", _own), Route("/plain", _plain)], middleware=[Middleware(SecurityHeaders)])
    with TestClient(app) as client:
        plain = client.get("/plain")
        for name, value in ALWAYS.items():
            assert plain.headers.get_list(name) == [value], name
        own = client.get("/own")
        assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert own.headers["content-security-policy"] == ALWAYS["content-security-policy"]
        assert client.get("/missing").headers["x-content-type-options"] == "nosniff"
