"""The shop's search engine: BM25 over the catalogue, top 50, as the original's Lucene index.

The original indexes each product as its title, description, first bullet point and
options (``"size: small, large, and color: red"``), lower-cased, in Pyserini (Lucene
BM25, k1 = 0.9, b = 0.4, English stop words, Porter stemming). This index is the same
text in bm25s with Lucene's BM25 variant, the same parameters, bm25s's English stop
words and the Snowball English stemmer (PyStemmer).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from agentrl.envs.webshop.catalog import Product

logger = logging.getLogger(__name__)

TOP_K = 50
"""Results a search returns (the original's ``k``)."""


def product_document(product: Product) -> str:
    """The text a product is indexed by."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product.options.items())
    first_bullet = product.bullets[0] if product.bullets else ""
    return " ".join([product.title, product.description, first_bullet, option_text]).lower()


def _bm25s() -> tuple[Any, Any]:
    try:
        import bm25s
        import Stemmer
    except ImportError as err:
        raise ImportError("WebShop's search needs bm25s and PyStemmer: pip install 'agentrl[webshop]'") from err
    # bm25s sets its own logger to DEBUG on import, which would print index-building chatter.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s, Stemmer.Stemmer("english")


class SearchEngine:
    """BM25 over a fixed set of products; :meth:`search` returns ASINs, best first.

    Args:
        products: The catalogue.
        k1: BM25 term-frequency saturation (Lucene's default in Pyserini, 0.9).
        b: BM25 length normalisation (0.4).
    """

    def __init__(self, products: list[Product], k1: float = 0.9, b: float = 0.4):
        bm25s, self._stemmer = _bm25s()
        self._asins = [p.asin for p in products]
        if not self._asins:
            raise ValueError("the WebShop search engine needs at least one product")
        self._tokenize = functools.partial(
            bm25s.tokenize, stopwords="en", stemmer=self._stemmer.stemWords, show_progress=False
        )
        self._index = bm25s.BM25(method="lucene", k1=k1, b=b)
        self._index.index(self._tokenize([product_document(p) for p in products]), show_progress=False)
        self._cache: dict[tuple[str, int], tuple[str, ...]] = {}

    def search(self, query: str, k: int = TOP_K) -> tuple[str, ...]:
        """ASINs of the top ``k`` products for ``query`` with a positive score, best first (cached)."""
        key = (query.lower(), k)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= 4096:
                self._cache.clear()
            hit = self._cache[key] = self._search(*key)
        return hit

    def _search(self, query: str, k: int) -> tuple[str, ...]:
        tokens = self._tokenize([query.lower()], return_ids=False)
        if not tokens or not tokens[0]:
            return ()
        k = min(k, len(self._asins))
        ids, scores = self._index.retrieve([tokens[0]], k=k, show_progress=False, n_threads=1)
        return tuple(self._asins[int(i)] for i, s in zip(ids[0], scores[0], strict=True) if s > 0)
