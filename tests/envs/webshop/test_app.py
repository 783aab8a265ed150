"""The WebShop web app: sessions, pages as URLs, the search form, purchases, bad addresses."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from agentrl.envs.webshop.app import Site, create_app, parse_state, state_query
from agentrl.envs.webshop.engine import ShopState


@pytest.fixture
def site(tiny_shop):
    return Site(tiny_shop, tiny_shop.catalog.goals)


@pytest.fixture
def client(site):
    with TestClient(create_app(site)) as client:
        yield client


def links(html: str) -> dict[str, str]:
    """data-label -> href of the page's links."""
    found = re.findall(r'<a [^>]*?href="([^"]+)"\s+data-label="([^"]+)"', html)
    return {label: href.replace("&amp;", "&") for href, label in found}


def test_state_round_trips_through_the_query_string():
    state = ShopState(
        "sub", keywords="a b", page_num=2, asin="B000000001", options=(("size", "6 ounce"),), sub_page="reviews"
    )
    assert parse_state(state_query(state)) == state
    assert parse_state({}) == ShopState()


def test_a_person_shops_through_links(client, site):
    start = client.get("/", follow_redirects=False)
    assert start.status_code == 303
    sid = start.headers["location"].rsplit("/", 1)[1]
    page = client.get(start.headers["location"])
    assert "Instruction:" in page.text and site.session(sid).goal.instruction in page.text
    results = client.get(f"/session/{sid}/search", params={"q": "  Deodorant "})
    assert "Page 1 (Total results: 2)" in results.text
    item = client.get(links(results.text)["b000000001"])
    assert "Citrusy Natural Deodorant for Women" in item.text and 'aria-checked="false"' in item.text
    chosen = client.get(links(item.text)["bright citrus"])
    assert re.search(r'aria-checked="true"[^>]*data-label="bright citrus"', chosen.text)
    done = client.get(links(chosen.text)["buy now"])
    assert "Thank you for shopping with us!" in done.text
    purchase = site.session(sid).purchase
    assert purchase is not None and purchase.reward == 1.0
    assert site.session(sid).visited == {"B000000001"}


def test_bad_addresses(client, site):
    assert client.get("/session/nope").status_code == 404
    sid = site.open_session(0)
    assert client.get(f"/session/{sid}", params={"page": "admin"}).status_code == 400
    assert client.get(f"/session/{sid}", params={"page": "item"}).status_code == 400
    assert client.get(f"/session/{sid}", params={"page": "item", "asin": "B0NOTHERE1"}).status_code == 400
    assert client.get(f"/session/{sid}", params={"page": "results", "p": "x"}).status_code == 400
    assert client.get(f"/session/{sid}", params={"page": "results", "opt": "{"}).status_code == 400
    # An empty search leaves the shopper where they were.
    assert client.get(f"/session/{sid}/search", params={"q": "  "}).url.params.get("page") == "search"
    assert client.get("/health").json()["products"] == 3
