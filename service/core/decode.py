"""Untrusted bytes -> a loaded picture: the security boundary.

Only the formats listed are parsed; the header is read first, so size limits are checked before
a single pixel is decoded; JPEGs decode straight at a reduced scale; truncated files are errors.
Everything Pillow's parsers raise on malformed input becomes one of the errors below.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from service.errors import ServiceError

# AVIF: what browsers, Android and image CDNs now save pictures as (Pillow >= 11.3 wheels decode it).
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "AVIF")
# Long side the analysis works at (framing.py): JPEGs are decoded at the smallest DCT scale
# that still gives at least this.
WORK_SIDE = 256
# A JPEG this large on its longer side is decoded with at least DETAIL_SIDE px on it, not just the
# working size: a digit a few percent of a phone photo's height is looked at closer up from
# those (framing, closer.py).
LARGE = 1500
DETAIL_SIDE = 700
# Pictures at most this big on each side are prepared right on the event loop (~0.2 ms).
SMALL_SIDE = 128
# What Pillow's parsers raise on malformed input (untrusted bytes: each plugin has its own ways;
# the AVIF decoder raises RuntimeError, e.g. "Failed to decode frame 0: Decoding of color planes
# failed": 307 of 3,000 truncated or byte-flipped AVIFs, ad hoc).
PARSE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, RuntimeError)
BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# A truncated file is an error for the client to fix, never a half-grey guess.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Bytes a pixel takes in Pillow's memory, by mode (RGB is stored in 4).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# An AVIF's decoder keeps its YUV planes and hands Pillow the pixels as a copy, both alive with
# the picture: peak RSS of decoding and framing, per pixel over what the mode's copies take (4
# for RGB, 8 for RGBA), measured on 8-bit files of 6 and 12 MP: +5.6-5.7 (RGB, 4:2:0), +5.8-6.8
# (RGBA, 4:4:4). Samples of 10 or 12 bits take twice the planes' share; so 10, which still lets
# a 12-MP RGB photo (168 MB) into the default 192 MB budget.
AVIF_DECODER_BYTES = 10
# Modes the framing works in directly; others are converted once, at full size.
WORK_MODES = ("L", "RGB", "RGBA", "LA", "F", "I")


class EmptyImage(ServiceError):
    code = "empty_file"


class CorruptImage(ServiceError):
    code = "corrupt_image"


class UnsupportedImage(ServiceError):
    status, code = 415, "unsupported_image_type"


class ImageTooLarge(ServiceError):
    status, code = 413, "image_too_large"


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 40_000_000  # ~ a 48-megapixel phone photo is refused, a 12-MP one is not
    max_request_pixels: int = 64_000_000  # summed over the files of one request


@dataclass
class Opened:
    """A picture whose header is read and checked; no pixels decoded yet."""

    image: Image.Image
    format: str
    width: int  # the picture's own size, before any reduction
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def cost(self) -> int:
        """Bytes the picture takes in memory at the peak of its framing: its own pixels, the
        full-size copy a conversion to a working mode makes, the premultiplied copy Pillow makes
        to resize a picture with alpha, and the copy turning it upright makes. Measured (peak RSS
        over baseline, 40 MP blank PNG): L 40 MB, P 78 MB, RGB 158 MB, RGBA 310 MB; and what an
        AVIF's decoder holds beside them."""
        w, h = self.image.size  # after a JPEG draft: the reduced size
        mode = self.image.mode
        own = _BYTES_PER_PIXEL.get(mode, 4)
        alpha = has_alpha(self.image)
        if mode in ("1", "P"):
            work, extra = ("LA", 4) if alpha else ("L", 1)
        elif mode in WORK_MODES:
            work, extra = mode, 0
        else:
            work, extra = ("RGBA" if alpha else "RGB"), 4
        if work in ("LA", "RGBA"):
            extra += 4
        if _orientation(self.image) not in (0, 1):
            extra += own
        if self.format == "AVIF":
            extra += AVIF_DECODER_BYTES
        return w * h * (own + extra)


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # loaded, first frame, upright; JPEGs possibly at reduced scale
    format: str
    width: int  # the picture's own size, upright, before any reduction
    height: int


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation, read without decoding pixels: Pillow's PNG getexif() loads the
    whole picture to look for a late eXIf chunk (a 40 MP PNG: 160 MB outside any budget)."""
    try:
        if img.format == "PNG":
            raw = img.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            return int(exif.get(0x0112, 1))
        return int(img.getexif().get(0x0112, 1))
    except (*PARSE_ERRORS, TypeError):
        return 1


def open_image(data: bytes, limits: Limits, work_side: int = WORK_SIDE) -> Opened:
    """Read and check the header only: format, size, the pixel limit. A JPEG will be decoded at
    the smallest scale that still gives `work_side`."""
    if not data:
        raise EmptyImage("the file is empty")
    try:
        img: Image.Image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except BOMB_ERRORS as exc:
        raise ImageTooLarge(str(exc)) from None
    except UnidentifiedImageError:
        raise UnsupportedImage("not an image in a supported format (PNG, JPEG, GIF, BMP, WebP, TIFF, AVIF)") from None
    except PARSE_ERRORS as exc:
        raise CorruptImage(f"the image header cannot be read: {exc}") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptImage("the image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{width}x{height} is {width * height} pixels, over the limit of {limits.max_pixels}",
            limit_pixels=limits.max_pixels,
        )
    fmt = img.format or ""
    if isinstance(img, ImageFile.ImageFile) and fmt == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT: large photos cost little.
        side = max(work_side, DETAIL_SIDE) if max(width, height) >= LARGE else work_side
        scale = side / max(width, height)
        try:
            img.draft(img.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
        except PARSE_ERRORS as exc:
            raise CorruptImage(f"the image header cannot be read: {exc}") from None
    return Opened(image=img, format=fmt, width=width, height=height)


def load(opened: Opened) -> Decoded:
    """Decode the pixels of an opened picture: first frame, EXIF orientation applied."""
    img = opened.image
    width, height = opened.width, opened.height
    try:
        img.load()
        loaded = img.size
        # In place: with nothing to turn, exif_transpose would otherwise return a full-size copy.
        ImageOps.exif_transpose(img, in_place=True)
    except BOMB_ERRORS as exc:
        raise ImageTooLarge(str(exc)) from None
    except (*PARSE_ERRORS, ZeroDivisionError, TypeError) as exc:
        raise CorruptImage(f"the image data is truncated or corrupt: {exc}") from None
    if img.size != loaded:  # turned by a quarter: the upright picture is height x width
        width, height = height, width
    return Decoded(image=img, format=opened.format, width=width, height=height)


def decode(data: bytes, limits: Limits = Limits(), work_side: int = WORK_SIDE) -> Decoded:
    """Bytes -> a loaded Pillow image (header checked first)."""
    return load(open_image(data, limits, work_side))
