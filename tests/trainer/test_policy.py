"""The policy's log-probs: the LM head runs from the first response column on, with equal results."""

from __future__ import annotations

import copy

import pytest
import torch

from agentrl.trainer.batch import TokenBatch
from agentrl.trainer.core_algos import entropy_from_logits, logprobs_from_logits
from agentrl.trainer.policy import Policy, PolicyConfig, response_start


def _batch(lengths: list[tuple[int, int]], vocab: int) -> TokenBatch:
    """Right-padded rows of (prompt, response) lengths with random ids."""
    generator = torch.Generator().manual_seed(0)
    width = max(p + r for p, r in lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    attention = torch.zeros_like(ids)
    response = torch.zeros(len(lengths), width - 1)
    for row, (prompt, reply) in enumerate(lengths):
        ids[row, : prompt + reply] = torch.randint(3, vocab, (prompt + reply,), generator=generator)
        attention[row, : prompt + reply] = 1
        response[row, prompt - 1 : prompt + reply - 1] = 1
    return TokenBatch(ids, attention, response)


def _full(model: torch.nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
    return logprobs_from_logits(logits, batch.input_ids[:, 1:]), entropy_from_logits(logits)


@pytest.mark.parametrize("lora", [False, True])
def test_response_only_logits_equal_the_full_forward(tiny, lora: bool) -> None:
    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model), PolicyConfig(lora=lora), reference=True)
    batch = _batch([(30, 5), (12, 9), (41, 3)], len(tokenizer))
    assert response_start(batch) == 11
    mask = batch.response_mask.bool()
    with torch.no_grad():
        out = policy.forward_batch(batch)
        logprobs, entropy = _full(policy.model, batch)
    assert out.logprobs.shape == batch.response_mask.shape
    torch.testing.assert_close(out.logprobs[mask], logprobs[mask])
    torch.testing.assert_close(out.entropy[mask], entropy[mask])
    assert (out.logprobs[:, :11] == 0).all()
    torch.testing.assert_close(policy.reference_logprobs(batch)[mask], logprobs[mask])


def test_response_only_logits_carry_the_gradient(tiny) -> None:
    model, tokenizer = tiny
    batch = _batch([(20, 4), (8, 6)], len(tokenizer))
    mask = batch.response_mask
    grads = []
    for response_only in (True, False):
        policy = Policy(copy.deepcopy(model))
        if response_only:
            loss = -(policy.forward_batch(batch).logprobs * mask).sum()
        else:
            loss = -(_full(policy.model, batch)[0] * mask).sum()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for _, p in policy.trainable_named_parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_train_top_layers_freezes_the_rest(tiny) -> None:
    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=1))
    names = [name for name, _ in policy.trainable_named_parameters()]
    assert names and all(".layers.1." in n or "norm" in n for n in names)
    assert not any("embed" in n or "lm_head" in n or ".layers.0." in n for n in names)
    batch = _batch([(10, 4)], len(tokenizer))
    (-(policy.forward_batch(batch).logprobs * batch.response_mask).sum()).backward()
    assert all(p.grad is not None for _, p in policy.trainable_named_parameters())
    # more blocks than the model has: all of them train
    everything = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=8))
    assert any(".layers.0." in n for n, _ in everything.trainable_named_parameters())
    with pytest.raises(ValueError, match="at least 1"):
        Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=-1))


