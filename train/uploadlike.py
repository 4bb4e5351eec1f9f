"""Make an "upload-like" evaluation set from MNIST *test* digits, deterministically.

Real uploads come in families, and each family below is one way people send digits:
- photo: photos or scans, dark ink on light paper, the digit somewhere inside a larger picture,
  a little tilted, blurred, on textured and unevenly lit paper, RGB or RGBA, PNG or JPEG;
- mouse: drawn with a mouse in a paint program or a canvas: a 1-2 px pen on a 100-600 px
  canvas, either polarity, with or without alpha, the line wobbling like a hand;
- hairline and marker: photos of the same digits written with a fine pen on a large page, or
  with a felt-tip marker;
- european-1 and crossed-7: hands MNIST hardly has (see train.hands);
- closed-4 and open-9: the rarer forms of 4 and 9, MNIST's own (picked by their holes), photographed;
- edge: photos cropped so tightly that the digit touches the picture's edge;
- ruled: photos of a digit on lined or squared paper, or beside a margin line, the lines running
  across the whole picture;
- desk: photos of the sheet lying on a darker desk, which shows at one to four sides;
- boxed: photos of a digit written in a printed box (a form's field), with more or less of the
  form around it;
- comb: photos of a digit written in one cell of a comb of boxes (a postcode's field), the comb whole;
- cut: a digit cut at its ink (a crop made by hand, a dataset's cut-out), photographed or on a screen;
- far: a digit small in a large picture (a drawing app's whole screen, a phone photo of a page);
- shadow: photos with a shadow across the page (a phone or a hand between the lamp and the sheet),
  its edge crossing the picture, the digit in the light, in the shade or across the edge.
Each file is named `<digit>_<family>_<index>.<ext>` so the evaluation command reads its label and
family from the name. Nothing here is committed: the same seed always gives the same files.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from train import hands, mnist

log = logging.getLogger("uploadlike")

SEED = 7
COUNT = 1000  # of the photo family; the other families' sizes are in FAMILIES

SKELETON_LEVEL = 0.25

Ink = Callable[[np.ndarray, int, np.random.Generator], Image.Image]


def bicubic(digit: np.ndarray, size: int, rng: np.random.Generator) -> Image.Image:
    """The digit's ink at `size` px, as the hand wrote it (smoothly scaled up)."""
    return Image.fromarray(digit, mode="L").resize((size, size), Image.Resampling.BICUBIC)


