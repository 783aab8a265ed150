"""WebShop fixtures: a three-product shop whose pages the golden tests spell out."""

from __future__ import annotations

import json

import pytest

from agentrl.envs.webshop.catalog import Catalog, Goal, Product
from agentrl.envs.webshop.engine import Shop


def make_product(asin: str, title: str, **fields) -> Product:
    values = {
        "category": "beauty",
        "query": "deodorant for women",
        "product_category": "Beauty & Personal Care › Personal Care › Deodorants",
        "description": f"{title}. Keeps you fresh all day.",
        "bullets": ["Aluminum free formula", "Safe for sensitive skin"],
        "price": 10.99,
        "price_tag": "$10.99",
        "options": {},
        "attributes": ["aluminum free", "long lasting"],
    }
    values.update(fields)
    return Product(asin=asin, title=title, **values)


def make_goal(product: Product, **fields) -> Goal:
    values = {
        "asin": product.asin,
        "instruction": "i need a long lasting deodorant in bright citrus scent, and price lower than 20.00 dollars",
        "attributes": ["long lasting"],
        "options": ["bright citrus"],
        "price_upper": 20.0,
        "query": product.query,
        "category": product.category,
        "product_category": product.product_category,
        "name": product.title,
    }
    values.update(fields)
    return Goal(**values)


@pytest.fixture(name="make_product")
def make_product_fixture():
    return make_product


@pytest.fixture(name="make_goal")
def make_goal_fixture():
    return make_goal


@pytest.fixture(scope="session")
def tiny_shop() -> Shop:
    products = [
        make_product(
            "B000000001",
            "Citrusy Natural Deodorant for Women",
            options={"scent": ["bright citrus", "lavender"], "size": ["3 ounce", "6 ounce"]},
            reviews=[{"score": 5, "title": "Love it", "body": "Smells great."}],
            rating="5.0",
        ),
        make_product("B000000002", "Fresh Sport Deodorant Stick", price=4.5, price_tag="$4.50"),
        make_product(
            "B000000003",
            "Bamboo Toothbrush Set",
            query="bamboo toothbrush",
            product_category="Health & Household › Oral Care › Toothbrushes",
            description="Four soft toothbrushes.",
            bullets=["Biodegradable handle"],
            attributes=["biodegradable"],
        ),
    ]
    goal = make_goal(products[0])
    return Shop(Catalog(products={p.asin: p for p in products}, goals=[goal], source="test"))


@pytest.fixture
def original_data_dir(tmp_path):
    """A directory with three products in the original WebShop files' format."""
    products = [
        {
            "asin": "B00ORIG001",
            "name": "Earth Bright Citrus Deodorant",
            "full_description": "Natural deodorant.",
            "small_description": ["Aluminum free", "Baking soda free"],
            "pricing": "$10.99",
            "customization_options": {"Scent": [{"value": "Bright Citrus", "image": None}], "Size": None},
            "images": ["x.jpg"],
            "category": "beauty",
            "query": "deodorant",
            "product_category": "Beauty & Personal Care › Personal Care › Deodorants",
        },
        {
            "asin": "B00ORIG002",
            "name": "Cotton Sheet Set",
            "full_description": "Sheets.",
            "small_description": "Soft",
            "pricing": "$20.00 - $30.00",
            "customization_options": {"Color": [{"value": "Navy/White"}]},
            "images": [],
            "category": "garden",
            "query": "sheet set",
            "product_category": "Home & Kitchen › Bedding",
        },
        {"asin": "nan", "name": "skipped"},
    ]
    attrs = {
        "B00ORIG001": {
            "attributes": ["aluminum free"],
            "instruction": "i want an aluminum free deodorant",
            "instruction_attributes": ["aluminum free"],
            "instruction_options": {"scent": "bright citrus"},
        },
        "B00ORIG002": {"attributes": ["cotton"]},
    }
    human = {
        "B00ORIG001": [
            {
                "instruction": "i need a bright citrus deodorant.",
                "instruction_attributes": ["aluminum free"],
                "instruction_options": ["bright citrus"],
            }
        ]
    }
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(products))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps(attrs))
    (tmp_path / "items_human_ins.json").write_text(json.dumps(human))
    return tmp_path
