"""The WebShop oracle: search, find the goal's product, choose its options, buy.

From any state it names the next action towards buying the goal's own product with the
option values the goal asks for: search with the instruction (its price clause
dropped; falling back to the goal's query, then the product's title, when the product is
not among a query's 50 results), page through the results to the product, open it, click
each wanted option, Buy Now. The instruction comes first because a policy imitating the
oracle can only learn queries it can read: the goal's ``query`` (the search that found the
product when the catalogue was made) is hidden from the agent. It is also the better
search: over 400 training goals of the generated catalogue the target is the first result
for 42% of instruction searches against 8% for the goal's query, and on the first page for
98% against 81%. It only uses actions of the page it is on (it goes back to the search page to
search), so the same plan drives the text env and the browser. Buttons and product ids are
written as the page shows them (``click[B0A7B06K1V]``, ``click[Buy Now]``; the env reads
either case): a model imitating the expert copies what it reads rather than lower-casing a
random product id, which a small model does badly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agentrl.envs.webshop.catalog import Goal, Product
from agentrl.envs.webshop.engine import BACK_TO_SEARCH, BUY_NOW, NEXT, PREV, RESULTS_PER_PAGE, Shop, ShopState
from agentrl.envs.webshop.reward import FUZZY_THRESHOLD, fuzzy_ratio, normalize_color

_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars$")


def search_queries(goal: Goal, product: Product) -> list[str]:
    """The searches the oracle tries, in order."""
    queries = [_PRICE_CLAUSE.sub("", goal.instruction), goal.query, product.title]
    return [q.lower() for q in dict.fromkeys(q for q in queries if q.strip())]


def wanted_options(goal: Goal, product: Product) -> dict[str, str]:
    """Option name -> the product's value that best matches each goal option (above the fuzzy threshold)."""
    chosen: dict[str, str] = {}
    for wanted in goal.option_values:
        best: tuple[float, str, str] | None = None
        for name, values in product.options.items():
            for value in values:
                exact = value == wanted.lower()
                score = 101.0 if exact else fuzzy_ratio(normalize_color(value), normalize_color(wanted))
                if score > FUZZY_THRESHOLD and (best is None or score > best[0]):
                    best = (score, name, value)
        if best is not None:
            chosen.setdefault(best[1], best[2])
    return chosen


def oracle_action(shop: Shop, goal: Goal, state: ShopState, searched: set[str]) -> str | None:
    """The oracle's next action in ``state``, given the queries ``searched`` so far this episode.

    None once the purchase is made, or when no query finds the product.
    """
    target = shop.product(goal.asin)
    query = next((q for q in search_queries(goal, target) if q not in searched), None)
    if state.page == "done":
        return None
    if state.page == "search":
        return f"search[{query}]" if query is not None else None
    if state.page == "sub":
        return f"click[{PREV}]"
    if state.page == "item":
        if state.asin != goal.asin:
            return f"click[{PREV}]"
        chosen = state.chosen
        for name, value in wanted_options(goal, target).items():
            if chosen.get(name) != value:
                return f"click[{value}]"
        return f"click[{BUY_NOW}]"
    # Results: page towards the target, or search again with the next query.
    results = shop.results(state.keywords)
    if goal.asin in results:
        where = results.index(goal.asin) // RESULTS_PER_PAGE + 1
        if where == state.page_num:
            return f"click[{goal.asin}]"
        return f"click[{NEXT if where > state.page_num else PREV}]"
    # Not among these results: search again from the search page, as a person (or the browser) would.
    return f"click[{BACK_TO_SEARCH}]" if query is not None else None


def run_oracle(env: Any, task_ids: Iterable[int]) -> dict[str, Any]:
    """Play ``info["expert_action"]`` on each task of a WebShop env (text or browser); return the figures.

    Returns ``{"goals", "success", "score", "mean_steps", "failed": [task ids]}`` where success is the
    share of purchases with reward 1 and score is 100 × the mean reward, as the original reports them.
    """
    rewards: list[float] = []
    steps = 0
    failed: list[int] = []
    for task_id in task_ids:
        _, info = env.reset(seed=task_id, options={"task_id": task_id})
        reward, done = 0.0, False
        while not done and info["expert_action"] is not None:
            _, reward_, terminated, truncated, info = env.step(info["expert_action"])
            reward, done = float(reward_), terminated or truncated
            steps += 1
        rewards.append(reward)
        if reward < 1.0:
            failed.append(task_id)
    n = max(len(rewards), 1)
    return {
        "goals": len(rewards),
        "success": sum(r == 1.0 for r in rewards) / n,
        "score": 100.0 * sum(rewards) / n,
        "mean_steps": steps / n,
        "failed": failed,
    }