def test_bf16_mixed_precision_runs_the_products_in_bfloat16_and_keeps_float32_weights(tiny) -> None:
    model, tokenizer = tiny
    batch = _batch([(30, 5), (12, 9)], len(tokenizer))
    mask = batch.response_mask
    seen: dict[str, set[torch.dtype]] = {}
    out: dict[str, torch.Tensor] = {}
    for precision in ("no", "bf16"):
        policy = Policy(copy.deepcopy(model), PolicyConfig(mixed_precision=precision), reference=True)
        linear = next(m for m in policy.model.modules() if isinstance(m, torch.nn.Linear))
        seen[precision] = set()
        linear.register_forward_hook(lambda _m, _i, output, s=seen[precision]: s.add(output.dtype))
        logprobs = policy.forward_batch(batch).logprobs
        out[precision] = logprobs
        assert logprobs.dtype == torch.float32
        (-(logprobs * mask).sum()).backward()
        assert all(p.dtype == torch.float32 for p in policy.parameters())
        assert all(p.grad is not None and p.grad.dtype == torch.float32 for _, p in policy.trainable_named_parameters())
        torch.testing.assert_close(policy.reference_logprobs(batch) * mask, logprobs.detach() * mask)
    assert seen == {"no": {torch.float32}, "bf16": {torch.bfloat16}}
    # bfloat16 keeps ~3 significant digits: the log-probs move a little and no more
    gap = ((out["bf16"] - out["no"]).abs() * mask).max()
    assert 0 < gap < 0.1
    with pytest.raises(ValueError, match=r"policy\.mixed_precision must be one of no, bf16, auto"):
        Policy(copy.deepcopy(model), PolicyConfig(mixed_precision="fp16"))


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "precision", "why"),
    [
        (False, False, "no", "cpu has no native bfloat16"),
        (False, True, "bf16", "a CPU with AVX-512 BF16"),
        (True, False, "bf16", "a CPU with AMX"),
    ],
)
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_natively(
    tiny, monkeypatch, amx, avx512_bf16, precision, why
) -> None:
    """``policy.mixed_precision=auto`` follows the CPU's own bfloat16 support (emulated bf16 runs slower than float32),
    and the policy's passes then run in what it resolved to."""
    model, tokenizer = tiny
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    policy = Policy(copy.deepcopy(model), PolicyConfig(mixed_precision="auto"))
    assert policy.precision == precision and why in policy.precision_reason
    linear = next(m for m in policy.model.modules() if isinstance(m, torch.nn.Linear))
    seen: set[torch.dtype] = set()
    linear.register_forward_hook(lambda _m, _i, output: seen.add(output.dtype))
    policy.forward_batch(_batch([(8, 4)], len(tokenizer)))
    assert seen == {torch.bfloat16 if precision == "bf16" else torch.float32}
    # an explicit choice is never second-guessed
    assert Policy(copy.deepcopy(model), PolicyConfig(mixed_precision="no")).precision == "no"


@pytest.mark.parametrize("checkpointing", [False, True])
def test_training_passes_run_without_cudnn_attention_recomputation_included(tiny, checkpointing: bool) -> None:
    """A batch's shape is seldom one seen before, and cuDNN's attention plans every new shape (docs/training.md,
    One GPU): every attention forward of a training pass runs with it off, the blocks recomputed in the backward
    pass under gradient checkpointing too, with the same gradients."""
    model, tokenizer = tiny
    batch = _batch([(20, 4), (8, 6)], len(tokenizer))
    seen: list[bool] = []
    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
    try:
        grads = []
        for recompute in (False, checkpointing):
            policy = Policy(copy.deepcopy(model), PolicyConfig(gradient_checkpointing=recompute))
            policy.model.train()
            record = lambda *_: seen.append(torch.backends.cuda.cudnn_sdp_enabled())  # noqa: E731
            hooks = [layer.self_attn.register_forward_pre_hook(record) for layer in policy.model.model.layers]
            seen.clear()
            (-(policy.forward_batch(batch).logprobs * batch.response_mask).sum()).backward()
            for hook in hooks:
                hook.remove()
            layers = len(policy.model.model.layers)
            assert seen == [False] * (2 * layers if recompute else layers)  # recomputed: every block ran twice
            grads.append([p.grad for p in policy.model.parameters() if p.grad is not None])
        assert torch.backends.cuda.cudnn_sdp_enabled()
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b)
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
