"""Reading uploads off the wire, tested directly on ASGI requests."""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from service.api.uploads import (
    BodyTimeout,
    BodyTooLarge,
    clean_filename,
    disposition_filename,
    email_filename,
    read_body,
    read_pictures,
)
from service.errors import ServiceError
from service.settings import Settings


def _request(headers: dict[str, str], chunks: list[bytes], disconnect: bool = False) -> Request:
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or disconnect}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/predict",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def _run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_clean_filename_keeps_names_as_data() -> None:
    assert clean_filename("ma photo n°1.png", 255) == "ma photo n°1.png"
    assert clean_filename("a\x00b\x1b[31m\u200bc\ud800.png", 255) == "ab[31mc.png"
    assert clean_filename("x" * 300, 255) == "x" * 255
    assert clean_filename(None, 10) == "" and clean_filename("", 10) == ""


def test_read_body_stops_at_the_limit_with_or_without_content_length() -> None:
    four = Settings(max_body_bytes=4)
    assert _run(read_body(_request({}, [b"ab", b"cd"]), four)) == b"abcd"
    with pytest.raises(BodyTooLarge) as declared:
        _run(read_body(_request({"content-length": "5"}, [b"abcde"]), four))
    assert declared.value.status == 413 and declared.value.extra == {"limit_bytes": 4}
    with pytest.raises(BodyTooLarge):
        _run(read_body(_request({}, [b"abc", b"de"]), four))  # chunked: cut off while streaming
    with pytest.raises(ServiceError, match="Content-Length"):
        _run(read_body(_request({"content-length": "many"}, [b""]), four))


def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    async def trickle() -> Message:
        await asyncio.sleep(0.05)  # a byte at a time, for ever
        return {"type": "http.request", "body": b"x", "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": []}
    started = time.monotonic()
    with pytest.raises(BodyTimeout) as err:
        _run(read_body(Request(scope, trickle), Settings(body_timeout_s=0.3)))
    assert err.value.status == 408 and 0.3 <= time.monotonic() - started < 2


def test_a_client_that_goes_away_is_a_disconnect_not_an_error() -> None:
    with pytest.raises(ClientDisconnect):
        _run(read_body(_request({"content-type": "image/png"}, [b"\x89PNG"], disconnect=True), Settings()))


@pytest.mark.parametrize(
    ("headers", "chunks", "code"),
    [
        ({"content-type": "text/plain"}, [b"x"], "unsupported_media_type"),
        ({}, [b"x"], "unsupported_media_type"),
        ({"content-type": "image/png"}, [b""], "empty_file"),
        ({"content-type": "multipart/form-data; boundary=B"}, [b"--B\r\n\r\n--B--\r\n"], "bad_multipart"),
        (
            {"content-type": "multipart/form-data; boundary=B"},
            [b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--B--\r\n'],
            "missing_file",
        ),
    ],
)
def test_read_pictures_refuses_what_is_not_a_picture(headers: dict[str, str], chunks: list[bytes], code: str) -> None:
    with pytest.raises(ServiceError) as err:
        _run(read_pictures(_request(headers, chunks), Settings()))
    assert err.value.code == code
    assert 400 <= err.value.status < 500


def test_read_pictures_names_raw_bodies() -> None:
    read: Callable[[dict[str, str]], object] = lambda h: _run(read_pictures(_request(h, [b"data"]), Settings()))  # noqa: E731
    [named] = read({"content-type": "image/png", "x-filename": "a.png"})  # type: ignore[misc]
    [unnamed] = read({"content-type": "image/jpeg"})  # type: ignore[misc]
    assert (named.filename, named.data) == ("a.png", b"data") and unnamed.filename == "upload.jpg"


def test_plain_dispositions_are_read_as_the_email_package_reads_them() -> None:
    """The fast path for plain ASCII headers gives what the email package gives, on the forms
    clients send and on names full of quotes, semicolons, equals signs and percent escapes."""
    rnd = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " ;=\"%.-_'()[]{}!@#$^&+,~`\t"
    forms = (
        'form-data; name="file"; filename="{}"',
        'form-data; filename="{}"; name="f"',
        "form-data; name=file; filename={}",
        'form-data; name="{}"',
        'FORM-DATA ; NAME = "file" ; FILENAME = "{}" ',
    )
    headers = [
        form.format("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 16)))).encode()
        for _ in range(3000)
        for form in forms
    ]
    headers += [b'form-data; name="file"; filename=""', b'form-data; name="file"; filename="a"; filename="b"']
    differ = [h for h in headers if disposition_filename(h) != email_filename(h)]
    assert not differ, differ[:5]
    assert disposition_filename(b'form-data; name="file"; filename="name; with %22quotes%22.png"') == (
        'name; with "quotes".png'
    )
    assert disposition_filename(b'form-data; name="note"') is None
