"""Headless Chromium for the browser envs (WebShop-Browser, Device, MiniWoB), through Playwright.

Playwright's ``playwright install`` cannot download a browser here, so the envs launch
Debian's ``/usr/bin/chromium`` (or any Chromium given by path). Playwright's sync API
allows one driver per thread, so there is one Chromium per thread and executable,
shared by every env of that thread and closed with the last one; each env opens its own
browser context (cookies, storage, viewport) and page on it.
"""

from __future__ import annotations

import shutil
import threading
from typing import Any

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

_BROWSERS: dict[tuple[int, str], tuple[Any, Any, int]] = {}


def find_chromium(path: str | None = None, *, who: str = "This env") -> str:
    """The Chromium executable to launch: ``path``, else Debian's ``chromium`` on PATH.

    Args:
        path: An explicit executable.
        who: The env named in the error when no browser is found.
    """
    found = path or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError(
            f"{who} needs Chromium: install Debian's `chromium` (apt-get install chromium) or pass chromium_path=..."
        )
    return found


def require_playwright(who: str) -> None:
    """Raise an ImportError naming the extra to install when Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        raise ImportError(f"{who} needs Playwright: pip install 'agentrl[web]'") from err


def acquire_browser(executable: str) -> Any:
    """The thread's Chromium at ``executable``, launched on first use; pair with :func:`release_browser`."""
    from playwright.sync_api import sync_playwright

    key = (threading.get_ident(), executable)
    playwright, browser, users = _BROWSERS.get(key, (None, None, 0))
    if browser is None or not browser.is_connected():
        if playwright is None:
            playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        except Exception:
            playwright.stop()
            _BROWSERS.pop(key, None)
            raise
    _BROWSERS[key] = (playwright, browser, users + 1)
    return browser


def release_browser(executable: str) -> None:
    """Drop one use of the thread's Chromium; the last one closes it."""
    key = (threading.get_ident(), executable)
    playwright, browser, users = _BROWSERS[key]
    if users > 1:
        _BROWSERS[key] = (playwright, browser, users - 1)
        return
    del _BROWSERS[key]
    try:
        browser.close()
    finally:
        playwright.stop()


class BrowserPage:
    """A page in a context of its own on the thread's shared Chromium (:func:`acquire_browser`).

    Args:
        executable: The Chromium to use (:func:`find_chromium`).
        viewport: Width and height in CSS pixels.
        **context_args: More arguments of Playwright's ``new_context`` (``device_scale_factor=1``...).
    """

    def __init__(self, executable: str, viewport: tuple[int, int], **context_args: Any):
        browser = acquire_browser(executable)
        try:
            self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context_args)
            self.page = self.context.new_page()
        except Exception:
            release_browser(executable)
            raise
        self._executable = executable
        self.closed = False

    def close(self) -> None:
        """Close the context and drop this use of the browser (the last use closes it); idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self.context.close()
        finally:
            release_browser(self._executable)
