"""The shape of the word lists the WebShop catalogue generator draws from.

The generator (:mod:`agentrl.envs.webshop.catalog`) builds products from
:data:`CATEGORIES`: each category names its breadcrumb and its product types, and each
product type gives the words a product of that type is made of. The lists themselves
live in :mod:`~agentrl.envs.webshop.vocab_personal` and
:mod:`~agentrl.envs.webshop.vocab_home`.
"""

from __future__ import annotations

from typing import TypedDict


class ProductTypeSpec(TypedDict):
    """One kind of product (``"deodorant"``) and the words its listings are made of."""

    noun: str
    """The head noun phrase, lower case, as it appears in titles ("deodorant", "hair dryer")."""
    query: str
    """The shopper's search query for this type, lower case ("deodorant for women")."""
    subcategory: str
    """The breadcrumb below the category, joined by " › " ("Personal Care › Deodorants")."""
    brands: list[str]
    """At least six invented brand names (capitalised, not real trademarks)."""
    adjectives: list[str]
    """Title words that describe without being attributes ("classic", "premium")."""
    attributes: list[str]
    """At least eight lower-case attribute phrases a goal may ask for ("long lasting", "alcohol free")."""
    options: dict[str, list[str]]
    """Customisation options: name -> at least three values ("size": ["3 ounce", "6 ounce", ...])."""
    features: list[str]
    """At least five feature bullet sentences; ``{attr}`` is replaced by one of the product's attributes."""
    descriptions: list[str]
    """At least four description sentences; ``{brand}``, ``{noun}`` and ``{attr}`` are filled in."""
    price: tuple[float, float]
    """Typical price range in dollars (low, high)."""


class CategorySpec(TypedDict):
    """A top-level catalogue category and its product types."""

    name: str
    """Short lower-case name ("beauty")."""
    path: str
    """The top of the breadcrumb ("Beauty & Personal Care")."""
    types: list[ProductTypeSpec]
    """At least four product types with distinct head nouns."""
