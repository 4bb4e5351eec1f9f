"""Security headers on every answer; the page's Content-Security-Policy allows only its own
script and style files (no inline script, no inline style), data: images (the frames), and no
framing by other sites."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": CSP,
}
# As the ASGI message carries them: encoded once, not per answer (Starlette's MutableHeaders
# re-encoded and searched the list for each of the four: ~8 us of every answer).
_RAW = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in ALWAYS.items())


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}  # an answer's own value wins
                message["headers"] = headers + [h for h in _RAW if h[0] not in present]
            await send(message)

        await self.app(scope, receive, _send)
