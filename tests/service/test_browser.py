"""The upload page in real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def test_upload_and_draw_in_chromium(tmp_path: Path, mnist_test: mnist.Split) -> None:
    chromium = shutil.which("chromium")
    need(chromium is not None, "Debian's chromium is not installed (scripts/setup-system installs it)")
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "three.png"
    index = int((mnist_test.labels == 3).nonzero()[0][0])
    upload.write_bytes(png_bytes(255 - mnist_test.images[index]))  # dark ink on white paper
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        running_service(env={"MNIST_DATA_DIR": str(tmp_path / "var")}) as (base, _, _),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
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
        browser.close()
