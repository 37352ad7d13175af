"""A headless Chromium for the viewer's tests, driven with Playwright.

The browser is Debian's `chromium` (`make test` installs it when it runs as root with
apt-get), or the one `$STILLROOM_CHROMIUM` names; Playwright's own browser download is not
used. Without either, the tests that need it are skipped with the reason (shown by `-ra`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def chromium_path() -> str | None:
    explicit = os.environ.get("STILLROOM_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page() -> Iterator[Any]:
    """A fresh page in a headless Chromium (skipped, with the reason, when there is none)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser test needs the playwright package (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no chromium found: `make test` installs Debian's chromium when run as root with "
            "apt-get; else install it, or set STILLROOM_CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(20_000)
            yield context.new_page()
        finally:
            browser.close()
