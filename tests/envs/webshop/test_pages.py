"""Golden tests of WebShop's pages in the original's ``text`` and ``text_rich`` modes, and its navigation."""

from __future__ import annotations

import pytest

from agentrl.envs.webshop.engine import Command, ShopState
from agentrl.envs.webshop.pages import render

INSTRUCTION = "i need a long lasting deodorant in bright citrus scent, and price lower than 20.00 dollars"


def page(shop, state, mode="text", visited=None):
    return render(shop.page(state, shop.catalog.goals[0], visited), mode)


def test_search_page(tiny_shop):
    assert page(tiny_shop, ShopState()) == f"WebShop [SEP] Instruction: [SEP] {INSTRUCTION} [SEP] Search"


def test_results_page(tiny_shop):
    state = tiny_shop.transition(ShopState(), Command("search", "deodorant"))
    assert state == ShopState("results", keywords="deodorant")
    assert page(tiny_shop, state) == (
        f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] Page 1 (Total results: 2) [SEP] "
        "B000000002 [SEP] Fresh Sport Deodorant Stick [SEP] $4.50 [SEP] "
        "B000000001 [SEP] Citrusy Natural Deodorant for Women [SEP] $10.99"
    )


def test_item_page_and_options(tiny_shop):
    results = ShopState("results", keywords="deodorant")
    item = tiny_shop.transition(results, Command("click", "b000000001"))
    assert item == ShopState("item", keywords="deodorant", asin="B000000001")
    assert page(tiny_shop, item) == (
        f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] < Prev [SEP] scent [SEP] bright citrus [SEP] "
        "lavender [SEP] size [SEP] 3 ounce [SEP] 6 ounce [SEP] Citrusy Natural Deodorant for Women [SEP] "
        "Price: $10.99 [SEP] Rating: 5.0 [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    chosen = tiny_shop.transition(item, Command("click", "6 ounce"))
    chosen = tiny_shop.transition(chosen, Command("click", "bright citrus"))
    assert chosen.options == (("scent", "bright citrus"), ("size", "6 ounce"))  # in the product's option order
    rich = page(tiny_shop, chosen, "text_rich")
    assert rich.startswith("You have clicked bright citrus.\nYou have clicked 6 ounce.\n\nInstruction: \n")
    assert "[button] Back to Search [button_]\n[button] < Prev [button_]\n\nscent \n" in rich
    assert "  [clicked button] bright citrus [clicked button_]\n  [button] lavender [button_]\n" in rich
    assert rich.endswith("[button] Reviews [button_]\n[button] Buy Now [button_]\n")
    # Choosing another value of the same option replaces it.
    again = tiny_shop.transition(chosen, Command("click", "lavender"))
    assert again.chosen == {"scent": "lavender", "size": "6 ounce"}


def test_visited_products_are_marked_in_text_rich(tiny_shop):
    results = ShopState("results", keywords="deodorant")
    rich = page(tiny_shop, results, "text_rich", visited={"B000000001"})
    assert "\n[clicked button] B000000001 [clicked button_]\n" in rich
    assert "\n[button] B000000002 [button_]\n" in rich


@pytest.mark.parametrize(
    ("sub", "body"),
    [
        ("description", "Citrusy Natural Deodorant for Women. Keeps you fresh all day."),
        ("features", "Aluminum free formula [SEP] Safe for sensitive skin"),
        ("reviews", "Love it [SEP] 5 out of 5 stars [SEP] Smells great."),
    ],
)
def test_sub_pages(tiny_shop, sub, body):
    item = ShopState("item", keywords="deodorant", asin="B000000001", options=(("size", "3 ounce"),))
    state = tiny_shop.transition(item, Command("click", sub))
    assert page(tiny_shop, state) == f"Instruction: [SEP] {INSTRUCTION} [SEP] Back to Search [SEP] < Prev [SEP] {body}"
    assert tiny_shop.transition(state, Command("click", "< prev")) == item  # options kept


def test_done_page_shows_the_reward(tiny_shop):
    item = ShopState("item", keywords="deodorant", asin="B000000001", options=(("scent", "bright citrus"),))
    done = tiny_shop.transition(item, Command("click", "buy now"))
    assert page(tiny_shop, done) == (
        "Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in your MTurk interface.) "
        '[SEP] Purchased [SEP] asin [SEP] B000000001 [SEP] options [SEP] {"scent": "bright citrus"} [SEP] '
        "Reward [SEP] Your score (min 0.0, max 1.0) [SEP] 1"
    )


def test_navigation(tiny_shop):
    results = ShopState("results", keywords="deodorant")
    item = ShopState("item", keywords="deodorant", asin="B000000001")
    assert tiny_shop.transition(item, Command("click", "< prev")) == results
    assert tiny_shop.transition(item, Command("click", "back to search")) == ShopState()
    # Search works from every page but the done page, as in the original text env.
    assert tiny_shop.transition(item, Command("search", "toothbrush")).page == "results"
    assert tiny_shop.transition(ShopState("done", asin="B000000001"), Command("search", "x")) is None
    # Clicks that name nothing on the page do nothing.
    for state, label in [
        (ShopState(), "back to search"),
        (results, "next >"),
        (results, "< prev"),
        (results, "b000000003"),  # not among these results
        (item, "purple"),
        (ShopState(), "search"),
    ]:
        assert tiny_shop.transition(state, Command("click", label)) is None, (state, label)


def test_results_paging():
    from agentrl.envs.webshop.catalog import generate_catalog
    from agentrl.envs.webshop.engine import Shop

    shop = Shop(generate_catalog(seed=1, n_products=200))
    first = ShopState("results", keywords="black")
    assert len(shop.results("black")) == 50
    second = shop.transition(first, Command("click", "next >"))
    assert second.page_num == 2
    text = page(shop, second)
    assert "Page 2 (Total results: " in text and "< Prev" in text
    assert shop.transition(second, Command("click", "< prev")) == first
    last = ShopState("results", keywords="black", page_num=5)
    assert "Next >" not in page(shop, last) and shop.transition(last, Command("click", "next >")) is None
