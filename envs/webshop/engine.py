"""The shop: its states, the transitions between them, and the page of each state.

The original WebShop's site has five pages: search → results (top 50 by BM25, 10 per
page) → item (options, price, Description / Features / Reviews, Buy Now) → item
sub-page; Buy Now leads to the done page and ends the episode with the reward. A
:class:`ShopState` names a page and what it shows; :meth:`Shop.transition` is the site's
navigation as a pure function, so the text env steps through it and the web app turns
each clickable element into the URL of the state it leads to.

Actions are the original's: ``search[query]`` and ``click[label]``, labels lower-cased.
As in the original text env, ``search[...]`` is accepted on every page (only the search
page shows a search box); ``click`` must name a clickable element of the current page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal

from agentrl.envs.webshop.catalog import Catalog, Goal, Product
from agentrl.envs.webshop.pages import Element
from agentrl.envs.webshop.reward import RewardInfo, purchase_reward
from agentrl.envs.webshop.search import SearchEngine

PageName = Literal["search", "results", "item", "sub", "done"]
RESULTS_PER_PAGE = 10
SUB_PAGES = ("description", "features", "reviews")
BACK_TO_SEARCH = "Back to Search"
PREV = "< Prev"
NEXT = "Next >"
BUY_NOW = "Buy Now"


@dataclass(frozen=True)
class ShopState:
    """Where the shopper is: a page and what it shows."""

    page: PageName = "search"
    keywords: str = ""
    """The last search (results, item and sub-pages keep it for ``< Prev``)."""
    page_num: int = 1
    """Results page number, from 1."""
    asin: str = ""
    """The product of an item, sub or done page."""
    options: tuple[tuple[str, str], ...] = ()
    """Chosen option values, ``(name, value)`` in the product's option order."""
    sub_page: str = ""
    """``description``, ``features`` or ``reviews`` on a sub-page."""

    @property
    def chosen(self) -> dict[str, str]:
        """The chosen options as a dict."""
        return dict(self.options)


@dataclass(frozen=True)
class Command:
    """A parsed action: ``search`` with a query, or ``click`` with a lower-cased label."""

    verb: Literal["search", "click"]
    arg: str


@dataclass
class Session:
    """One shopper's visit: the goal, where they are, what they opened and searched, and what they bought.

    The text env, the web app and the browser env all keep their shoppers in sessions, moved by :meth:`Shop.enter`.
    """

    goal: Goal
    state: ShopState = field(default_factory=ShopState)
    visited: set[str] = field(default_factory=set)
    searched: set[str] = field(default_factory=set)
    purchase: RewardInfo | None = None


