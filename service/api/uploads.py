"""Reading uploads off the wire: multipart (one or many files) or a raw image body, bounded."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncGenerator

from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from service.core.predictor import Picture
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


async def limited_stream(request: Request, limit: int, timeout_s: float) -> AsyncGenerator[bytes, None]:
    """The body, refused with 413 as soon as it passes `limit` (never buffered whole first), and
    with 408 if it is not all there within `timeout_s` (a body trickling in holds a connection)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise ServiceError("Content-Length is not a number", code="bad_content_length") from None
        if too_big:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes", limit_bytes=limit)
    seen = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    chunks = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s") from None
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes", limit_bytes=limit)
        yield chunk


async def read_body(request: Request, settings: Settings) -> bytes:
    stream = limited_stream(request, settings.max_body_bytes, settings.body_timeout_s)
    return b"".join([chunk async for chunk in stream])


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
        name = request.headers.get("x-filename") or request.query_params.get("filename")
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


async def _multipart(request: Request, settings: Settings) -> list[Picture]:
    parser = MultiPartParser(
        request.headers,
        limited_stream(request, settings.max_body_bytes, settings.body_timeout_s),
        max_files=settings.max_files,
        max_fields=settings.max_files,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many"):
            raise ServiceError(exc.message, status=413, code="too_many_parts", max_files=settings.max_files) from None
        raise ServiceError(f"the multipart body cannot be parsed: {exc.message}", code="bad_multipart") from None
    try:
        pictures = []
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                pictures.append(Picture(clean_filename(value.filename, settings.max_filename_chars), data))
    finally:
        await form.close()
    if not pictures:
        raise ServiceError("the form has no file part (use a field named 'file')", code="missing_file")
    return pictures
