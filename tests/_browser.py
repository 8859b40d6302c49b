"""Load generated HTML pages in a headless Chromium and look at what really rendered.

Playwright drives the system's Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs); it never downloads a browser of its own. Tests use the
``browser`` fixture of ``tests/conftest.py``, which skips with a reason where
Chromium or Playwright is missing, and :meth:`Browser.open`::

    @pytest.mark.browser
    def test_page(browser, tmp_path):
        with browser.open(path) as page:
            assert page.errors == []
            assert page.count("svg") > 0

Every page is loaded from ``file://`` with all other requests blocked and
recorded in :attr:`LoadedPage.outside_requests`, so a test can also check that
the page is self-contained.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "Browser", "LoadedPage", "find_chromium", "launch"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Debian's /usr/bin/chromium is a shell wrapper; the binary behind it starts the same
# browser without the wrapper's environment probing.
_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)


def find_chromium() -> str | None:
    """The Chromium executable to use: ``$TESSERA_CHROMIUM``, else the first one installed."""
    configured = os.environ.get("TESSERA_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in _CANDIDATES:
        found = shutil.which(name) if "/" not in name else (name if Path(name).exists() else None)
        if found:
            return found
    return None


@dataclass
class LoadedPage:
    """A page loaded in the browser, with what went wrong while it loaded and ran.

    Attributes
    ----------
    page : playwright.sync_api.Page
        The live page, for anything the helpers below do not cover.
    console_errors : list of str
        ``console.error`` messages (and failed resource loads the console reports).
    page_errors : list of str
        Uncaught JavaScript exceptions.
    outside_requests : list of str
        Requests for anything but the page itself, ``data:`` and ``about:`` URLs
        (all blocked): a self-contained page makes none.
    """

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and JavaScript exceptions together."""
        return [*self.console_errors, *self.page_errors]

    def count(self, selector: str) -> int:
        """How many elements match the CSS ``selector``."""
        return int(self.page.locator(selector).count())

    def text(self, selector: str) -> str:
        """The rendered text of the first element matching ``selector``."""
        return str(self.page.locator(selector).first.inner_text())

    def texts(self, selector: str) -> list[str]:
        """The rendered text of every element matching ``selector``."""
        return [str(t) for t in self.page.locator(selector).all_inner_texts()]

    def visible(self, selector: str) -> bool:
        """Whether the first element matching ``selector`` is visible."""
        return bool(self.page.locator(selector).first.is_visible())

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``."""
        self.page.locator(selector).first.click()

    def press(self, key: str) -> None:
        """Press a key on the page (``"ArrowRight"``)."""
        self.page.keyboard.press(key)

    def evaluate(self, script: str) -> Any:
        """Run JavaScript in the page and return its (JSON-able) result."""
        return self.page.evaluate(script)

    def screenshot(self, path: str | Path, *, full_page: bool = True) -> Path:
        """Save a PNG screenshot and return its path."""
        target = Path(path)
        self.page.screenshot(path=str(target), full_page=full_page)
        return target


class Browser:
    """One headless Chromium with a fresh profile; open pages with :meth:`open`."""

    def __init__(self, context: Any) -> None:
        self._context = context

    @contextmanager
    def open(
        self, path: str | Path, *, width: int = 1200, height: int = 900
    ) -> Iterator[LoadedPage]:
        """Load the HTML file ``path`` and yield it once the load event has fired."""
        url = Path(path).resolve().as_uri()
        page = self._context.new_page()
        page.set_viewport_size({"width": width, "height": height})
        loaded = LoadedPage(page)

        def on_console(message: Any) -> None:
            if message.type == "error":
                loaded.console_errors.append(message.text)

        def on_route(route: Any) -> None:
            request_url = route.request.url
            if request_url == url or request_url.startswith(("data:", "about:")):
                route.continue_()
            else:
                loaded.outside_requests.append(request_url)
                route.abort()

        page.on("console", on_console)
        page.on("pageerror", lambda exc: loaded.page_errors.append(str(exc)))
        page.route("**/*", on_route)
        try:
            page.goto(url, wait_until="load")
            yield loaded
        finally:
            page.close()


@contextmanager
def launch(executable: str | None = None) -> Iterator[Browser]:
    """Start headless Chromium with :data:`CHROMIUM_FLAGS` and a throw-away profile.

    Raises
    ------
    RuntimeError
        When no Chromium is installed (tests use the fixture, which skips instead).
    """
    from playwright.sync_api import sync_playwright

    binary = executable or find_chromium()
    if binary is None:
        raise RuntimeError("no Chromium found: apt-get install chromium, or set TESSERA_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="tessera-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=binary,
                headless=True,
                args=CHROMIUM_FLAGS,
                offline=False,
            )
            try:
                yield Browser(context)
            finally:
                context.close()
