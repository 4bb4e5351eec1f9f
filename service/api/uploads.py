"""Reading uploads off the wire: multipart (one or many files) or a raw image body, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.utils
import unicodedata
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from service.core.outcome import Picture

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks
from service.errors import ServiceError
from service.settings import Settings

RAW_TYPES = ("image/", "application/octet-stream")
_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "image/tiff": "tif",
    "image/avif": "avif",
}


class BodyTooLarge(ServiceError):
    status, code = 413, "body_too_large"


def clean_filename(name: str | None, max_chars: int) -> str:
    """A client's file name is data: keep it as given, minus control characters, length-capped."""
    if not name:
        return ""
    kept = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    return kept[:max_chars]


class BodyTimeout(ServiceError):
    status, code = 408, "body_timeout"


def header_filename(value: str | None) -> str | None:
    """X-Filename as clients send it: percent-encoded UTF-8 (what HTTP headers can carry), or raw
    UTF-8 bytes (which Starlette hands over decoded as latin-1)."""
    if not value:
        return None
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):  # else: not UTF-8 bytes, kept as they came
        value = value.encode("latin-1").decode("utf-8")
    return urllib.parse.unquote(value, errors="replace") if "%" in value else value


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body, refused with 413 as soon as it passes `limit` (never buffered whole first).
    Read it inside `body_deadline`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise ServiceError("Content-Length is not a number", code="bad_content_length") from None
        if too_big:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes", limit_bytes=limit)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes", limit_bytes=limit)
        yield chunk


@contextlib.asynccontextmanager
async def body_deadline(timeout_s: float) -> AsyncIterator[None]:
    """408 if the body is not all there within `timeout_s` (a body trickling in holds a
    connection). One scope around the whole read: a timeout per chunk (wait_for) made a task per
    chunk, ~25 us of a 28x28 upload's ~1.3 ms on the loop (py-spy)."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError:
        raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s") from None


async def read_body(request: Request, settings: Settings) -> bytes:
    async with body_deadline(settings.body_timeout_s):
        return b"".join([chunk async for chunk in limited_stream(request, settings.max_body_bytes)])


async def read_pictures(request: Request, settings: Settings) -> list[Picture]:
    content_type = request.headers.get("content-type", "")
    media, _ = parse_options_header(content_type)
    media_type = media.decode("latin-1").lower()
    if media_type == "multipart/form-data":
        return await _multipart(request, settings)
    if media_type.startswith(RAW_TYPES):
        data = await read_body(request, settings)
        if not data:
            raise ServiceError("the request body is empty", code="empty_file")
        name = header_filename(request.headers.get("x-filename")) or request.query_params.get("filename")
        if not name:
            name = f"upload.{_EXT.get(media_type, 'bin')}"
        return [Picture(clean_filename(name, settings.max_filename_chars), data)]
    if not media_type:
        raise ServiceError(
            "send multipart/form-data with file fields, or an image body with Content-Type image/*",
            status=415,
            code="unsupported_media_type",
        )
    raise ServiceError(
        f"Content-Type {media_type!r} is not accepted: send multipart/form-data or image/*",
        status=415,
        code="unsupported_media_type",
    )


# A part's header line may be long: a file name at the stored cap, in UTF-8 and percent-encoded in
# both filename and filename* (12 bytes a character), is ~6 KB, and longer names are cut to the cap,
# not refused; python-multipart's default is 4 KB. The body limit bounds it all the same.
MAX_PART_HEADER = 64 * 1024
MAX_PART_HEADERS = 8


def disposition_filename(header: bytes) -> str | None:
    """The file name of a part's Content-Disposition, None for a part that is no file."""
    plain = b"*" not in header and b"\\" not in header and b'""' not in header and header.count(b"filename") <= 1
    if plain and header.isascii():
        # What browsers and HTTP libraries send (no extended name, escapes, doubled quotes or
        # second name): python-multipart's parser reads it as the email package does
        # (tests/service/api/test_uploads.py), in ~2 us against ~20 of a 28x28 upload's ~400.
        _, options = parse_options_header(header)
        name = options.get(b"filename")
        return None if name is None else _form_unescaped(name.decode("ascii"))
    return email_filename(header)


def email_filename(header: bytes) -> str | None:
    """The file name of a Content-Disposition as the standard library's email package reads it:
    RFC 5987/2231 `filename*` first (it comes back as a (charset, language, text) triple), else
    `filename` (browsers send UTF-8 there)."""
    msg = email.message.Message()
    msg["content-disposition"] = header.decode("utf-8", errors="replace")
    names = [value for key, value in msg.get_params(header="content-disposition") or [] if key == "filename"]
    if not names:
        return None
    extended = [v for v in names if isinstance(v, tuple)]
    if extended:
        return email.utils.collapse_rfc2231_value(extended[0])
    return _form_unescaped(email.utils.collapse_rfc2231_value(names[0]))


def _form_unescaped(name: str) -> str:
    """The HTML form encoding escapes exactly these three in a file name (and not "%" itself)."""
    return name.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class _Parts:
    """python-multipart's callbacks, collecting the file parts of one body (bounded by the body
    limit, counted against the file limit as they come)."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self.files: list[tuple[str, bytearray]] = []
        self.parts = 0
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._data: bytearray | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.begin,
            "on_part_data": self.data,
            "on_header_field": lambda b, s, e: setattr(self, "_field", self._field + b[s:e]),
            "on_header_value": lambda b, s, e: setattr(self, "_value", self._value + b[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
        }

    def begin(self) -> None:
        self.parts += 1
        if self.parts > 2 * self.max_files:  # file parts and a few fields beside them
            raise ServiceError(
                f"Too many parts: at most {self.max_files} files",
                status=413,
                code="too_many_parts",
                max_files=self.max_files,
            )
        self._headers, self._data = {}, None

    def header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def headers_finished(self) -> None:
        if b"content-disposition" not in self._headers:  # RFC 7578: every part names itself
            raise ServiceError("a multipart part has no Content-Disposition", code="bad_multipart")
        name = disposition_filename(self._headers[b"content-disposition"])
        if name is None:
            return  # a plain field: not a picture
        if len(self.files) >= self.max_files:
            raise ServiceError(
                f"Too many files: at most {self.max_files}", status=413, code="too_many_parts", max_files=self.max_files
            )
        self._data = bytearray()
        self.files.append((name, self._data))

    def data(self, chunk: bytes, start: int, end: int) -> None:
        if self._data is not None:
            self._data += chunk[start:end]


async def _multipart(request: Request, settings: Settings) -> list[Picture]:
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise ServiceError("the multipart body has no boundary", code="bad_multipart")
    parts = _Parts(settings.max_files)
    callbacks = cast("MultipartCallbacks", parts.callbacks())
    parser = MultipartParser(boundary, callbacks, max_header_count=MAX_PART_HEADERS, max_header_size=MAX_PART_HEADER)
    try:
        async with body_deadline(settings.body_timeout_s):
            async for chunk in limited_stream(request, settings.max_body_bytes):
                parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise ServiceError(f"the multipart body cannot be parsed: {exc}", code="bad_multipart") from None
    pictures = [Picture(clean_filename(name, settings.max_filename_chars), bytes(data)) for name, data in parts.files]
    if not pictures:
        raise ServiceError("the form has no file part (use a field named 'file')", code="missing_file")
    return pictures
