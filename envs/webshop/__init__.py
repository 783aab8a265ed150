"""WebShop: a faithful re-implementation of the WebShop benchmark (Yao et al., 2022).

An online shop whose products and goals the project generates (the original's data
cannot be downloaded here; :func:`~agentrl.envs.webshop.catalog.load_original` reads it
when a user has it), with the original's pages, action grammar, text observations, BM25
search and reward. ``agentrl/WebShop-v1`` is the text env; the same site is served over
HTTP by :mod:`~agentrl.envs.webshop.app` and driven in Chromium by
``agentrl/WebShop-Browser-v1`` (:mod:`~agentrl.envs.webshop.browser`).

Needs the ``webshop`` extra (bm25s, PyStemmer, spaCy and its English model);
the browser env also needs the ``web`` extra (Playwright) and Chromium.
"""
