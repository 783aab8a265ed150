"""``agentrl/WebShop-v1``: the WebShop site as a text env.

Each episode is one goal ("i need a long lasting face moisturizer ..., and price lower
than 30.00 dollars"); the agent searches, browses and buys with ``search[query]`` and
``click[label]``; Buy Now ends the episode with the original's reward in [0, 1].
``info["score"]`` is 100 × that reward (the published "score" is its mean) and
``info["won"]`` is reward == 1 (the published "success rate").

The goal of a reset is ``split[task_id]`` when ``options={"task_id": i}`` is given, else
``split[seed % len(split)]``; the splits are the original's (test = the first 500 goals
of the seeded shuffle, eval = the next 1,000, train = the rest). The catalogue is
generated from ``catalog_seed`` unless ``data_dir`` points at the original files; shops
are cached per process, so many envs share one catalogue and search index.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, ClassVar, SupportsFloat

from agentrl.envs.base import TextEnv
from agentrl.envs.webshop.catalog import SPLITS, Catalog, Goal, generate_catalog, load_original
from agentrl.envs.webshop.engine import Command, Session, Shop, ShopState
from agentrl.envs.webshop.oracle import check_expert_view, expert_action
from agentrl.envs.webshop.pages import OBSERVATION_MODES, Element, render
from agentrl.envs.webshop.reward import RewardInfo

_ACTION = re.compile(r"\s*(search|click)\s*\[(.*)\]\s*", re.IGNORECASE | re.DOTALL)
SEARCH_PLACEHOLDER = "search[<query>]"


@functools.lru_cache(maxsize=4)
def load_shop(data_dir: str | None, human_goals: bool, catalog_seed: int, n_products: int) -> Shop:
    """The shop for these settings, built once per process."""
    catalog: Catalog
    if data_dir is not None:
        catalog = load_original(Path(data_dir).expanduser(), human_goals=human_goals, seed=catalog_seed)
    else:
        catalog = generate_catalog(seed=catalog_seed, n_products=n_products)
    return Shop(catalog)


def parse_command(action: str) -> Command | None:
    """``search[...]`` / ``click[...]`` as a :class:`Command` (argument stripped and lower-cased), else None."""
    match = _ACTION.fullmatch(action)
    if match is None:
        return None
    verb, arg = match.group(1).lower(), " ".join(match.group(2).split()).lower()
    if not arg or len(arg) > 500:
        return None
    return Command("search" if verb == "search" else "click", arg)


class WebShopEnv(TextEnv[Command]):
    """Shop for the goal's product on the WebShop site, in text.

    Args:
        split: Goals to draw from: ``train``, ``eval``, ``test`` or ``all``.
        observation_mode: ``text`` (texts joined by `` [SEP] ``) or ``text_rich`` (buttons marked).
        data_dir: A directory with the original WebShop files; None generates the catalogue.
        human_goals: With ``data_dir``: the crowd-written goals (else the synthetic ones).
        catalog_seed: Seed of the generated catalogue (and of price draws).
        n_products: Size of the generated catalogue.
        expert: Put the expert's next action in ``info["expert_action"]``.
        expert_view: What that expert reads: ``oracle`` (the goal's hidden attributes and every product's options;
            it opens the first listed product that scores best) or ``page`` (only the pages: it opens listed
            products in order and goes back from one that lacks an option or is over budget); see
            :mod:`agentrl.envs.webshop.oracle`.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    instructions: ClassVar[str] = (
        "You are shopping in a web store for the item the instruction describes. Reply with one action: "
        "search[your query] on the search page, or click[label] with a label shown on the page (a product id, "
        "an option value, back to search, next >, < prev, description, features, reviews, buy now). "
        "Buy now ends the episode."
    )

    def __init__(
        self,
        split: str = "train",
        observation_mode: str = "text",
        data_dir: str | None = None,
        human_goals: bool = True,
        catalog_seed: int = 0,
        n_products: int = 1200,
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
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(
                f"unknown WebShop observation_mode {observation_mode!r}; choose one of {', '.join(OBSERVATION_MODES)}"
            )
        self.shop = load_shop(data_dir, human_goals, catalog_seed, n_products)
        self.goals: list[Goal] = self.shop.catalog.split(split)
        if not self.goals:
            raise ValueError(f"the WebShop {split} split of {self.shop.catalog.source} has no goals")
        self.split = split
        self.observation_mode = observation_mode
        self.session = Session(self.goals[0])
        self._elements: list[Element] = []
        self._pending: tuple[Command, ShopState] | None = None

    @property
    def goal(self) -> Goal:
        """The goal of this episode."""
        return self.session.goal

    @property
    def state(self) -> ShopState:
        """Where the shopper is."""
        return self.session.state

    @property
    def purchase(self) -> RewardInfo | None:
        """The purchase and its reward, once Buy Now was clicked."""
        return self.session.purchase

    # ------------------------------------------------------------------ hooks
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        index = int(options.get("task_id", seed)) % len(self.goals)
        self.session = Session(self.goals[index])
        self.task = self.goal.instruction
        self._elements = self.shop.enter(self.session, ShopState())

    def _engine_step(self, command: Command) -> tuple[SupportsFloat, bool, bool]:
        # parse_action already found where the command leads (it only lets through commands that act).
        pending, self._pending = self._pending, None
        state = (
            pending[1] if pending is not None and pending[0] is command else self.shop.transition(self.state, command)
        )
        if state is None:
            raise AssertionError(f"{command} does nothing in {self.state}")
        self._elements = self.shop.enter(self.session, state)
        purchase = self.session.purchase
        if purchase is None:
            return 0.0, False, False
        self.won = purchase.reward == 1.0
        self.score = 100.0 * purchase.reward
        return purchase.reward, True, False

    def _render(self) -> str:
        return render(self._elements, self.observation_mode)

    def parse_action(self, action: str) -> Command | None:
        command = parse_command(action)
        if command is None:
            return None
        state = self.shop.transition(self.state, command)
        self._pending = (command, state) if state is not None else None
        return command if state is not None else None

    def _admissible(self) -> list[str]:
        if self.state.page == "done":
            return []
        actions = [SEARCH_PLACEHOLDER] if self.state.page == "search" else []
        return actions + [f"click[{e.label}]" for e in self._elements if e.clickable]

    def _compute_expert(self) -> str | None:
        return expert_action(self.shop, self.session, self.expert_view)

    def invalid_feedback(self, action: object) -> str:
        head = action[:60] if isinstance(action, str) else type(action).__name__
        return (
            f"Invalid action: {head!r} does nothing on this page. Use search[query] or click[label] with a label "
            f"from: {', '.join(self._admissible()) or 'none (the episode is over)'}."
        )
