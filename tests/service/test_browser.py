"""The upload page in real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.utils import ROOT, need, png_bytes, running_service
from train import mnist

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "artifacts" / "test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def _page(tmp_path: Path, height: int) -> Iterator[tuple[Any, str, list[str]]]:
    """A service and a Chromium page on it: (page, base URL, the CSP violations it logs)."""
    chromium = shutil.which("chromium")
    need(chromium is not None, "Debian's chromium is not installed (scripts/setup-system installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        running_service(env={"MNIST_DATA_DIR": str(tmp_path / "var")}) as (base, _, _),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": height})
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        try:
            yield page, base, violations
        finally:
            browser.close()


def test_upload_and_draw_in_chromium(tmp_path: Path, mnist_test: mnist.Split) -> None:
    upload = tmp_path / "three.png"
    index = int((mnist_test.labels == 3).nonzero()[0][0])
    upload.write_bytes(png_bytes(255 - mnist_test.images[index]))  # dark ink on white paper
    with _page(tmp_path, 900) as (page, base, violations):
        response = page.goto(base + "/")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        assert "Which digit" in page.title() + page.content()

        # 1. pick a file: the page uploads it and shows digit, confidence, bars and the 28x28 frame.
        page.set_input_files("#file-input", str(upload))
        digit = page.locator('[data-testid="digit"]').first
        digit.wait_for(timeout=15_000)
        assert digit.inner_text() == "3"
        assert page.locator(".bars li").count() == 10
        assert page.locator("img.frame").first.get_attribute("src", timeout=5_000).startswith("data:image/png")
        # The page's CSP forbids eval, so the waits below are locators, not evaluated strings.
        page.locator("#recent tbody tr td.fname", has_text="three.png").first.wait_for(timeout=10_000)
        assert page.locator("#recent td.fname").first.get_attribute("title") == "three.png"

        # 2. draw a "1" on the canvas with the mouse and recognise it.
        box = page.locator("#canvas").bounding_box()
        assert box is not None
        x = box["x"] + box["width"] * 0.5
        page.mouse.move(x, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        for step in range(1, 21):
            page.mouse.move(x + step * 0.3, box["y"] + box["height"] * (0.15 + 0.7 * step / 20))
        page.mouse.up()
        page.click("#draw-button")
        page.locator(".result .fname", has_text="canvas.png").first.wait_for(timeout=15_000)
        assert page.locator('[data-testid="digit"]').first.inner_text() == "1"
        page.screenshot(path=str(ARTIFACTS / "upload-page.png"), full_page=True)
        assert violations == []  # the page itself needs nothing its policy forbids


def test_number_mode_reads_a_drawn_and_an_uploaded_number(tmp_path: Path) -> None:
    """Number mode: write "2026" on the wide canvas with the mouse, then upload a picture of
    "4711"; each answer shows the text and the picture with a box around each digit."""
    from tests.handwriting import STROKES, png, written

    upload = tmp_path / "4711.png"
    upload.write_bytes(png(written("4711", pen=7)[0]))
    with _page(tmp_path, 1000) as (page, base, violations):
        page.goto(base + "/")
        page.check("#mode-number")
        box = page.locator("#canvas").bounding_box()
        assert box is not None and box["width"] > 2 * box["height"]  # the wide canvas
        # Four digits side by side, each stroke followed with the mouse as a hand would.
        cell_w, top, height = box["width"] / 5, box["y"] + box["height"] * 0.15, box["height"] * 0.7
        for i, digit in enumerate((2, 0, 2, 6)):
            left = box["x"] + cell_w * (0.6 + i * 1.05)
            for stroke in STROKES[digit]:
                page.mouse.move(left + stroke[0][0] * cell_w * 0.7, top + stroke[0][1] * height)
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(left + x * cell_w * 0.7, top + y * height, steps=3)
                page.mouse.up()
        page.click("#draw-button")
        number = page.locator('[data-testid="number"]').first
        number.wait_for(timeout=15_000)
        assert number.inner_text() == "2026"
        assert page.locator('[data-testid="boxes"]').count() == 1
        page.screenshot(path=str(ARTIFACTS / "number-mode-drawn.png"), full_page=True)

        page.set_input_files("#file-input", str(upload))
        page.locator('[data-testid="number"]', has_text="4711").first.wait_for(timeout=15_000)
        page.locator('[data-testid="boxes"]').first.wait_for(timeout=5_000)
        # The history lists the readings by their text.
        page.locator("#recent tbody tr td", has_text="4711").first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "number-mode.png"), full_page=True)
        assert violations == []
