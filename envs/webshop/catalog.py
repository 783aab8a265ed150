"""WebShop's products and goals: a seeded generator, and a loader for the original files.

The original WebShop scraped 1.18M Amazon products and 12k crowd-written instructions;
that data cannot be downloaded here, so :func:`generate_catalog` builds a catalogue from
the word lists in :mod:`~agentrl.envs.webshop.vocab_personal` and
:mod:`~agentrl.envs.webshop.vocab_home` (24 categories, 96 product types), and
:func:`goals_for` writes goals the way the original writes its synthetic ones: the
target's attributes and one value of some of its options, in an instruction with a
price bound. :func:`load_original` reads the original files (``items_shuffle*.json``,
``items_ins_v2*.json``, ``items_human_ins.json``) when a user has them.

Goals are split as the original splits them: a seeded shuffle, then test = the first
500, eval = the next 1,000, train = the rest. The original draws each goal's price bound
from an unseeded generator before it shuffles; here the one seeded generator draws both.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrl.envs.webshop.vocab import CategorySpec, ProductTypeSpec

logger = logging.getLogger(__name__)

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
"""The price bounds a goal may carry (the original's list)."""
NO_PRICE_BOUND = 1_000_000.0
"""The bound of a goal whose product is too dear for two bounds from :data:`PRICE_RANGE`."""
SPLIT_SEED = 233
"""The original's seed for shuffling goals into splits."""
SPLITS = ("test", "eval", "train", "all")

_REVIEW_TEXTS = (
    (5, "Exactly as described", "Works great and arrived quickly. Would buy again."),
    (5, "Love it", "Great quality for the price. Highly recommend."),
    (4, "Pretty good", "Does the job well. Slightly smaller than I expected."),
    (3, "It's okay", "Average quality; fine for the price."),
    (2, "Not for me", "Did not meet my expectations and I returned it."),
    (1, "Disappointed", "Stopped working after a week."),
)
_INSTRUCTION_OPENERS = (
    "i need",
    "i am looking for",
    "i'm looking for",
    "i want to buy",
    "find me",
    "i would like",
    "can you find me",
    "search for",
)


@dataclass
class Product:
    """One product of the catalogue, in the fields the shop and the reward read."""

    asin: str
    """Ten-character id (``B0`` + 8), shown as the product link."""
    title: str
    """The product name."""
    category: str
    """Top-level category (``"beauty"``)."""
    query: str
    """The search query the product is listed under."""
    product_category: str
    """Breadcrumb joined by `` › ``."""
    description: str
    """The Description sub-page."""
    bullets: list[str]
    """The Features sub-page."""
    price: float
    """What a purchase costs (compared with the goal's bound)."""
    price_tag: str
    """The price as shown (``"$12.99"`` or ``"$10.0 to $15.0"``)."""
    options: dict[str, list[str]]
    """Option name -> values (lower case)."""
    attributes: list[str]
    """Attribute phrases (lower case)."""
    reviews: list[dict[str, Any]] = field(default_factory=list)
    """``{"score": int, "title": str, "body": str}`` per review."""
    rating: str = "N.A."
    """The rating shown on the item page."""


@dataclass
class Goal:
    """One shopping instruction and what its reward compares against."""

    asin: str
    """The product the goal was written from."""
    instruction: str
    """The text the agent sees, with its price clause."""
    attributes: list[str]
    """Attributes the purchase should have."""
    options: list[str] | dict[str, str]
    """Option values the purchase should be bought with: a list of values, or (the original's synthetic goals)
    a ``{name: value}`` mapping, which the reward scores as ``(name, value)`` pairs as the original does."""
    price_upper: float
    """Price bound (:data:`NO_PRICE_BOUND` when the instruction gives none)."""
    query: str
    """The target's query."""
    category: str
    """The target's category."""
    product_category: str
    """The target's breadcrumb."""
    name: str
    """The target's title (its nouns are compared with the purchase's)."""

    @property
    def option_values(self) -> list[str]:
        """The option values asked for, whichever form :attr:`options` has."""
        return list(self.options.values()) if isinstance(self.options, dict) else list(self.options)


@dataclass
class Catalog:
    """Products by ASIN and goals by split."""

    products: dict[str, Product]
    goals: list[Goal]
    """All goals, in split order: test, eval, train."""
    source: str
    """``"generated:<seed>"`` or the data directory."""

    def split(self, name: str) -> list[Goal]:
        """The goals of split ``name`` (``test`` = 0-499, ``eval`` = 500-1499, ``train`` = the rest, or ``all``)."""
        if name == "test":
            return self.goals[:500]
        if name == "eval":
            return self.goals[500:1500]
        if name == "train":
            return self.goals[1500:]
        if name == "all":
            return self.goals
        raise ValueError(f"unknown WebShop split {name!r}; choose one of {', '.join(SPLITS)}")


# ---------------------------------------------------------------------------- generation
def all_categories() -> list[CategorySpec]:
    """The generator's 24 categories."""
    from agentrl.envs.webshop.vocab_home import CATEGORIES as HOME
    from agentrl.envs.webshop.vocab_personal import CATEGORIES as PERSONAL

    return [*PERSONAL, *HOME]


def _asin(rng: random.Random, taken: set[str]) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _title_case(phrase: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in phrase.split())


def _articles(text: str) -> str:
    """ "A Easy Clean ..." -> "An Easy Clean ..." (feature templates put the article before ``{attr}``)."""
    return re.sub(r"\b([Aa]) (?=[AEIOUaeiou])", r"\1n ", text)


def _price(rng: random.Random, low: float, high: float) -> float:
    cents = rng.choice((0.99, 0.95, 0.49, 0.0))
    return round(max(low, int(rng.uniform(low, high)) + cents), 2)


def _make_product(rng: random.Random, category: CategorySpec, kind: ProductTypeSpec, asin: str) -> Product:
    brand = rng.choice(kind["brands"])
    attributes = rng.sample(kind["attributes"], rng.randint(3, min(5, len(kind["attributes"]))))
    options = {
        name: sorted(rng.sample(values, rng.randint(min(2, len(values)), len(values))), key=values.index)
        for name, values in kind["options"].items()
        if rng.random() < 0.85
    }
    adjective = rng.choice(kind["adjectives"])
    in_title = attributes[: rng.randint(1, 2)]
    title = f"{brand} {_title_case(adjective)} {_title_case(kind['noun'])} - " + ", ".join(
        _title_case(a) for a in in_title
    )
    if options and rng.random() < 0.5:
        name = next(iter(options))
        title += f" ({len(options[name])} {_title_case(name)} Choices)"
    # Every attribute appears in the text too, as on a real listing.
    bullets = [
        _articles(template.format(attr=_title_case(attributes[i] if i < len(attributes) else rng.choice(attributes))))
        for i, template in enumerate(rng.sample(kind["features"], len(kind["features"])))
    ]
    sentences = rng.sample(kind["descriptions"], 3)
    description = _articles(
        " ".join(
            s.format(brand=brand, noun=kind["noun"], attr=attributes[i % len(attributes)])
            for i, s in enumerate(sentences)
        )
    )
    price = _price(rng, *kind["price"])
    picked = rng.sample(_REVIEW_TEXTS, rng.randint(0, 3))
    reviews: list[dict[str, Any]] = [{"score": score, "title": head, "body": body} for score, head, body in picked]
    rating = f"{sum(score for score, _, _ in picked) / len(picked):.1f}" if picked else "N.A."
    return Product(
        asin=asin,
        title=title,
        category=category["name"],
        query=kind["query"],
        product_category=f"{category['path']} › {kind['subcategory']}",
        description=description,
        bullets=bullets,
        price=price,
        price_tag=f"${price:.2f}",
        options=options,
        attributes=attributes,
        reviews=reviews,
        rating=rating,
    )


def _price_bound(rng: random.Random, price: float) -> float | None:
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return None
    return max(rng.sample(above, 2))


def _generated_goal(rng: random.Random, product: Product, noun: str) -> Goal:
    attributes = rng.sample(product.attributes, rng.randint(1, min(3, len(product.attributes))))
    chosen = {
        name: rng.choice(values)
        for name, values in product.options.items()
        if rng.random() < 0.8  # most goals name most of the product's options
    }
    text = f"{rng.choice(_INSTRUCTION_OPENERS)} {' and '.join(attributes)} {noun}"
    if chosen:
        text += " with " + ", and ".join(f"{name}: {value}" for name, value in chosen.items())
    bound = _price_bound(rng, product.price)
    if bound is not None:
        text += f", and price lower than {bound:.2f} dollars"
    return Goal(
        asin=product.asin,
        instruction=text,
        attributes=attributes,
        options=list(chosen.values()),
        price_upper=bound if bound is not None else NO_PRICE_BOUND,
        query=product.query,
        category=product.category,
        product_category=product.product_category,
        name=product.title,
    )


def generate_catalog(seed: int = 0, n_products: int = 1200, goals_per_product: int = 2) -> Catalog:
    """A seeded catalogue of ``n_products`` over the 24 categories, with its goals shuffled into splits.

    Product types take turns so that every type gets ``n_products / 96`` products (±1).
    """
    if n_products < 1 or goals_per_product < 1:
        raise ValueError(f"n_products and goals_per_product must be >= 1, got {n_products}, {goals_per_product}")
    rng = random.Random(seed)
    kinds = [(category, kind) for category in all_categories() for kind in category["types"]]
    taken: set[str] = set()
    products: dict[str, Product] = {}
    nouns: dict[str, str] = {}
    for i in range(n_products):
        category, kind = kinds[i % len(kinds)]
        product = _make_product(rng, category, kind, _asin(rng, taken))
        products[product.asin] = product
        nouns[product.asin] = kind["noun"]
    goals = [_generated_goal(rng, p, nouns[p.asin]) for p in products.values() for _ in range(goals_per_product)]
    random.Random(SPLIT_SEED + seed).shuffle(goals)
    return Catalog(products=products, goals=goals, source=f"generated:{seed}")


# ---------------------------------------------------------------------------- original files
def _pick(data_dir: Path, pattern: str) -> Path:
    found = sorted(data_dir.glob(pattern))
    if not found:
        raise FileNotFoundError(f"WebShop data_dir {data_dir} has no {pattern} (the original WebShop data files)")
    return found[0]


def _parse_pricing(raw: Any) -> list[float]:
    if not raw:
        return [100.0]
    if isinstance(raw, list):
        return [float(p) for p in raw[:2]]
    values = [re.sub(r"[^\d.]", "", part) for part in str(raw).split("$")[1:]]
    return [float(v) for v in values if v and v != "."][:2] or [100.0]


def _original_product(raw: dict[str, Any], rng: random.Random, attrs: dict[str, Any]) -> Product:
    pricing = _parse_pricing(raw.get("pricing"))
    tag = f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"
    price = pricing[0] if len(pricing) == 1 else round(rng.uniform(pricing[0], pricing[1]), 2)
    options: dict[str, list[str]] = {}
    for name, contents in (raw.get("customization_options") or {}).items():
        if contents:
            options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    bullets = raw.get("small_description") or []
    return Product(
        asin=raw["asin"],
        title=raw.get("name", ""),
        category=raw.get("category", ""),
        query=raw.get("query", ""),
        product_category=raw.get("product_category", ""),
        description=raw.get("full_description", "") or "",
        bullets=bullets if isinstance(bullets, list) else [bullets],
        price=price,
        price_tag=tag,
        options=options,
        attributes=list(attrs.get(raw["asin"], {}).get("attributes") or ["DUMMY_ATTR"]),
    )


def _original_goal(
    product: Product, instruction: str, attributes: list[str], options: Any, bound: float | None
) -> Goal:
    return Goal(
        asin=product.asin,
        instruction=instruction + (f", and price lower than {bound:.2f} dollars" if bound is not None else ""),
        attributes=attributes,
        options=dict(options) if isinstance(options, dict) else list(options),
        price_upper=bound if bound is not None else NO_PRICE_BOUND,
        query=product.query,
        category=product.category,
        product_category=product.product_category,
        name=product.title,
    )


def _human_goals(rng: random.Random, product: Product, entries: list[dict[str, Any]]) -> list[Goal]:
    """The original's ``get_human_goals`` for one product: one goal per crowd-written instruction that names
    attributes (the others are skipped, as there)."""
    goals = []
    for entry in entries:
        attributes = list(entry.get("instruction_attributes") or [])
        if not attributes:
            continue
        bound = _price_bound(rng, product.price)
        goals.append(
            _original_goal(
                product, entry["instruction"].strip("."), attributes, entry.get("instruction_options") or [], bound
            )
        )
    return goals


def _synthetic_goals(rng: random.Random, product: Product, entry: dict[str, Any]) -> list[Goal]:
    """The original's ``get_synthetic_goals`` for one product: its instruction once per combination of its
    option values (option names sorted), each goal's options a ``{name: value}`` mapping, one price bound."""
    if not entry.get("instruction") or not entry.get("instruction_attributes"):
        return []
    bound = _price_bound(rng, product.price)
    names = sorted(product.options)
    goals = []
    for combination in itertools.product(*(product.options[name] for name in names)):
        options = dict(zip(names, combination, strict=True))
        text = ", and ".join(f"{name}: {value}" for name, value in options.items())
        instruction = entry["instruction"] + (f" with {text}" if text else "")
        goals.append(_original_goal(product, instruction, list(entry["instruction_attributes"]), options, bound))
    return goals


def load_original(data_dir: str | Path, human_goals: bool = True, seed: int = 0) -> Catalog:
    """Products and goals from the original WebShop files in ``data_dir``.

    Args:
        data_dir: Holds ``items_shuffle*.json`` and ``items_ins_v2*.json`` (and ``items_human_ins.json``
            for human goals).
        human_goals: Crowd-written instructions (as in the published results) instead of the synthetic ones.
        seed: Seeds the purchase price of products priced as a range and each goal's price bound.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"WebShop data_dir {data_dir} is not a directory")
    rng = random.Random(seed)
    raw_products = json.loads(_pick(data_dir, "items_shuffle*.json").read_text())
    attrs = json.loads(_pick(data_dir, "items_ins_v2*.json").read_text())
    products: dict[str, Product] = {}
    for raw in raw_products:
        asin = raw.get("asin", "nan")
        if asin == "nan" or len(asin) > 10 or asin in products:
            continue
        products[asin] = _original_product(raw, rng, attrs)
    human = json.loads(_pick(data_dir, "items_human_ins.json").read_text()) if human_goals else {}
    goals: list[Goal] = []
    for asin, product in products.items():
        if human_goals:
            goals += _human_goals(rng, product, human.get(asin, []))
        else:
            goals += _synthetic_goals(rng, product, attrs.get(asin, {}))
    random.Random(SPLIT_SEED).shuffle(goals)
    logger.info("loaded %d products and %d goals from %s", len(products), len(goals), data_dir)
    return Catalog(products=products, goals=goals, source=str(data_dir))
