"""The ``hf`` backend: batched generation with transformers, in-process, CPU or GPU.

Prompts arrive as token ids and are left-padded into one batch; completions come
back as the generated ids (cut after the end-of-turn token or a stop string) with the
log-probability of each token under the sampling distribution (logits divided by
the temperature), which is what a policy-gradient ratio needs.

Multi-turn episodes do not recompute their history: the key/value states of each
prompt and reply are kept in a :class:`~agentrl.agents.backends.prefix_cache.PrefixCache`
(``prefix_cache_mb``), and the next turn's prompt, which starts with them, computes only
its new tokens. A batch is laid out exactly as without the cache (left-padded to the
longest prompt); the kept states fill its first columns, as far as every row has them.
A prompt that several rows of one batch share (a group's first turn, ArCHer's samples of
one replayed state) is computed once, before the batch, and fills those rows the same way.

With ``dtype`` (``backend.dtype=bfloat16``) it generates with its own copy of the weights
in that dtype, refreshed from the model it was given whenever that model's weights
changed (the trainer's in-place optimiser steps bump their version counters), much as a
trainer in float32 pushes its weights to a bfloat16 inference engine: on hardware with
native bfloat16 generation takes much less time (``benchmarks/rollout.py --dtype``), and
the sampled log-probs are the copy's (the trainer computes its own before an update).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from agentrl.agents.backends.prefix_cache import Entry, PrefixCache, prefilled_cache, row_entry
from agentrl.agents.generation import Completion, SamplingParams
from agentrl.agents.models import attention_kernels, load_weights


class HFBackend:
    """Generate with a ``transformers`` causal LM.

    Args:
        model: A causal LM (``AutoModelForCausalLM``), already on its device.
        tokenizer: Its tokenizer (decodes completions; supplies pad and end tokens).
        max_batch_size: Split larger batches into chunks of this many prompts.
        prefix_cache_mb: Memory for the key/value states kept between turns (0: recompute every prompt whole).
        dtype: Generate with a copy of ``model``'s weights in this torch dtype, refreshed whenever ``model``'s weights
            change (``None``, or the model's own dtype: generate with ``model`` itself).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 64,
        prefix_cache_mb: int = 1024,
        dtype: torch.dtype | None = None,
    ):
        self.source = model
        """The model whose weights are generated with (the trainer's, shared)."""
        own = next(model.parameters()).dtype
        self.model = model if dtype is None or dtype == own else cast_copy(model, dtype)
        """What generates: ``source`` itself, or its copy in ``dtype``."""
        self._source_weights = self._weights_of_source() if self.model is not model else ()
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        eos = model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos]
        if tokenizer.eos_token_id is not None:
            eos_ids.append(tokenizer.eos_token_id)
        self.eos_ids = {int(i) for i in eos_ids if i is not None}
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids))
        self.weights_shared = True
        """The trainer updates this very model object in place: no weight pushes are needed."""
        self._weight_version = 0
        self.prefix_cache = PrefixCache(prefix_cache_mb * 2**20)
        """Kept key/value states of earlier prompts and replies (emptied whenever the weights change)."""
        self._cache_argument = cache_argument(model)
        self._last_logits_only = "logits_to_keep" in forward_arguments(model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def update_weights(self, state_dict: Mapping[str, Any]) -> int:
        """Load ``state_dict`` into the model (the trainer never needs to: it shares the model, ``weights_shared``)."""
        load_weights(self.source, state_dict)
        self._weight_version += 1
        return self._weight_version

    def stats(self) -> dict[str, float]:
        """``prefix_cache/reused_share``: the share of prompt tokens whose states were kept from earlier turns."""
        cache = self.prefix_cache.stats
        if not cache.prompt_tokens:
            return {}
        return {"prefix_cache/reused_share": cache.reused_tokens / cache.prompt_tokens}

    def close(self) -> None:
        """Nothing to release: the model belongs to the caller."""

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """Complete every prompt; see :class:`~agentrl.agents.generation.GenerationBackend`."""
        if params.seed is not None:
            torch.manual_seed(params.seed)
        self._refresh_copy()
        out: list[Completion] = []
        with attention_kernels():
            for start in range(0, len(prompts), self.max_batch_size):
                out.extend(self._generate_batch(prompts[start : start + self.max_batch_size], params))
        return out

    @torch.no_grad()
    def score_replies(
        self, prompt: Sequence[int], replies: Sequence[Sequence[int]], temperature: float = 1.0
    ) -> list[list[float]]:
        """The log-probability of each token of each reply written after ``prompt``, under the distribution
        :meth:`generate` samples at ``temperature`` (0: the raw logits, as greedy generation records them).

        The prompt's states come from the turn's generation when the prefix cache holds them (else the prompt is
        computed with each batch), and the replies go through in batches of ``max_batch_size``.
        """
        if not prompt:
            raise ValueError("a prompt needs at least one token")
        rows = [list(reply) for reply in replies]
        if any(not reply for reply in rows):
            raise ValueError("every reply to score needs at least one token")
        if not rows:
            return []
        self._refresh_copy()
        entry, kept = None, 0
        if self.prefix_cache.max_bytes > 0:
            self.prefix_cache.check_weights(self.model)
            entry, kept = self.prefix_cache.lookup(prompt)
        fed = list(prompt[kept:])  # at least the last prompt token, whose logits score each reply's first token
        out: list[list[float]] = []
        with attention_kernels():
            for start in range(0, len(rows), self.max_batch_size):
                out += self._score_batch(fed, entry, kept, rows[start : start + self.max_batch_size], temperature)
        return out

    def _score_batch(
        self, fed: list[int], entry: Entry | None, kept: int, rows: list[list[int]], temperature: float
    ) -> list[list[float]]:
        """Log-probs of ``rows`` after a prompt whose first ``kept`` tokens' states are ``entry``'s and whose other
        tokens, ``fed``, go through with each row (right-padded, so every row's positions are its own)."""
        width = len(fed) + max(len(reply) for reply in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), kept + width), dtype=torch.long)
        for row, reply in enumerate(rows):
            tokens = fed + reply
            input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            attention[row, : kept + len(tokens)] = 1
        kwargs: dict[str, Any] = {"use_cache": kept > 0}
        first = len(fed) - 1  # the position whose logits predict every reply's first token
        if self._last_logits_only:
            kwargs["logits_to_keep"] = width - first
        if kept:
            kwargs[self._cache_argument] = prefilled_cache(self.model, [(entry, kept)] * len(rows), kept)
        logits = self.model(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
        ).logits.float()
        logits = logits[:, -(width - first) : -1].cpu()  # from ``first`` on, each position predicting a reply token
        targets = torch.full(logits.shape[:2], self.pad_id, dtype=torch.long)
        for row, reply in enumerate(rows):
            targets[row, : len(reply)] = torch.tensor(reply, dtype=torch.long)
        logprobs = sampled_logprobs(logits, targets, temperature)
        return [logprobs[row, : len(reply)].tolist() for row, reply in enumerate(rows)]

    @torch.no_grad()
    def _refresh_copy(self) -> None:
        """Copy ``source``'s weights into the generating copy if any changed since the last copy (in-place updates
        bump a tensor's version counter; a replaced tensor has another address). The copy's own version counters
        move with it, so the prefix cache then drops states the old weights computed."""
        if self.model is self.source:
            return
        weights = self._weights_of_source()
        if weights == self._source_weights:
            return
        for source, target in zip(self.source.parameters(), self.model.parameters(), strict=True):
            target.copy_(source)
        self._source_weights = weights

    def _weights_of_source(self) -> tuple[tuple[int, int], ...]:
        return tuple((p.data_ptr(), p._version) for p in self.source.parameters())

    @torch.no_grad()
    def _generate_batch(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            attention[row, width - len(prompt) :] = 1
        greedy = params.temperature <= 0
        caching = self.prefix_cache.max_bytes > 0
        found: list[tuple[Entry | None, int]] = []
        if caching:
            self.prefix_cache.check_weights(self.model)
            found = self._share_repeated_prompts(prompts, [self.prefix_cache.lookup(p) for p in prompts])
        # Every row feeds its last `fed` tokens (the row with the least kept states sets it); the columns before
        # come from the cache, which then holds each row's first len(prompt) - fed tokens.
        cache = None
        if caching:
            fed = max(len(p) - n for p, (_, n) in zip(prompts, found, strict=True))
            rows = [(entry, max(0, len(p) - fed)) for p, (entry, _) in zip(prompts, found, strict=True)]
            cache = prefilled_cache(self.model, rows, width - fed)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": not greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids),
            "output_logits": True,
            "return_dict_in_generate": True,
        }
        if not greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if cache is not None:
            kwargs[self._cache_argument] = cache
        result = self.model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
        )
        new_tokens = result.sequences[:, width:].cpu()
        logprobs = sampled_logprobs(torch.stack(result.logits, dim=1).float().cpu(), new_tokens, params.temperature)
        out = [self._finish(new_tokens[row].tolist(), logprobs[row].tolist(), params) for row in range(len(prompts))]
        if cache is not None:
            # The last generated token was never fed, so its states do not exist.
            computed = cache.get_seq_length() - width
            for row, (prompt, completion) in enumerate(zip(prompts, out, strict=True)):
                ids = [*prompt, *completion.token_ids[:computed]]
                self.prefix_cache.store(row_entry(cache, row, width - len(prompt), ids))
        return out

    def _share_repeated_prompts(
        self, prompts: Sequence[Sequence[int]], found: list[tuple[Entry | None, int]]
    ) -> list[tuple[Entry | None, int]]:
        """Compute a prompt that several rows of the batch share once, before the batch: its states (all but the
        last token, which every row feeds) then fill each of those rows as kept states would, so the batch feeds one
        token per such row instead of each copy computing the whole prompt (a group's first turn, ArCHer's samples
        of one replayed state). Each distinct prompt goes through alone (no padding), from its own kept states."""
        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, prompt in enumerate(prompts):
            rows_of.setdefault(tuple(prompt), []).append(row)
        out = list(found)
        for prompt, rows in rows_of.items():
            entry, n = found[rows[0]]
            if len(rows) < 2 or n >= len(prompt) - 1:
                continue
            cache = prefilled_cache(self.model, [(entry, n)], n) if n else None
            ids = torch.tensor([prompt[n:-1]], dtype=torch.long, device=self.device)
            kwargs: dict[str, Any] = {"use_cache": True}
            if self._last_logits_only:  # only states are wanted: no vocabulary projection of every position
                kwargs["logits_to_keep"] = 1
            if cache is not None:
                kwargs[self._cache_argument] = cache
            states = getattr(self.model(input_ids=ids, **kwargs), self._cache_argument)  # named as the argument
            shared = row_entry(states, 0, 0, prompt[:-1])
            for row in rows:
                out[row] = (shared, len(prompt) - 1)
            self.prefix_cache.stats.reused_tokens += (len(prompt) - 1 - n) * (len(rows) - 1)  # every copy but one
        return out

    def _finish(self, ids: list[int], logprobs: list[float], params: SamplingParams) -> Completion:
        end = next((i + 1 for i, token in enumerate(ids) if token in self.eos_ids), None)
        reason = "stop" if end is not None else "length"
        if end is not None:
            ids, logprobs = ids[:end], logprobs[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for stop in params.stop:
            cut = text.find(stop)
            if cut < 0:
                continue
            # Keep the shortest token prefix whose text reaches past the stop string.
            for n in range(1, len(ids) + 1):
                if self.tokenizer.decode(ids[:n], skip_special_tokens=True).find(stop) >= 0:
                    ids, logprobs, reason = ids[:n], logprobs[:n], "stop"
                    text = self.tokenizer.decode(ids, skip_special_tokens=True)
                    break
        return Completion(token_ids=ids, logprobs=logprobs, text=text, finish_reason=reason)


def sampled_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """The log-probability of each of ``tokens`` under the distribution sampled at ``temperature`` from ``logits``
    (``[..., vocab]``; at 0 or below, greedy decoding: the raw logits)."""
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def cast_copy(model: Any, dtype: torch.dtype) -> Any:
    """A copy of ``model`` for generating only (eval mode, no gradients) whose parameters are in ``dtype``: each
    parameter is cast straight into the copy (no full-precision copy is made, no gradient copied), tied weights stay
    tied (one parameter, cast once), and buffers keep their dtype (rotary frequencies stay float32, as a model loaded
    in bfloat16 computes them)."""
    cast = {id(p): torch.nn.Parameter(p.detach().to(dtype), requires_grad=False) for p in model.parameters()}
    return copy.deepcopy(model, memo=cast).eval()


def forward_arguments(model: Any) -> set[str]:
    """The arguments the transformers model's ``forward`` names (read from the model itself: a LoRA wrapper's
    ``forward`` takes ``**kwargs``)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(base.forward).parameters)


def cache_argument(model: Any) -> str:
    """The name under which ``model.generate`` takes a prefilled KV cache: ``cache`` in recent transformers,
    ``past_key_values`` before (vLLM's virtualenv pins one of those)."""
    return "cache" if "cache" in forward_arguments(model) else "past_key_values"
