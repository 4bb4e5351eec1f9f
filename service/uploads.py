"""Reading uploads off the wire: multipart (one or many files) or a raw image body, bounded."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from service.errors import ApiError

RAW_TYPES = ("image/", "application/octet-stream")
_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "image/tiff": "tif",
}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def clean_filename(name: str | None, max_chars: int) -> str:
    """A client's file name is data: keep it as given, minus control characters, length-capped."""
    if not name:
        return ""
    kept = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    return kept[:max_chars]


def too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is over the limit of {limit} bytes", limit_bytes=limit)


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body, refused with 413 as soon as it passes `limit` (never buffered whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError as exc:
            raise ApiError(400, "bad_content_length", "Content-Length is not a number") from exc
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit)
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    chunks = [chunk async for chunk in limited_stream(request, limit)]
    return b"".join(chunks)


async def read_uploads(request: Request, max_bytes: int, max_files: int, max_filename_chars: int) -> list[Upload]:
    content_type = request.headers.get("content-type", "")
    media, _ = parse_options_header(content_type)
    media_type = media.decode("latin-1").lower()
    if media_type == "multipart/form-data":
        return await _multipart(request, max_bytes, max_files, max_filename_chars)
    if media_type.startswith(RAW_TYPES):
        data = await read_body(request, max_bytes)
        if not data:
            raise ApiError(400, "empty_file", "the request body is empty")
        name = request.headers.get("x-filename") or request.query_params.get("filename")
        if not name:
            name = f"upload.{_EXT.get(media_type, 'bin')}"
        return [Upload(clean_filename(name, max_filename_chars), data)]
    if not media_type:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send multipart/form-data with file fields, or an image body with Content-Type image/*",
        )
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {media_type!r} is not accepted: send multipart/form-data or image/*",
    )


async def _multipart(request: Request, max_bytes: int, max_files: int, max_filename_chars: int) -> list[Upload]:
    parser = MultiPartParser(
        request.headers,
        limited_stream(request, max_bytes),
        max_files=max_files,
        max_fields=max_files,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many"):
            raise ApiError(413, "too_many_parts", exc.message, max_files=max_files) from exc
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be parsed: {exc.message}") from exc
    try:
        uploads = []
        for _, value in form.multi_items():
            if not isinstance(value, UploadFile):
                continue
            data = await value.read()
            uploads.append(Upload(clean_filename(value.filename, max_filename_chars), data))
    finally:
        await form.close()
    if not uploads:
        raise ApiError(400, "missing_file", "the form has no file part (use a field named 'file')")
    return uploads
