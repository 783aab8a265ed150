"""The generated catalogue and goals, their splits, and the loader for the original data files."""

from __future__ import annotations

import json

import pytest

from agentrl.envs.webshop.catalog import NO_PRICE_BOUND, PRICE_RANGE, generate_catalog, load_original


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(seed=0)


def test_size_and_categories(catalog):
    products = list(catalog.products.values())
    assert len(products) >= 1000
    assert len({p.category for p in products}) >= 20
    assert len({p.query for p in products}) == 96
    assert all(len(p.asin) == 10 and p.asin.startswith("B0") for p in products)
    for p in products:
        assert p.title and p.description and len(p.bullets) >= 5 and p.attributes and p.price > 0
        assert p.price_tag == f"${p.price:.2f}"
        assert " › " in p.product_category
        values = [v for vs in p.options.values() for v in vs]
        assert len(values) == len(set(values)), p.asin  # an option value names one option


def test_same_seed_same_catalogue():
    a, b = generate_catalog(seed=5, n_products=150), generate_catalog(seed=5, n_products=150)
    assert a.products == b.products and a.goals == b.goals
    assert generate_catalog(seed=6, n_products=150).products != a.products


def test_goals_are_satisfiable_by_their_product(catalog):
    for goal in catalog.goals:
        product = catalog.products[goal.asin]
        assert set(goal.attributes) <= set(product.attributes)
        assert set(goal.options) <= {v for vs in product.options.values() for v in vs}
        assert product.price <= goal.price_upper
        if goal.price_upper == NO_PRICE_BOUND:
            assert "price lower than" not in goal.instruction
        else:
            assert goal.price_upper in PRICE_RANGE
            assert goal.instruction.endswith(f", and price lower than {goal.price_upper:.2f} dollars")
        assert goal.instruction == goal.instruction.lower()


def test_splits(catalog):
    assert len(catalog.split("test")) == 500
    assert len(catalog.split("eval")) == 1000
    assert len(catalog.split("train")) == len(catalog.goals) - 1500
    assert catalog.split("all") == catalog.goals
    with pytest.raises(ValueError, match="unknown WebShop split"):
        catalog.split("dev")


def test_load_original_files(original_data_dir):
    tmp_path = original_data_dir
    catalog = load_original(tmp_path, seed=1)
    assert set(catalog.products) == {"B00ORIG001", "B00ORIG002"}
    first, second = catalog.products["B00ORIG001"], catalog.products["B00ORIG002"]
    assert first.options == {"scent": ["bright citrus"]} and first.price == 10.99 and first.price_tag == "$10.99"
    assert second.options == {"color": ["navy | white"]} and second.bullets == ["Soft"]
    assert second.price_tag == "$20.0 to $30.0" and 20.0 <= second.price <= 30.0
    (goal,) = catalog.goals
    assert goal.price_upper in (20.0, 30.0, 40.0, 50.0)  # two of the four bounds above $10.99, the larger
    assert goal.instruction == f"i need a bright citrus deodorant, and price lower than {goal.price_upper:.2f} dollars"
    assert goal.options == ["bright citrus"] and goal.name == first.title and goal.query == "deodorant"
    synthetic = load_original(tmp_path, human_goals=False)
    # The original's synthetic goals: the instruction once per combination of the product's option values.
    (made,) = synthetic.goals
    assert made.options == {"scent": "bright citrus"} and made.option_values == ["bright citrus"]
    assert made.instruction.startswith("i want an aluminum free deodorant with scent: bright citrus, and price lower")
    assert load_original(tmp_path, seed=1).goals == catalog.goals  # seeded


def test_load_original_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_original(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"items_shuffle\*\.json"):
        load_original(tmp_path)


def test_synthetic_goals_enumerate_every_option_combination_as_the_original(original_data_dir):
    products = json.loads((original_data_dir / "items_shuffle_1000.json").read_text())
    products[0]["customization_options"] = {
        "Size": [{"value": "Small"}, {"value": "Large"}],
        "Scent": [{"value": "Citrus"}, {"value": "Rose"}],
    }
    (original_data_dir / "items_shuffle_1000.json").write_text(json.dumps(products))
    goals = load_original(original_data_dir, human_goals=False).goals
    assert sorted(tuple(g.options.items()) for g in goals) == sorted(
        (("scent", scent), ("size", size)) for scent in ("citrus", "rose") for size in ("small", "large")
    )
    assert len({g.price_upper for g in goals}) == 1  # one bound per product, as the original draws it
    assert all(g.instruction.startswith("i want an aluminum free deodorant with scent: ") for g in goals)
