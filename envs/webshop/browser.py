"""``agentrl/WebShop-Browser-v1``: the WebShop site in headless Chromium, driven by Playwright.

The env serves the site (:mod:`~agentrl.envs.webshop.app`) with uvicorn on 127.0.0.1 in
a background thread, opens it in Chromium (Debian's ``/usr/bin/chromium`` by default:
``playwright install`` cannot download a browser here) and acts only through the page:

* the observation is the page's accessibility tree as text
  (``locator("body").aria_snapshot()``: ``- button "Buy Now"``, ``- radio "small"
  [checked]``), and ``info["image"]`` is a PNG screenshot;
* ``click[label]`` clicks the button, product link or option whose name is ``label``
  (case-insensitive); ``search[query]`` types ``query`` into the search box and
  presses Search (only the search page has one); ``type[query]`` is the same;
* the reward, ``won`` and ``score`` are the text env's, read from the server's session
  when the browser opens the done page.

Processes: one server per process and settings, and one Chromium per thread
(:mod:`agentrl.envs.browser`, shared with the other browser envs), each shared by the envs
that use them and shut down with the last; every env has its own browser context (cookies, storage) and page.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.base import TextEnv
from agentrl.envs.browser import CHROMIUM_ARGS as CHROMIUM_ARGS  # re-exported: older imports read it here
from agentrl.envs.browser import BrowserPage, find_chromium, require_playwright
from agentrl.envs.webshop.app import Site, create_app
from agentrl.envs.webshop.catalog import SPLITS
from agentrl.envs.webshop.engine import Command
from agentrl.envs.webshop.env import SEARCH_PLACEHOLDER, load_shop, parse_command
from agentrl.envs.webshop.oracle import check_expert_view, expert_action

logger = logging.getLogger(__name__)

# The click labels of the page, and whether it has a search box, in one round trip.
_PAGE_JS = """() => [Array.from(document.querySelectorAll('[data-label]'), e => e.dataset.label),
                     document.querySelector('input[name=q]') !== null]"""


class SiteServer:
    """A :class:`Site` served by uvicorn on 127.0.0.1 (an ephemeral port unless ``port`` is given)."""

    def __init__(self, site: Site, port: int = 0):
        import uvicorn

        self.site = site
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(create_app(site), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"webshop-{self.port}", daemon=True
        )
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise RuntimeError("the WebShop server did not start")

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Shut the server down and wait for its thread (idempotent)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


_SERVERS: dict[tuple[Any, ...], tuple[SiteServer, int]] = {}
_SERVERS_LOCK = threading.Lock()


def _acquire_server(key: tuple[Any, ...]) -> SiteServer:
    with _SERVERS_LOCK:
        server, users = _SERVERS.get(key, (None, 0))
        if server is None:
            shop = load_shop(*key[:4])
            server = SiteServer(Site(shop, shop.catalog.split(key[4])))
        _SERVERS[key] = (server, users + 1)
        return server


def _release_server(key: tuple[Any, ...]) -> None:
    with _SERVERS_LOCK:
        server, users = _SERVERS[key]
        if users > 1:
            _SERVERS[key] = (server, users - 1)
            return
        del _SERVERS[key]
    server.stop()


class WebShopBrowserEnv(TextEnv[Command]):
    """Shop for the goal's product on the WebShop site, in a real headless browser.

    Args:
        split: Goals to draw from: ``train``, ``eval``, ``test`` or ``all``.
        data_dir: A directory with the original WebShop files; None generates the catalogue.
        human_goals: With ``data_dir``: the crowd-written goals.
        catalog_seed: Seed of the generated catalogue.
        n_products: Size of the generated catalogue.
        screenshot: Put a PNG screenshot of the page in ``info["image"]`` after every reset and step.
        chromium_path: The browser to launch (default: ``chromium`` on PATH).
        expert: Put the expert's next action in ``info["expert_action"]``.
        expert_view: What that expert reads: ``oracle`` (the goal's hidden attributes and every product's options;
            it opens the first listed product that scores best) or ``page`` (only the pages: it opens listed
            products in order and goes back from one that lacks an option or is over budget); see
            :mod:`agentrl.envs.webshop.oracle`.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are shopping in a web store for the item the instruction describes; each page is shown as its "
        "accessibility tree. Reply with one action: search[your query] on the search page, or click[name] with "
        "the name of a button, link or option on the page. Buy Now ends the episode."
    )

    def __init__(
        self,
        split: str = "train",
        data_dir: str | None = None,
        human_goals: bool = True,
        catalog_seed: int = 0,
        n_products: int = 1200,
        screenshot: bool = True,
        chromium_path: str | None = None,
        *,
        expert: bool = True,
        expert_view: str = "oracle",
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        check_expert_view(expert_view)
        self.expert_view = expert_view
        if split not in SPLITS:
            raise ValueError(f"unknown WebShop split {split!r}; choose one of {', '.join(SPLITS)}")
        require_playwright("WebShop-Browser")
        executable = find_chromium(chromium_path, who="WebShop-Browser")
        self._key = (data_dir, human_goals, catalog_seed, n_products, split)
        self.server = _acquire_server(self._key)
        self.site = self.server.site
        self.screenshot = screenshot
        try:
            self._tab = BrowserPage(executable, (1024, 900))
        except Exception:
            _release_server(self._key)
            raise
        self.page = self._tab.page
        self.sid: str | None = None
        self._labels: list[str] = []
        self._has_search = False
        self._snapshot = ""
        self._image: bytes | None = None

    # ------------------------------------------------------------------ browser
    def _load(self) -> None:
        """Read what the browser shows now."""
        self._labels, self._has_search = self.page.evaluate(_PAGE_JS)
        self._snapshot = self.page.locator("body").aria_snapshot()
        self._image = self.page.screenshot() if self.screenshot else None

    def _navigate(self, act: Any) -> None:
        with self.page.expect_navigation(wait_until="load"):
            act()
        self._load()

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        if self.sid is not None:
            self.site.close_session(self.sid)
        index = int(options.get("task_id", seed)) % len(self.site.goals)
        self.sid = self.site.open_session(index)
        self.task = self.site.session(self.sid).goal.instruction
        self.page.goto(f"{self.server.url}/session/{self.sid}", wait_until="load")
        self._load()

    def _engine_step(self, command: Command) -> tuple[SupportsFloat, bool, bool]:
        if command.verb == "search":
            self.page.get_by_label("Search query").fill(command.arg)
            self._navigate(self.page.locator('[data-label="search"]').first.click)
        else:
            self._navigate(self.page.locator("[data-label]").nth(self._labels.index(command.arg)).click)
        purchase = self.site.session(self.sid).purchase if self.sid else None
        if purchase is None:
            return 0.0, False, False
        self.won = purchase.reward == 1.0
        self.score = 100.0 * purchase.reward
        return purchase.reward, True, False

    def _render(self) -> str:
        return self._snapshot

    def parse_action(self, action: str) -> Command | None:
        if action[:5].lower() == "type[":
            action = "search[" + action[5:]
        command = parse_command(action)
        if command is None or self._done():
            return None
        if command.verb == "search":
            return command if self._has_search else None
        return command if command.arg in self._labels and command.arg != "search" else None

    def _done(self) -> bool:
        return self.sid is None or self.site.session(self.sid).purchase is not None

    def _admissible(self) -> list[str]:
        if self._done():
            return []
        actions = [SEARCH_PLACEHOLDER] if self._has_search else []
        return actions + [f"click[{label}]" for label in self._labels if label != "search"]

    def _compute_expert(self) -> str | None:
        if self.sid is None:
            return None
        session = self.site.session(self.sid)
        return expert_action(self.site.shop, session, self.expert_view)

    def invalid_feedback(self, action: object) -> str:
        head = action[:60] if isinstance(action, str) else type(action).__name__
        return (
            f"Invalid action: {head!r} names nothing on this page. Use click[name] with the name of a button, "
            f"link or option, or search[query] on the search page. Valid now: "
            f"{', '.join(self._admissible()) or 'none (the episode is over)'}."
        )

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        if self._image is not None:
            info["image"] = self._image
        return info

    def close(self) -> None:
        """Close the browser and the session; the server stops with the last env using it (idempotent)."""
        if self._tab.closed:
            return
        try:
            if self.sid is not None:
                self.site.close_session(self.sid)
        finally:
            try:
                self._tab.close()
            finally:
                _release_server(self._key)
        super().close()
