"""The WebShop oracle: search, open the first listed product that meets the goal, choose its options, buy.

From any state it names the next action towards a purchase with reward 1: search with the
instruction as written (falling back to the goal's query, then the target product's
title, when no product of a query's 50 results scores as well as the goal's own product);
page to the FIRST listed product whose purchase, with the option values the goal asks
for, scores best (reward 1 for every goal of the generated catalogue); open it, click
each wanted option, Buy Now. On a product page it buys any product that scores as well
as that choice and goes back from any other.

Everything it chooses is meant to be learnable from the pages a policy sees, because a
small model learns to imitate what it can read (docs/training.md):

* the query is the instruction copied whole: a policy reads it at every turn, whereas the
  goal's ``query`` (the search that found the product when the catalogue was made) is
  hidden, and dropping the price clause is one more thing to learn that changes nothing
  (over 300 training goals the instruction with and without it gives the same first
  products);
* the product is the first listed one that meets the goal, not the goal's hidden target:
  a rule a policy can follow from the titles, and the first result for 70% of 300
  training goals (the hidden target is the first result for 42%);
* buttons and product ids are written as the page shows them (``click[B0A7B06K1V]``,
  ``click[Buy Now]``; the env reads either case), so a model copies what it reads rather
  than lower-casing a random id.

It only uses actions of the page it is on (it goes back to the search page to search), so
the same plan drives the text env and the browser.

The oracle still chooses its product with what the pages hide: the goal's attributes (which
no product page lists) and the option values of products it never opens. A policy that
strays from its path cannot tell why it goes back from a product. :func:`page_action` is
the expert that reads only what a shopper sees (``expert_view="page"``): it searches with
the instruction, opens the first listed product it has not opened yet whose price is
within the instruction's bound, and on the product page buys when every option the
instruction names is offered and the price is within the bound, else goes back. Its
product choices follow from the page (visited products are marked in ``text_rich``
mode), at the cost of buying some products that lack a hidden attribute.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentrl.envs.webshop.catalog import Goal, Product
from agentrl.envs.webshop.engine import BACK_TO_SEARCH, BUY_NOW, NEXT, PREV, RESULTS_PER_PAGE, Session, Shop, ShopState
from agentrl.envs.webshop.reward import FUZZY_THRESHOLD, fuzzy_ratio, normalize_color, purchase_reward

_EPS = 1e-9
EXPERT_VIEWS = ("oracle", "page")
"""What the expert of ``info["expert_action"]`` may read: the whole catalogue and goal (``oracle``) or only the
pages a shopper sees (``page``)."""


def search_queries(goal: Goal, product: Product) -> list[str]:
    """The searches the oracle tries, in order."""
    queries = [goal.instruction, goal.query, product.title]
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


def best_reward(goal: Goal, product: Product) -> float:
    """The reward of buying ``product`` with the option values ``goal`` asks for (:func:`wanted_options`)."""
    return purchase_reward(product, goal, wanted_options(goal, product)).reward


def purchase_choice(shop: Shop, goal: Goal, keywords: str) -> tuple[str | None, float]:
    """The product the oracle buys among the results of ``keywords`` and its reward: the first listed one whose
    :func:`best_reward` is highest (None when the search lists nothing)."""
    choice, reward = None, -1.0
    for asin in shop.results(keywords):
        score = best_reward(goal, shop.product(asin))
        if score > reward + _EPS:
            choice, reward = asin, score
            if reward >= 1.0 - _EPS:
                break
    return choice, reward


def _buy(goal: Goal, product: Product, state: ShopState) -> str:
    """On ``product``'s page: click the next option value the goal asks for that is not chosen yet, else Buy Now."""
    chosen = state.chosen
    for name, value in wanted_options(goal, product).items():
        if chosen.get(name) != value:
            return f"click[{value}]"
    return f"click[{BUY_NOW}]"


def _towards(results: tuple[str, ...], choice: str, state: ShopState) -> str:
    """On a results page: open ``choice`` when this page lists it, else page towards it."""
    where = results.index(choice) // RESULTS_PER_PAGE + 1
    if where == state.page_num:
        return f"click[{choice}]"
    return f"click[{NEXT if where > state.page_num else PREV}]"


def oracle_action(shop: Shop, goal: Goal, state: ShopState, searched: set[str]) -> str | None:
    """The oracle's next action in ``state``, given the queries ``searched`` so far this episode.

    None once the purchase is made, or when no query finds a product to buy.
    """
    target = shop.product(goal.asin)
    query = next((q for q in search_queries(goal, target) if q not in searched), None)
    if state.page == "done":
        return None
    if state.page == "search":
        return f"search[{query}]" if query is not None else None
    if state.page == "sub":
        return f"click[{PREV}]"
    choice, reward = purchase_choice(shop, goal, state.keywords)
    if state.page == "item":
        product = shop.product(state.asin)
        if best_reward(goal, product) < reward - _EPS:
            return f"click[{PREV}]"
        return _buy(goal, product, state)
    # Results: page towards the choice, or search again when these results hold nothing as good as the target.
    if choice is None or (reward < best_reward(goal, target) - _EPS and query is not None):
        return f"click[{BACK_TO_SEARCH}]" if query is not None else None
    return _towards(shop.results(state.keywords), choice, state)


def offers_options(goal: Goal, product: Product) -> bool:
    """Whether ``product``'s page offers a value for every option the goal names (the fuzzy match of the reward)."""
    matched = {
        wanted
        for wanted in goal.option_values
        for values in product.options.values()
        for value in values
        if value == wanted.lower() or fuzzy_ratio(normalize_color(value), normalize_color(wanted)) > FUZZY_THRESHOLD
    }
    return len(matched) == len(set(goal.option_values))


def page_action(shop: Shop, session: Session) -> str | None:
    """The next action of the expert that reads only the pages (see the module's docstring); None once bought.

    On a results page it opens the first listed product, on any page of the search's results, that this session
    has not opened and whose price is within the goal's bound. When no such product is left it opens the first
    listed product within the bound (else the first listed) and buys it with the options it offers, so that an
    episode always ends in a purchase rather than a loop.
    """
    goal, state = session.goal, session.state
    query = goal.instruction.lower()
    if state.page == "done":
        return None
    if state.page == "search":
        return f"search[{query}]"
    if state.page == "sub":
        return f"click[{PREV}]"
    results = shop.results(state.keywords)
    if not results:
        return f"click[{BACK_TO_SEARCH}]" if state.keywords != query else None
    affordable = [a for a in results if shop.product(a).price <= goal.price_upper]
    unopened = [a for a in affordable if a not in session.visited]
    if state.page == "item":
        product = shop.product(state.asin)
        fits = product.price <= goal.price_upper and offers_options(goal, product)
        if not fits and unopened:
            return f"click[{PREV}]"
        return _buy(goal, product, state)
    return _towards(results, (unopened or affordable or list(results))[0], state)


def expert_action(shop: Shop, session: Session, view: str) -> str | None:
    """The next action of the expert that sees ``view`` (one of :data:`EXPERT_VIEWS`) in ``session``."""
    if view == "page":
        return page_action(shop, session)
    return oracle_action(shop, session.goal, session.state, session.searched)


def check_expert_view(view: str) -> None:
    """Refuse an unknown ``expert_view``, naming the choices."""
    if view not in EXPERT_VIEWS:
        raise ValueError(f"unknown WebShop expert_view {view!r}; choose one of {', '.join(EXPERT_VIEWS)}")


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
