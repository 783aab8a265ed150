"""The trainable policy: a causal LM, optionally LoRA-wrapped, with an optional value head.

The rollout backend and the trainer share the model object when both run in one
process, so an optimiser step is visible to the next rollout with no copy. Log-probs
are computed from ``logits / temperature`` — the distribution the rollout sampled
from — so that ratios against the rollout's log-probs start at exactly 1.

The reference policy (for KL penalties) is the adapter-free base model under LoRA,
and a frozen copy of the initial weights under full fine-tuning (made only when a KL
coefficient asks for it).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from agentrl.agents.models import attention_kernels, native_bf16
from agentrl.agents.types import Turn
from agentrl.trainer.batch import TokenBatch
from agentrl.trainer.core_algos import entropy_from_logits, logprobs_from_logits

log = logging.getLogger(__name__)

# policy.mixed_precision: the autocast dtype of each choice (None: no autocast); ``auto`` resolves to one of them.
MIXED_PRECISION: dict[str, torch.dtype | None] = {"no": None, "bf16": torch.bfloat16}
PRECISION_CHOICES = ("no", "bf16", "auto")


def resolve_precision(choice: str, device: torch.device) -> tuple[str, str]:
    """The precision ``policy.mixed_precision=choice`` runs in on ``device`` and why: ``auto`` is ``bf16`` where the
    device computes bfloat16 natively (:func:`native_bf16`) and ``no`` (float32) elsewhere."""
    if choice not in PRECISION_CHOICES:
        raise ValueError(f"policy.mixed_precision must be one of {', '.join(PRECISION_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return choice, "set by policy.mixed_precision"
    hardware = native_bf16(device)
    if hardware is None:
        return "no", f"policy.mixed_precision=auto: float32, {device.type} has no native bfloat16"
    return "bf16", f"policy.mixed_precision=auto: bf16 autocast on {hardware}"


@dataclass
class PolicyConfig:
    """How the policy model is trained."""

    lora: bool = False
    """Train LoRA adapters (peft) instead of every weight."""
    lora_rank: int = 8
    """LoRA rank r."""
    lora_alpha: int = 16
    """LoRA scaling alpha."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA path."""
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names that get adapters (Llama-style attention projections by default)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, more time)."""
    train_top_layers: int = 0
    """Train only the top N transformer blocks and the final norm (the embeddings, LM head and lower blocks stay
    frozen, so the backward pass stops N blocks down: SmolLM2 has 30; 0: train every weight). With LoRA, only the
    adapters of those blocks train."""
    mixed_precision: str = "no"
    """``bf16``: the training passes (log-probs, the loss's forward and backward, the frozen blocks' output) run their
    matrix products in bfloat16 under ``torch.autocast``, while the weights, gradients and optimiser state stay
    float32; on a CPU with AVX-512 BF16 or AMX, and on recent GPUs, a step takes much less time
    (``benchmarks/sft_cache.py --mixed-precision bf16`` measures it). ``no``: float32 throughout. ``auto``: ``bf16``
    where the device computes bfloat16 natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU that supports it), ``no``
    elsewhere (emulated bfloat16 is slower than float32); the run says and records which. Sampling (rollouts) is
    unaffected."""


@dataclass
class Forward:
    """Label-aligned ``[B, L-1]`` outputs of one forward pass."""

    logprobs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor | None = None
    greedy: torch.Tensor | None = None
    """1 where the label is the most likely next token, else 0: the tokens greedy decoding would write, given the
    labels before them (only when asked for: ``forward_batch(greedy=True)``)."""


class Policy(nn.Module):
    """A causal LM to train, with an optional scalar value head on its last hidden state.

    Args:
        model: A ``transformers`` causal LM (already on its device).
        config: LoRA and memory settings.
        value_head: Add a token-level value head (PPO).
        reference: Keep a reference policy for KL penalties.
    """

    def __init__(
        self, model: Any, config: PolicyConfig | None = None, *, value_head: bool = False, reference: bool = False
    ):
        super().__init__()
        self.config = config or PolicyConfig()
        self._reference: Any = None
        if self.config.lora:
            try:
                from peft import LoraConfig, get_peft_model
            except ImportError as err:  # peft is a core dependency; a broken install says so
                raise ImportError("LoRA needs peft: pip install peft") from err
            lora = LoraConfig(
                r=self.config.lora_rank,
                lora_alpha=self.config.lora_alpha,
                lora_dropout=self.config.lora_dropout,
                target_modules=list(self.config.lora_target_modules),
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
        self.precision, self.precision_reason = resolve_precision(
            self.config.mixed_precision, next(model.parameters()).device
        )
        """The precision the training passes run in (``no`` or ``bf16``; ``auto`` resolved for this device), and why."""
        if self.config.train_top_layers:
            freeze_below(model, self.config.train_top_layers)
        if reference and not self.config.lora:
            self._reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.model = model
        self.use_reference = reference
        if self.config.gradient_checkpointing:
            # The blocks' recomputation in the backward pass runs outside training_pass: it gets the same kernels.
            recompute = {"use_reentrant": False, "context_fn": lambda: (contextlib.nullcontext(), attention_kernels())}
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=recompute)
        hidden = int(model.config.hidden_size)
        self.value_head = nn.Linear(hidden, 1) if value_head else None
        if self.value_head is not None:
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)
            self.value_head.to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def sharded(self) -> bool:
        """Whether the weights are sharded over the ranks (``train.strategy=fsdp``): every pass is then a
        collective, which all ranks must run as often (:func:`~agentrl.trainer.sharded.lockstep`)."""
        from agentrl.trainer.sharded import is_sharded

        return any(is_sharded(p) for p in self.model.parameters())

    @contextlib.contextmanager
    def training_pass(self) -> Iterator[None]:
        """The context of every training pass: its precision (``policy.mixed_precision``) and its attention kernels
        (:func:`~agentrl.agents.models.attention_kernels`: a batch is as long as its longest row, so its shape is
        seldom one seen before, and cuDNN's attention would plan each new one)."""
        dtype = MIXED_PRECISION[self.precision]
        precision = contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)
        with attention_kernels(), precision:
            yield

    def trainable_named_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """The parameters an optimiser should update (adapters only under LoRA)."""
        for name, parameter in self.named_parameters():
            if parameter.requires_grad and not name.startswith("_reference"):
                yield name, parameter

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trainable weights, detached on CPU (what a checkpoint needs)."""
        return {name: p.detach().cpu().clone() for name, p in self.trainable_named_parameters()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        expected = {name for name, _ in self.trainable_named_parameters()}
        missing = expected - set(state)
        if missing:
            raise ValueError(f"checkpoint lacks {len(missing)} trainable tensors, e.g. {sorted(missing)[:3]}")
        with torch.no_grad():
            for name, parameter in self.trainable_named_parameters():
                parameter.copy_(state[name].to(parameter.device, parameter.dtype))

    def forward_batch(
        self,
        batch: TokenBatch,
        temperature: float = 1.0,
        *,
        values: bool = False,
        value_grad: bool = True,
        lower: torch.Tensor | None = None,
        greedy: bool = False,
    ) -> Forward:
        """Log-probs and entropies of every next token (and values), label-aligned.

        ``value_grad=False`` trains the value head alone: its loss does not reach the LM.
        ``lower``: the batch's :meth:`lower_hidden` (from an earlier pass); only the blocks above the frozen
        ones then run. ``greedy=True`` also marks the labels that are the most likely token (``Forward.greedy``).
        """
        batch = batch.to(self.device)
        start = response_start(batch)
        with self.training_pass():
            if lower is None:
                out = _causal_lm(self.model, batch, start, output_hidden_states=values)
            else:
                with _upper_blocks_only(self.model, self.frozen_blocks()):
                    out = _causal_lm(self.model, batch, start, inputs_embeds=lower, output_hidden_states=values)
        logits = out.logits[:, -(batch.input_ids.shape[1] - start) : -1].float()
        if temperature > 0:
            logits = logits / temperature
        labels = batch.input_ids[:, start + 1 :]
        value = None
        if values:
            if self.value_head is None:
                raise ValueError("this policy has no value head (value_head=True builds one)")
            hidden = out.hidden_states[-1][:, :-1].float()
            value = self.value_head(hidden if value_grad else hidden.detach()).squeeze(-1)
        logprobs = _left_pad(logprobs_from_logits(logits, labels), start)
        entropy = _left_pad(entropy_from_logits(logits), start)
        marks = _left_pad((logits.detach().argmax(-1) == labels).to(logprobs.dtype), start) if greedy else None
        return Forward(logprobs, entropy, value, marks)

    def frozen_blocks(self) -> int:
        """How many of the lowest transformer blocks hold no trainable weight, the embeddings frozen too (0 when
        the embeddings train, or every block does, or none does): their output depends on the token ids alone, so a
        supervised pass can compute it once per turn (:meth:`lower_hidden`) and reuse it."""
        if any(p.requires_grad for p in self.model.get_input_embeddings().parameters()):
            return 0
        blocks = decoder_layers(self.model)
        frozen = 0
        for block in blocks:
            if any(p.requires_grad for p in block.parameters()):
                break
            frozen += 1
        return frozen if frozen < len(blocks) else 0

    def lower_hidden(self, batch: TokenBatch, *, track: bool = False) -> torch.Tensor:
        """``[B, L, H]``: what the frozen lower blocks (:meth:`frozen_blocks`) hand to the first trainable one.

        ``track=True`` runs with autograd on, so the result requires grad exactly when some trainable weight
        outside the blocks (a learned position embedding) feeds it, and then it is no cacheable constant.

        Raises:
            ValueError: when no lower block is frozen.
        """
        frozen = self.frozen_blocks()
        if not frozen:
            raise ValueError("no lower transformer block is frozen (policy.train_top_layers freezes them)")
        batch = batch.to(self.device)
        with self.training_pass():
            return block_output(self.model, batch.input_ids, batch.attention_mask, frozen, track=track)

    @torch.no_grad()
    def reference_logprobs(self, batch: TokenBatch, temperature: float = 1.0) -> torch.Tensor:
        """Log-probs under the reference policy (the starting weights)."""
        if not self.use_reference:
            raise ValueError("this policy keeps no reference (reference=True keeps one)")
        batch = batch.to(self.device)
        if self.config.lora:
            context: Any = self.model.disable_adapter()
            model = self.model
        else:
            context, model = contextlib.nullcontext(), self._reference
        start = response_start(batch)
        with context, self.training_pass():
            logits = _causal_lm(model, batch, start).logits
        logits = logits[:, -(batch.input_ids.shape[1] - start) : -1].float()
        if temperature > 0:
            logits = logits / temperature
        return _left_pad(logprobs_from_logits(logits, batch.input_ids[:, start + 1 :]), start)

    def merged_state_dict(self) -> dict[str, torch.Tensor]:
        """The full model's weights with any LoRA adapters merged in (for rollout servers)."""
        if self.config.lora:
            merged = copy.deepcopy(self.model).merge_and_unload()
            return {k: v.detach().cpu() for k, v in merged.state_dict().items()}
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}


