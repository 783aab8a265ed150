"""The WebShop site over HTTP: FastAPI routes and a Jinja2 template, one session per shopper.

A session holds a goal and the shopper's purchase. Every page of a session is
``GET /session/{sid}`` with the :class:`~agentrl.envs.webshop.engine.ShopState` in the
query string, so a page is a pure function of its URL; each clickable element is a link
to the URL of the state :meth:`Shop.transition` leads to, and the search box is a form
(``GET /session/{sid}/search?q=...``). Opening the done page records the purchase and
its reward in the session. ``GET /`` starts a session for a person (``?goal=N`` picks
the goal of the split, else the next one) and redirects to it.

Clickable elements carry ``data-label`` (the ``click[...]`` label), which is how the
browser env finds what to click; what a person sees is the same page.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agentrl.envs.webshop.catalog import Goal
from agentrl.envs.webshop.engine import Command, Session, Shop, ShopState
from agentrl.envs.webshop.pages import Element

TEMPLATES = Path(__file__).parent / "templates"


def state_query(state: ShopState) -> dict[str, str]:
    """The query-string parameters of ``state`` (defaults left out)."""
    params: dict[str, str] = {"page": state.page}
    if state.keywords:
        params["q"] = state.keywords
    if state.page_num != 1:
        params["p"] = str(state.page_num)
    if state.asin:
        params["asin"] = state.asin
    if state.options:
        params["opt"] = json.dumps(list(state.options))
    if state.sub_page:
        params["sub"] = state.sub_page
    return params


def parse_state(params: dict[str, str]) -> ShopState:
    """The :class:`ShopState` of a query string (inverse of :func:`state_query`); ValueError when malformed."""
    page = params.get("page", "search")
    if page not in ("search", "results", "item", "sub", "done"):
        raise ValueError(f"unknown page {page!r}")
    options = tuple((str(k), str(v)) for k, v in json.loads(params.get("opt", "[]")))
    return ShopState(
        page=page,  # type: ignore[arg-type]
        keywords=params.get("q", ""),
        page_num=int(params.get("p", "1")),
        asin=params.get("asin", ""),
        options=options,
        sub_page=params.get("sub", ""),
    )


class Site:
    """The shop's sessions, shared by the HTTP routes and by in-process callers (the browser env).

    Args:
        shop: The catalogue and search engine.
        goals: The goals sessions draw from (a split of the catalogue).
    """

    def __init__(self, shop: Shop, goals: list[Goal]):
        if not goals:
            raise ValueError("a WebShop site needs at least one goal")
        self.shop = shop
        self.goals = goals
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._next_goal = itertools.count()

    def open_session(self, goal_index: int | None = None) -> str:
        """Start a session on ``goals[goal_index]`` (default: the next goal); return its id."""
        index = next(self._next_goal) if goal_index is None else goal_index
        sid = uuid.uuid4().hex[:16]
        with self._lock:
            self.sessions[sid] = Session(self.goals[index % len(self.goals)])
        return sid

    def close_session(self, sid: str) -> None:
        """Forget a session (idempotent)."""
        with self._lock:
            self.sessions.pop(sid, None)

    def session(self, sid: str) -> Session:
        """The session ``sid``; KeyError when there is none."""
        return self.sessions[sid]

    def url(self, sid: str, state: ShopState) -> str:
        """The path of ``state``'s page in session ``sid``."""
        return f"/session/{sid}?{urlencode(state_query(state))}"

    def visit(self, sid: str, state: ShopState) -> list[Element]:
        """Serve ``state``'s page: record it (and the purchase of a done page); return its elements."""
        session = self.session(sid)
        if state.asin and state.asin not in self.shop.catalog.products:
            raise ValueError(f"no product {state.asin!r}")
        if state.page in ("item", "sub", "done") and not state.asin:
            raise ValueError(f"the {state.page} page needs a product")
        return self.shop.enter(session, state)

    def links(self, sid: str, state: ShopState, elements: list[Element]) -> list[str | None]:
        """Per element, the URL clicking it leads to (None for what is not clickable)."""
        hrefs: list[str | None] = []
        for element in elements:
            target = self.shop.transition(state, Command("click", element.label)) if element.clickable else None
            hrefs.append(self.url(sid, target) if target is not None else None)
        return hrefs


def create_app(site: Site) -> FastAPI:
    """The FastAPI app serving ``site``."""
    try:
        from jinja2 import Environment, FileSystemLoader, select_autoescape
    except ImportError as err:
        raise ImportError("the WebShop web app needs Jinja2: pip install 'agentrl[webshop]'") from err
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    page_template = templates.get_template("page.html")
    app = FastAPI(title="WebShop (agentrl)", docs_url=None, redoc_url=None)
    app.state.site = site

    def known(sid: str) -> Session:
        try:
            return site.session(sid)
        except KeyError:
            raise HTTPException(404, f"no session {sid!r}; open / to start one") from None

    @app.get("/", response_class=RedirectResponse)
    def start(goal: int | None = None) -> RedirectResponse:
        return RedirectResponse(f"/session/{site.open_session(goal)}", status_code=303)

    @app.get("/session/{sid}", response_class=HTMLResponse)
    def page(sid: str, request: Request) -> HTMLResponse:
        session = known(sid)
        try:
            state = parse_state(dict(request.query_params))
            elements = site.visit(sid, state)
        except (ValueError, TypeError) as err:
            raise HTTPException(400, f"bad page address: {err}") from None
        context: dict[str, Any] = {
            "sid": sid,
            "state": state,
            "items": list(zip(elements, site.links(sid, state, elements), strict=True)),
            "reward": session.purchase.reward if state.page == "done" and session.purchase else None,
            "search_url": f"/session/{sid}/search",
        }
        return HTMLResponse(page_template.render(**context))

    @app.get("/session/{sid}/search", response_class=RedirectResponse)
    def search(sid: str, q: str = "") -> RedirectResponse:
        session = known(sid)
        target = site.shop.transition(session.state, Command("search", " ".join(q.split()).lower()))
        return RedirectResponse(site.url(sid, target or session.state), status_code=303)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "sessions": len(site.sessions), "products": len(site.shop.catalog.products)}

    return app
