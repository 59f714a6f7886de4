"""One real-browser test: JupyterLab runs a course notebook, a slider moves, the plot redraws.

JupyterLab is started on 127.0.0.1 from this test (its PID recorded and its process group
stopped at the end), and Debian's Chromium, driven by Playwright, opens a copy of a course
notebook in which the exercises are solved, runs it, presses ArrowRight on the digit viewer's
slider and waits until the figure's image (an ipywidgets Image) changes. A screenshot is saved to
``test-artifacts/``. Skipped with a reason when Playwright or Chromium is missing, unless
NNLIB_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from nbtools import ROOT, free_port, lab_env, running_server, solved

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
A = "00_getting_started"
ARTIFACTS = ROOT / "test-artifacts"


def _require_or_skip(reason: str) -> None:
    if os.environ.get("NNLIB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (NNLIB_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a copy of the notebook; yields (base_url, token, notebook name)."""
    serve = tmp_path / "serve"
    serve.mkdir()
    nbformat.write(solved(A), serve / f"{A}.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
           f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", "--ServerApp.terminals_enabled=False",
           f"--ServerApp.root_dir={serve}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with running_server(cmd, lab_env(tmp_path, token), port, token, tmp_path / "lab.log") as base:
        yield base, token, f"{A}.ipynb"


def test_slider_redraws_the_plot_in_a_real_browser(lab, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require_or_skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        _require_or_skip("Debian's chromium is not installed (apt-get install chromium)")

    base, token, notebook = lab
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        # A persistent context is Playwright's way to give Chromium a fresh --user-data-dir.
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/lab/tree/{notebook}?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.get_by_text("| Idle").first.wait_for(timeout=60_000)  # the kernel is up

            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

            handle = page.locator(".widget-slider .noUi-handle").first
            handle.wait_for(timeout=90_000)
            box = page.locator(".widget-vbox", has=handle).first
            image = box.locator("img").first
            image.wait_for(timeout=30_000)
            handle.scroll_into_view_if_needed()
            before = image.get_attribute("src")
            readout = box.locator(".widget-readout").first.inner_text()

            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                """([sel, old]) => {
                    const img = document.querySelector(sel);
                    return img && img.getAttribute('src') !== old;
                }""",
                arg=[".widget-vbox img", before], timeout=30_000)
            after = image.get_attribute("src")
            new_readout = box.locator(".widget-readout").first.inner_text()
            box.screenshot(path=str(ARTIFACTS / "browser-00-digit-explorer.png"))
        finally:
            try:
                page.screenshot(path=str(ARTIFACTS / "browser-00-page.png"), full_page=True)
                (ARTIFACTS / "browser-00-dom.html").write_text(page.content())
            except Exception:  # noqa: BLE001 (best effort, for debugging a failure)
                pass
            context.close()
    assert before != after, "the plot did not redraw after the slider moved"
    assert (readout.strip(), new_readout.strip()) == ("0", "1")
    assert not errors, f"JavaScript errors in the page: {errors}"