class LowerCache:
    """The output of the policy's frozen lower blocks (:meth:`Policy.frozen_blocks`) per turn, kept from its first
    pass so that later passes run only the blocks above.

    With ``policy.train_top_layers`` the embeddings and lower blocks are frozen, so their output for a turn depends
    on its token ids alone. Supervised epochs (the warm-up, ``algo=sft``, filtered BC) and the policy-gradient
    update's passes (old log-probs, then each epoch's loss) see the same turns again: only the first pass runs them
    (SmolLM2 with the top 8 of 30 blocks trained: a later pass does about a third of a full forward). The first
    cached pass is checked against the full forward, and the cache switches itself off, with a warning, for a model
    on which the two differ (one that adds position embeddings to ``inputs_embeds``, like GPT-2).

    Args:
        policy: The policy being trained (its frozen blocks must stay frozen while the cache lives).
        max_mb: Memory for the cached states; turns beyond it are not cached.
    """

    def __init__(self, policy: Policy, max_mb: int):
        self.policy = policy
        self.max_bytes = max(0, max_mb) * 2**20
        self.used = 0
        self.enabled = self.max_bytes > 0 and policy.frozen_blocks() > 0
        self.checked = False
        self._store: dict[int, tuple[Turn, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        """Forget every turn and free their memory (the self-check's verdict is kept)."""
        self._store.clear()
        self.used = 0

    def lower(self, turns: Sequence[Turn], batch: TokenBatch) -> torch.Tensor | None:
        """``batch``'s lower-block output (``[B, L, H]``, rows padded with zeros), from the cache where every turn is
        in it, else computed now and kept; None when the cache is off."""
        if not self.enabled:
            return None
        batch = batch.to(self.policy.device)
        if not all(id(turn) in self._store for turn in turns):
            hidden = self.policy.lower_hidden(batch)
            if not self.checked and not self._agrees(batch, hidden):
                return None
            for row, turn in enumerate(turns):
                length = len(turn.prompt_ids) + len(turn.response_ids)
                size = length * hidden.shape[-1] * hidden.element_size()
                if id(turn) not in self._store and self.used + size <= self.max_bytes:
                    self._store[id(turn)] = (turn, hidden[row, :length].clone())
                    self.used += size
            return hidden
        rows = [self._store[id(turn)][1] for turn in turns]
        hidden = rows[0].new_zeros((len(rows), batch.input_ids.shape[1], rows[0].shape[-1]))
        for row, states in enumerate(rows):
            hidden[row, : states.shape[0]] = states
        return hidden

    def _agrees(self, batch: TokenBatch, hidden: torch.Tensor) -> bool:
        """Whether running the upper blocks on ``hidden`` gives the full forward's log-probs (else the cache goes
        off: the model treats ``inputs_embeds`` otherwise than the blocks' output)."""
        self.checked = True
        if self.policy.lower_hidden(batch, track=True).requires_grad:
            why = "a trainable weight outside the transformer blocks feeds the frozen ones"
        else:
            with torch.no_grad():
                full = self.policy.forward_batch(batch, 1.0).logprobs
                split = self.policy.forward_batch(batch, 1.0, lower=hidden).logprobs
            gap = float(((full - split).abs() * batch.response_mask).max()) if batch.response_mask.any() else 0.0
            if gap <= 1e-3:
                return True
            why = f"running the upper blocks on the lower blocks' output is {gap:.2g} off in log-prob"
        self.enabled = False
        log.warning(
            "the frozen-block cache is off: %s (lower_cache_mb=0 silences this: train.warmup.update, algo.update or "
            "algo.pg)",
            why,
        )
        return False


def response_start(batch: TokenBatch) -> int:
    """The first label-aligned column holding a response token (0 when none does).

    Log-probs are only ever read under the response mask, so the LM head (``[B, L, V]``
    logits: 49k columns for SmolLM2) runs from this column on, not over whole prompts;
    on WebShop turns (~800 prompt tokens, ~15 reply tokens) that makes a training step
    about 2.5x faster.
    """
    columns = batch.response_mask.any(dim=0).nonzero()
    return int(columns[0]) if len(columns) else 0


def block_output(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, blocks: int, *, track: bool = False
) -> torch.Tensor:
    """``[B, L, H]``: the output of a causal LM's first ``blocks`` transformer blocks (the blocks above never run).

    The one forward path to intermediate hidden states: :meth:`Policy.lower_hidden` (the frozen-block cache) and
    Digi-Q's frozen features (:mod:`agentrl.trainer.digiq.features`) both read them here.

    Args:
        model: A ``transformers`` causal LM.
        input_ids, attention_mask: ``[B, L]`` on the model's device.
        blocks: How many blocks run, 1..number of blocks.
        track: Run with autograd on (else the result is detached).
    """
    layers = decoder_layers(model)
    if not 1 <= blocks <= len(layers):
        raise ValueError(f"blocks must be in 1..{len(layers)} (the model's transformer blocks), got {blocks}")
    captured: list[torch.Tensor] = []

    def stop(_module: nn.Module, _args: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _LowerDone

    handle = layers[blocks - 1].register_forward_hook(stop)
    try:
        with torch.set_grad_enabled(track):
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _LowerDone:
        pass
    finally:
        handle.remove()
    return captured[0] if track else captured[0].detach()


class _LowerDone(Exception):
    """Raised by :meth:`Policy.lower_hidden`'s hook: the blocks above need not run."""


@contextlib.contextmanager
def _upper_blocks_only(model: Any, frozen: int) -> Iterator[None]:
    """Run ``model`` with its blocks ``frozen..`` only, fed the lower blocks' output as ``inputs_embeds``."""
    blocks = decoder_layers(model)
    owner = next(m for m in model.modules() if any(child is blocks for child in m.children()))
    name = next(n for n, child in owner.named_children() if child is blocks)
    setattr(owner, name, nn.ModuleList(list(blocks)[frozen:]))
    try:
        yield
    finally:
        setattr(owner, name, blocks)


def _causal_lm(model: Any, batch: TokenBatch, start: int, **kwargs: Any) -> Any:
    """The model's output with logits for positions ``start..L-1`` only (all of them if it cannot); given
    ``inputs_embeds``, those instead of the token ids."""
    ids = {} if "inputs_embeds" in kwargs else {"input_ids": batch.input_ids}
    inputs = {**ids, "attention_mask": batch.attention_mask, "use_cache": False, **kwargs}
    try:
        return model(**inputs, logits_to_keep=int(batch.input_ids.shape[1] - start))
    except TypeError as err:  # a model class without ``logits_to_keep``: every position's logits
        if "logits_to_keep" not in str(err):
            raise
        return model(**inputs)


def _left_pad(values: torch.Tensor, start: int) -> torch.Tensor:
    """``[B, L-1-start]`` label-aligned values back to ``[B, L-1]``, zeros before ``start``."""
    return torch.nn.functional.pad(values, (start, 0)) if start else values


def decoder_layers(model: Any) -> nn.ModuleList:
    """The transformer blocks of a causal LM (``model.layers`` of Llama-style, ``transformer.h`` of GPT-2-style)."""
    for module in model.modules():
        for name in ("layers", "h"):
            blocks = getattr(module, name, None)
            if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
                return blocks
    raise ValueError(f"cannot find the transformer blocks of {type(model).__name__}: train_top_layers needs them")


def freeze_below(model: Any, top: int) -> None:
    """Freeze every weight but those of the top ``top`` blocks (all of them when the model has fewer) and the
    modules after them (the final norm)."""
    blocks = decoder_layers(model)
    if top < 1:
        raise ValueError(f"policy.train_top_layers must be at least 1 (0: train every weight), got {top}")
    top = min(top, len(blocks))  # a model with fewer blocks trains them all
    trainable = {id(p) for block in blocks[len(blocks) - top :] for p in block.parameters() if p.requires_grad}
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    output = model.get_output_embeddings()
    embeddings |= {id(p) for p in output.parameters()} if output is not None else set()
    in_blocks = {id(p) for p in blocks.parameters()}
    for parameter in model.parameters():
        after = id(parameter) not in in_blocks and id(parameter) not in embeddings  # the final norm
        if not (id(parameter) in trainable or (after and parameter.requires_grad)):
            parameter.requires_grad_(False)