def wobble(arr: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A hand's wobble: a smooth random displacement of up to `amount` of the size."""
    from scipy import ndimage

    size = arr.shape[0]
    fields = [ndimage.zoom(rng.normal(0, amount * size, (5, 5)), size / 5, order=3)[:size, :size] for _ in range(2)]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.asarray(ndimage.map_coordinates(arr, [ys + fields[0], xs + fields[1]], order=1), dtype=np.float32)


def skeletonise(mask: np.ndarray) -> np.ndarray:
    """The 1-px centre lines of a mask's strokes."""
    from skimage.morphology import skeletonize

    return np.asarray(skeletonize(mask), dtype=bool)


def line(digit: np.ndarray, size: int, rng: np.random.Generator, pen_px: int = 1) -> Image.Image:
    """The digit as a thin polyline of `pen_px` px at `size` px: the skeleton of its strokes,
    wobbled like a hand."""
    arr = np.asarray(bicubic(digit, size, rng), dtype=np.float32) / 255.0
    # A low threshold keeps MNIST's thinnest strokes: the centre line stays in one piece, as a
    # hand's would.
    skeleton = skeletonise(wobble(arr, rng, 0.012) > SKELETON_LEVEL)
    out = Image.fromarray(np.asarray(skeleton, dtype=np.uint8) * 255, mode="L")
    return out.filter(ImageFilter.MaxFilter(pen_px | 1)) if pen_px >= 2 else out


def hairline(digit: np.ndarray, size: int, rng: np.random.Generator) -> Image.Image:
    # A fine pen: 1-2 px in a small picture, 2-3 px in a large one (a sharp photo of a page).
    return line(digit, size, rng, pen_px=int(rng.integers(1, 3)) + size // 400)


def render(
    digit: np.ndarray,
    rng: np.random.Generator,
    ink: Ink = bicubic,
    edge: bool = False,
    max_blur: float = 6.0,
    ruled: bool = False,
    shadow: bool = False,
) -> tuple[bytes, str]:
    """One MNIST frame (uint8 28x28, white on black) -> an encoded photo-like picture.
    edge: the digit's ink touches one or two sides of the picture. max_blur: the camera's blur
    (a Gaussian's sigma in pixels) at most. ruled: on ruled paper (`rule_paper`). shadow: a shadow
    falls across the page (`shadow_light`)."""
    canvas = int(rng.integers(64, 801))
    # The digit's 28-px frame covers 35-90 % of the shorter canvas side.
    frame_px = max(28, int(canvas * rng.uniform(0.35, 0.9)))
    width = canvas
    height = int(canvas * rng.uniform(0.75, 1.33))
    frame_px = min(frame_px, width, height)
    drawn = ink(digit, frame_px, rng).rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC)
    mask = Image.new("L", (width, height), 0)
    x, y = int(rng.integers(0, width - frame_px + 1)), int(rng.integers(0, height - frame_px + 1))
    if edge:
        # Put the ink's own box (not the frame's empty margin) against one side, or a corner.
        box = drawn.getbbox() or (0, 0, frame_px, frame_px)
        side = int(rng.integers(0, 4))
        if side in (0, 3):
            x = -box[0]
        if side in (1, 3):
            y = -box[1]
        if side == 2:
            x = width - box[2]
    mask.paste(drawn, (x, y))
    if ruled:
        mask = rule_paper(mask, frame_px * 20 / 28, rng)  # the digit is 20 px of its 28-px frame
    return photograph(mask, rng, max_blur, shadow)


PAPERS = ("lined", "squared", "margin")


def rule_paper(mask: Image.Image, digit_px: float, rng: np.random.Generator, style: str | None = None) -> Image.Image:
    """The ink mask on ruled paper: the lines of lined paper (1-1.6 digits apart) or of squared
    paper (0.45-0.7 digits), or a margin line, edge to edge, a little askew, 2-5 % of the digit's
    height wide, as faint as a printed rule or as dark as the pen (the pen's ink stays on top).
    `style`: one of PAPERS, else drawn at random."""
    if style is None:
        style = PAPERS[int(rng.integers(0, len(PAPERS)))]
    width = max(1, round(digit_px * rng.uniform(0.02, 0.05)))
    level = int(rng.uniform(0.35, 1.0) * 255)
    tilt = float(np.tan(np.radians(rng.uniform(-1.5, 1.5))))
    step = digit_px * (rng.uniform(1.0, 1.6) if style == "lined" else rng.uniform(0.45, 0.7))
    w, h = mask.size
    paper = Image.new("L", mask.size, 0)
    draw = ImageDraw.Draw(paper)
    if style != "margin":
        for row in np.arange(rng.uniform(0, step) - tilt * w, h + abs(tilt) * w, step):
            draw.line([(0, row), (w, row + tilt * w)], fill=level, width=width)
    columns = [rng.uniform(0.03, 0.2) * w] if style == "margin" else np.arange(rng.uniform(0, step), w, step)
    for col in columns if style != "lined" else []:
        draw.line([(col, 0), (col - tilt * h, h)], fill=level, width=width)
    return ImageChops.lighter(mask, paper)


def shadow_light(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The light left by a shadow with an edge (a phone or a hand between the lamp and the page):
    30-70 % of the light in a half of the page cut by a line through its middle part, or in a
    wedge of two such halves; the edge as soft as 0.2-2 % of the page."""
    from scipy import ndimage

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = np.ones((height, width), bool)
    for _ in range(1 if rng.random() < 0.5 else 2):
        angle = rng.uniform(0, 2 * np.pi)
        at = rng.uniform(0.25, 0.75, 2) * (width, height)
        inside &= np.cos(angle) * (xs - at[0]) + np.sin(angle) * (ys - at[1]) > 0
    dim = np.where(inside, np.float32(rng.uniform(0.3, 0.7)), np.float32(1.0))
    return np.asarray(ndimage.gaussian_filter(dim, rng.uniform(0.002, 0.02) * width), dtype=np.float32)


def photograph(
    mask: Image.Image, rng: np.random.Generator, max_blur: float = 6.0, shaded: bool = False
) -> tuple[bytes, str]:
    """Ink (an L mask, 255 = ink) -> a photo or scan of it on paper, encoded as PNG or JPEG;
    `shaded`: with a shadow across it (`shadow_light`)."""
    width, height = mask.size
    canvas = width
    blur = min(rng.uniform(0.0, 1.5) * canvas / 200, max_blur)
    if blur > 0.3:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255.0

    paper = np.array(rng.uniform(170, 250, size=3), dtype=np.float32)
    pen = np.array(rng.uniform(0, 90, size=3), dtype=np.float32)
    if rng.random() < 0.3:  # blue ball-point
        pen = np.array([rng.uniform(10, 60), rng.uniform(20, 80), rng.uniform(110, 200)], np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Uneven lighting: a shadow falling across the page in a random direction.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1.0 - rng.uniform(0.0, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    if shaded:
        light = light * shadow_light(width, height, rng)
    grain = rng.normal(0.0, rng.uniform(1.0, 10.0), size=(height, width, 1)).astype(np.float32)
    rgb = (paper * (1 - alpha) + pen * alpha) * light[..., None] + grain
    rgb8 = np.clip(rgb, 0, 255).astype(np.uint8)

    buf = io.BytesIO()
    kind = rng.random()
    if kind < 0.15 and not shaded:
        # A dark digit on a transparent background, as drawing apps export it.
        rgba = np.dstack([np.broadcast_to(pen.astype(np.uint8), rgb8.shape), (alpha[..., 0] * 255).astype(np.uint8)])
        Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
        return buf.getvalue(), "png"
    image = Image.fromarray(rgb8, mode="RGB")
    if kind < 0.35:
        image.save(buf, format="PNG")
        return buf.getvalue(), "png"
    if kind < 0.45:
        image.convert("L").save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
        return buf.getvalue(), "jpg"
    image.save(buf, format="JPEG", quality=int(rng.integers(30, 96)))
    return buf.getvalue(), "jpg"


def render_mouse(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A digit drawn with a mouse: a 1-2 px line on a 100-600 px canvas, no anti-aliasing,
    either polarity, saved as PNG (grey, RGB, or RGBA with an opaque or transparent background)."""
    canvas = int(rng.integers(100, 601))
    size = int(canvas * rng.uniform(0.6, 1.0))  # the 28-px frame's size: the digit is ~70 % of it
    drawn = line(digit, size, rng, pen_px=int(rng.integers(1, 3)))
    mask = Image.new("L", (canvas, canvas), 0)
    mask.paste(drawn, (int(rng.integers(0, canvas - size + 1)), int(rng.integers(0, canvas - size + 1))))
    return mouse_picture(mask, rng)


def mouse_picture(mask: Image.Image, rng: np.random.Generator) -> tuple[bytes, str]:
    """Drawn strokes (an L mask, >0 = pen) -> a paint program's PNG of them."""
    on = np.asarray(mask) > 0
    light_on_dark = rng.random() < 0.5
    paper, pen_rgb = (0, 255) if light_on_dark else (255, 0)
    if rng.random() < 0.3:  # a grey pen, still far from the paper (as anyone drawing would pick)
        pen_rgb = int(rng.integers(135, 256)) if light_on_dark else int(rng.integers(0, 121))
    rgb = np.where(on[..., None], np.uint8(pen_rgb), np.uint8(paper)) * np.ones(3, np.uint8)
    kind = rng.random()
    if kind < 0.25:
        image = Image.fromarray(rgb, mode="RGB").convert("L")
    elif kind < 0.5:
        image = Image.fromarray(rgb, mode="RGB")
    else:
        opaque = kind < 0.75
        alpha = np.full(on.shape, 255, np.uint8) if opaque else np.where(on, 255, 0).astype(np.uint8)
        image = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue(), "png"


Renderer = Callable[[np.ndarray, np.random.Generator], tuple[bytes, str]]


def _photo(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(digit, rng)


def _marker(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(hands.pen(digit, float(rng.uniform(4.5, 6.5))), rng)


def _hairline(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    # A pen line as fine as 1 px stays visible only in a sharp photo.
    return render(digit, rng, ink=hairline, max_blur=0.6)


def _european_one(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(hands.european_one(digit, rng), rng)


def _crossed_seven(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(hands.crossed_seven(digit, rng), rng)


def _edge(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(digit, rng, edge=True)


def _cut(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A digit cut at its ink, as a crop made by hand or a dataset's cut-out is: the picture's sides
    within 0-3 % of the digit's height of its ink, the ink 30-290 px high; photographed, or one in
    four a light digit on a dark screen (a clean PNG)."""
    size = int(rng.integers(40, 401))  # the digit's 28-px frame
    drawn = bicubic(digit, size, rng).rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC)
    left, top, right, bottom = drawn.point(lambda v: 255 if v > 60 else 0).getbbox() or (0, 0, size, size)
    pad = round(float(rng.uniform(0.0, 0.03)) * (bottom - top))
    mask = drawn.crop((left - pad, top - pad, right + pad, bottom + pad))  # beyond the frame: no ink
    if rng.random() >= 0.25:
        return photograph(mask, rng, max_blur=1.0)
    screen, pen = float(rng.uniform(0, 60)), float(rng.uniform(190, 255))
    grey = screen + (pen - screen) * np.asarray(mask, np.float32) / 255.0
    buf = io.BytesIO()
    Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue(), "png"


def _far(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A digit small in a large picture: half drawn on a drawing app's screen (1280-2560 px wide,
    saved whole as a PNG), half a phone photo of a page (1600-2400 px, JPEG or PNG); the digit's
    28-px frame 40-160 px, anywhere."""
    width = int(rng.integers(1280, 2561)) if rng.random() < 0.5 else -int(rng.integers(1600, 2401))
    screen, width = width > 0, abs(width)
    height = int(width * rng.uniform(0.56, 0.75))
    size = int(rng.integers(40, 161))
    drawn = bicubic(digit, size, rng).rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC)
    mask = Image.new("L", (width, height), 0)
    mask.paste(drawn, (int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))))
    if not screen:
        return photograph(mask, rng, max_blur=2.0)
    buf = io.BytesIO()
    Image.fromarray(255 - np.asarray(mask), mode="L").save(buf, format="PNG")
    return buf.getvalue(), "png"


def _ruled(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(digit, rng, ruled=True)


def _shadow(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return render(digit, rng, shadow=True)


def _desk(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A photo of the sheet lying on a darker desk, which shows at one to four sides."""
    data, _ = render(digit, rng)
    photo = Image.open(io.BytesIO(data)).convert("RGBA")  # a drawing app's transparent export: on white paper
    sheet = Image.alpha_composite(Image.new("RGBA", photo.size, (255, 255, 255, 255)), photo).convert("RGB")
    colour = tuple(int(c) for c in rng.uniform(20, 120, 3))
    width, height = int(sheet.width * rng.uniform(1.1, 1.5)), int(sheet.height * rng.uniform(1.1, 1.5))
    grain = rng.normal(0.0, 6.0, (height, width, 1))
    desk = Image.fromarray(np.clip(np.asarray(colour, np.float32) + grain, 0, 255).astype(np.uint8), mode="RGB")
    x = 0 if rng.random() < 0.25 else int(rng.integers(0, width - sheet.width + 1))  # the desk at one side only
    y = int(rng.integers(0, height - sheet.height + 1))
    desk.paste(sheet.rotate(float(rng.uniform(-5, 5)), fillcolor=colour), (x, y))
    buf = io.BytesIO()
    desk.save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
    return buf.getvalue(), "jpg"


def _slip(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    frame_px = int(rng.integers(40, 241))
    return on_a_slip(bicubic(digit, frame_px, rng), frame_px, rng)


def on_a_slip(drawn: Image.Image, digit_px: int, rng: np.random.Generator) -> tuple[bytes, str]:
    """A photo of the writing (an L mask, 255 = ink) on a slip of paper (a sticky note, a torn-off
    corner) lying on a darker desk that fills most of the picture: the slip, 0.1-0.4 of a digit's
    size (`digit_px`) wider than the ink on every side and turned up to 10 degrees, covers 3-25 %
    of it."""
    left, top, right, bottom = drawn.getbbox() or (0, 0, *drawn.size)
    pad = [round(digit_px * rng.uniform(0.1, 0.4)) for _ in range(4)]
    mask = Image.new("L", (right - left + pad[0] + pad[2], bottom - top + pad[1] + pad[3]), 0)
    mask.paste(drawn.crop((left, top, right, bottom)), (pad[0], pad[1]))
    data, _ = photograph(mask, rng, max_blur=2.0)
    photo = Image.open(io.BytesIO(data)).convert("RGBA")  # a drawing app's transparent export: on white paper
    sheet = Image.alpha_composite(Image.new("RGBA", photo.size, (255, 255, 255, 255)), photo).convert("RGB")
    colour = tuple(int(c) for c in rng.uniform(15, 110, 3))
    sheet = sheet.rotate(float(rng.uniform(-10, 10)), expand=True, fillcolor=colour)
    side = float(np.sqrt(sheet.width * sheet.height / rng.uniform(0.03, 0.25)))
    width, height = (max(round(side * rng.uniform(0.8, 1.25)), d + 2) for d in sheet.size)
    grain = rng.normal(0.0, 6.0, (height, width, 1))
    desk = Image.fromarray(np.clip(np.asarray(colour, np.float32) + grain, 0, 255).astype(np.uint8), mode="RGB")
    desk.paste(sheet, (int(rng.integers(1, width - sheet.width)), int(rng.integers(1, height - sheet.height))))
    buf = io.BytesIO()
    desk.save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
    return buf.getvalue(), "jpg"


def in_box(drawn: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The ink mask of a digit written in a printed box (a form's field): the box 8-40 % of the
    digit's height away from its ink on each side, its line 2-6 % of that height wide and 0.35-1.0
    of the pen's darkness, and 0-50 % of the box's size of the form showing around it (none on a
    side 30 % of the time: the box cropped at its edge)."""
    left, top, right, bottom = drawn.getbbox() or (0, 0, drawn.width, drawn.height)
    ink_px = bottom - top
    gap = [int(ink_px * rng.uniform(0.08, 0.4)) for _ in range(4)]
    box = (left - gap[0], top - gap[1], right + gap[2], bottom + gap[3])
    side = max(box[2] - box[0], box[3] - box[1])
    around = [int(side * rng.uniform(0.0, 0.5)) if rng.random() < 0.7 else 0 for _ in range(4)]
    width = box[2] - box[0] + around[0] + around[2] + 2
    height = box[3] - box[1] + around[1] + around[3] + 2
    dx, dy = around[0] - box[0] + 1, around[1] - box[1] + 1
    mask = Image.new("L", (width, height), 0)
    mask.paste(drawn, (dx, dy))
    form = Image.new("L", mask.size, 0)
    line = max(1, round(ink_px * rng.uniform(0.02, 0.06)))
    level = int(rng.uniform(0.35, 1.0) * 255)
    ImageDraw.Draw(form).rectangle((box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy), outline=level, width=line)
    return ImageChops.lighter(mask, form)


def in_comb(
    digits: list[np.ndarray], rng: np.random.Generator, cells: int | None = None, cut: bool = False
) -> Image.Image:
    """The ink mask of digits written one to a cell of a comb of boxes (a postcode's field), left
    to right from a random cell: cells 40-110 px wide and 1.25 times as tall, the digits 70-95 %
    of a cell, its lines like `in_box`'s, 10-60 % of a cell of form around, askew by up to 2 deg.
    `cut`: cropped inside its first and last cells, so its lines run off the picture's sides."""
    cell = int(rng.integers(40, 111))
    count = cells or len(digits)
    first = int(rng.integers(0, count - len(digits) + 1))
    tall = round(cell * 1.25)
    around = [int(cell * rng.uniform(0.1, 0.6)) for _ in range(4)]
    width, height = count * cell + around[0] + around[2], tall + around[1] + around[3]
    mask = Image.new("L", (width, height), 0)
    for k, digit in enumerate(digits):
        drawn = bicubic(digit, int(cell * rng.uniform(0.7, 0.95)), rng)
        drawn = drawn.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BICUBIC)
        left, top, right, bottom = drawn.getbbox() or (0, 0, drawn.width, drawn.height)
        x = around[0] + (first + k) * cell + (cell - (right - left)) // 2 - left
        y = around[1] + (tall - (bottom - top)) // 2 - top
        placed = Image.new("L", mask.size, 0)
        placed.paste(drawn, (x, y))
        mask = ImageChops.lighter(mask, placed)
    form = Image.new("L", mask.size, 0)
    draw = ImageDraw.Draw(form)
    line = max(1, round(cell * rng.uniform(0.02, 0.05)))
    level = int(rng.uniform(0.35, 1.0) * 255)
    draw.rectangle((around[0], around[1], around[0] + count * cell, around[1] + tall), outline=level, width=line)
    for k in range(1, count):
        draw.line([(around[0] + k * cell, around[1]), (around[0] + k * cell, around[1] + tall)], fill=level, width=line)
    tilt = float(rng.uniform(-2, 2))
    combed = ImageChops.lighter(mask, form).rotate(tilt, resample=Image.Resampling.BICUBIC)
    if cut:
        margin = cell // 8
        return combed.crop((around[0] + margin, 0, around[0] + count * cell - margin, height))
    return combed


def _comb(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    return photograph(in_comb([digit], rng, cells=int(rng.integers(3, 8))), rng, max_blur=2.0)


def _boxed(digit: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    frame_px = int(rng.integers(40, 300))
    drawn = bicubic(digit, frame_px, rng).rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BICUBIC)
    return photograph(in_box(drawn, rng), rng)


@dataclass(frozen=True)
class Family:
    name: str
    count: int
    render: Renderer
    label: int | None = None  # a family of one digit only
    holes: int | None = None  # ... written in the form with this many holes (train.hands.holes)


FAMILIES = (
    Family("photo", COUNT, _photo),
    Family("mouse", 400, render_mouse),
    Family("hairline", 200, _hairline),
    Family("marker", 200, _marker),
    Family("european-1", 100, _european_one, label=1),
    Family("crossed-7", 100, _crossed_seven, label=7),
    Family("edge", 200, _edge),
    Family("closed-4", 100, _photo, label=4, holes=1),
    Family("open-9", 100, _photo, label=9, holes=0),
    Family("ruled", 300, _ruled),
    Family("desk", 200, _desk),
    Family("boxed", 200, _boxed),
    Family("comb", 200, _comb),
    Family("cut", 200, _cut),
    Family("far", 200, _far),
    Family("shadow", 200, _shadow),
    Family("slip", 200, _slip),
)


def family_of(filename: str) -> str:
    """The family a generated file belongs to, from its name (`<digit>_<family>_<index>...`)."""
    parts = Path(filename).name.split("_")
    return parts[1] if len(parts) > 2 and not parts[1].isdigit() else "photo"


def generate(
    split: mnist.Split, count: int = COUNT, seed: int = SEED, families: tuple[str, ...] = ("photo",)
) -> list[tuple[str, bytes, int]]:
    """(file name, bytes, label) for each picture. Each family draws from its own random stream,
    so adding a family changes no other; `count` sizes the photo family (the others keep theirs,
    scaled by the same ratio)."""
    out = []
    for number, family in enumerate(FAMILIES):
        if family.name not in families:
            continue
        rng = np.random.default_rng(seed if number == 0 else [seed, number])
        n = count if number == 0 else max(1, round(family.count * count / COUNT))
        pool = np.arange(len(split.images)) if family.label is None else np.flatnonzero(split.labels == family.label)
        if family.holes is not None:
            pool = np.array([i for i in pool if hands.holes(split.images[i]) == family.holes], np.int64)
        picks = rng.choice(pool, size=min(n, pool.size), replace=False)
        prefix = "" if number == 0 else f"{family.name}_"
        for i, idx in enumerate(picks):
            data, ext = family.render(split.images[idx], rng)
            label = int(split.labels[idx])
            out.append((f"{label}_{prefix}{i:04d}_t{int(idx):05d}.{ext}", data, label))
    return out


ALL_FAMILIES = tuple(f.name for f in FAMILIES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="MNIST IDX directory")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pictures to")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--families", default=",".join(ALL_FAMILIES), help=f"comma-separated, of: {', '.join(ALL_FAMILIES)}"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        split = mnist.test_split(args.data)
    except mnist.MnistDataError as exc:
        log.error("%s", exc)
        return 2
    families = tuple(f for f in args.families.split(",") if f)
    unknown = set(families) - set(ALL_FAMILIES)
    if unknown:
        log.error("unknown families: %s", ", ".join(sorted(unknown)))
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    files = generate(split, args.count, args.seed, families)
    for name, data, _ in files:
        (args.out / name).write_bytes(data)
    log.info("wrote %d pictures to %s", len(files), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