@dataclass
class Shop:
    """A catalogue and its search engine: the site every session of the env or web app shares."""

    catalog: Catalog
    engine: SearchEngine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = SearchEngine(list(self.catalog.products.values()))

    # ------------------------------------------------------------------ navigation
    def results(self, keywords: str) -> tuple[str, ...]:
        """The ASINs a search for ``keywords`` lists (at most 50)."""
        return self.engine.search(keywords)

    def product(self, asin: str) -> Product:
        """The product ``asin``."""
        return self.catalog.products[asin]

    def transition(self, state: ShopState, command: Command) -> ShopState | None:
        """The state ``command`` leads to from ``state``, or None when it does nothing there."""
        if state.page == "done":
            return None
        if command.verb == "search":
            return ShopState("results", keywords=command.arg, page_num=1) if command.arg.strip() else None
        label = command.arg
        if label == BACK_TO_SEARCH.lower() and state.page != "search":
            return ShopState("search")
        if state.page == "results":
            return self._from_results(state, label)
        if state.page == "item":
            return self._from_item(state, label)
        if state.page == "sub" and label == PREV.lower():
            return replace(state, page="item", sub_page="")
        return None

    def _from_results(self, state: ShopState, label: str) -> ShopState | None:
        total = len(self.results(state.keywords))
        if label == NEXT.lower() and state.page_num * RESULTS_PER_PAGE < total:
            return replace(state, page_num=state.page_num + 1)
        if label == PREV.lower() and state.page_num > 1:
            return replace(state, page_num=state.page_num - 1)
        for asin in self._page_asins(state):
            if asin.lower() == label:
                return replace(state, page="item", asin=asin, options=())
        return None

    def _from_item(self, state: ShopState, label: str) -> ShopState | None:
        if label == PREV.lower():
            return replace(state, page="results", asin="", options=())
        if label in SUB_PAGES:
            return replace(state, page="sub", sub_page=label)
        if label == BUY_NOW.lower():
            return replace(state, page="done")
        product = self.product(state.asin)
        for name, values in product.options.items():
            if label in values:
                chosen = state.chosen
                chosen[name] = label
                order = list(product.options)
                return replace(state, options=tuple(sorted(chosen.items(), key=lambda kv: order.index(kv[0]))))
        return None

    def _page_asins(self, state: ShopState) -> tuple[str, ...]:
        start = (state.page_num - 1) * RESULTS_PER_PAGE
        return self.results(state.keywords)[start : start + RESULTS_PER_PAGE]

    def enter(self, session: Session, state: ShopState) -> list[Element]:
        """Move ``session`` to ``state``: record what a visit records (products opened, searches, the purchase of a
        done page, once); return the page's elements."""
        if state.page == "item":
            session.visited.add(state.asin)
        if state.page == "results":
            session.searched.add(state.keywords)
        if state.page == "done" and session.purchase is None:
            session.purchase = self.reward(state, session.goal)
        session.state = state
        return self.page(state, session.goal, session.visited)

    def reward(self, state: ShopState, goal: Goal) -> RewardInfo:
        """The reward of the purchase a done state records."""
        return purchase_reward(self.product(state.asin), goal, state.chosen)

    # ------------------------------------------------------------------ pages
    def page(self, state: ShopState, goal: Goal, visited: set[str] | None = None) -> list[Element]:
        """The elements of ``state``'s page for a shopper following ``goal``."""
        if state.page == "done":
            return self._done_page(state, goal)
        head = [Element("heading", "Instruction:"), Element("text", goal.instruction)]
        if state.page == "search":
            return [Element("heading", "WebShop"), *head, Element("search", "Search")]
        elements = [*head, Element("button", BACK_TO_SEARCH)]
        if state.page == "results":
            return elements + self._results_body(state, visited or set())
        elements.append(Element("button", PREV))
        product = self.product(state.asin)
        if state.page == "sub":
            return elements + self._sub_body(product, state.sub_page)
        chosen = state.chosen
        for name, values in product.options.items():
            elements.append(Element("option_group", name))
            elements += [Element("option", v, clicked=chosen.get(name) == v, group=name) for v in values]
        elements += [
            Element("heading", product.title),
            Element("text", f"Price: {product.price_tag}"),
            Element("text", f"Rating: {product.rating}"),
            *(Element("button", sub.capitalize()) for sub in SUB_PAGES),
            Element("button", BUY_NOW),
        ]
        return elements

    def _results_body(self, state: ShopState, visited: set[str]) -> list[Element]:
        total = len(self.results(state.keywords))
        body = [Element("text", f"Page {state.page_num} (Total results: {total})")]
        if state.page_num > 1:
            body.append(Element("button", PREV))
        if state.page_num * RESULTS_PER_PAGE < total:
            body.append(Element("button", NEXT))
        for asin in self._page_asins(state):
            product = self.product(asin)
            body += [
                Element("product", asin, clicked=asin in visited),
                Element("text", product.title),
                Element("text", product.price_tag),
            ]
        return body

    @staticmethod
    def _sub_body(product: Product, sub_page: str) -> list[Element]:
        if sub_page == "description":
            return [Element("text", product.description or "None")]
        if sub_page == "features":
            return [Element("text", bullet) for bullet in product.bullets] or [Element("text", "None")]
        body: list[Element] = []
        for review in product.reviews:
            body += [
                Element("heading", review["title"]),
                Element("text", f"{review['score']} out of 5 stars"),
                Element("text", review["body"]),
            ]
        return body or [Element("text", "No reviews yet.")]

    def _done_page(self, state: ShopState, goal: Goal) -> list[Element]:
        info = self.reward(state, goal)
        return [
            Element("heading", "Thank you for shopping with us!"),
            Element("text", "Your code:"),
            Element("text", "None"),
            Element("text", "(Paste it in your MTurk interface.)"),
            Element("heading", "Purchased"),
            Element("text", "asin"),
            Element("text", state.asin),
            Element("text", "options"),
            Element("text", json.dumps(state.chosen)),
            Element("heading", "Reward"),
            Element("text", "Your score (min 0.0, max 1.0)"),
            Element("text", f"{info.reward:.4g}"),
        ]
