"""The hf backend returns the ids it generated with the log-probs of the sampling distribution."""

from __future__ import annotations

import pytest
import torch

from agentrl.agents.backends import HFBackend
from agentrl.agents.generation import GenerationBackend, SamplingParams


def forward_logprobs(model, prompt: list[int], response: list[int], temperature: float) -> torch.Tensor:
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0].float()
    logits = logits[len(prompt) - 1 : -1]
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response).unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0])
def test_logprobs_match_a_forward_pass_for_every_row_of_a_padded_batch(tiny, temperature):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    assert isinstance(backend, GenerationBackend)
    prompts = [tokenizer("you see a wall 2 steps forward")["input_ids"], tokenizer("go")["input_ids"]]
    completions = backend.generate(prompts, SamplingParams(max_new_tokens=10, temperature=temperature, seed=1))
    for prompt, completion in zip(prompts, completions, strict=True):
        assert completion.token_ids and len(completion.logprobs) == len(completion.token_ids)
        expected = forward_logprobs(model, prompt, completion.token_ids, temperature)
        assert torch.allclose(expected, torch.tensor(completion.logprobs), atol=1e-4)


def test_same_seed_same_samples_and_greedy_batch_equals_single(tiny):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    prompts = [tokenizer("turn left")["input_ids"], tokenizer("the red key is 3 steps left")["input_ids"]]
    params = SamplingParams(max_new_tokens=8, temperature=1.0, seed=7)
    first = [c.token_ids for c in backend.generate(prompts, params)]
    assert first == [c.token_ids for c in backend.generate(prompts, params)]
    greedy = SamplingParams(max_new_tokens=8, temperature=0.0)
    batched = [c.token_ids for c in backend.generate(prompts, greedy)]
    single = [backend.generate([p], greedy)[0].token_ids for p in prompts]
    assert batched == single


def test_stop_strings_and_length(tiny):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    prompt = tokenizer("you")["input_ids"]
    free = backend.generate([prompt], SamplingParams(max_new_tokens=12, temperature=0.0))[0]
    assert free.finish_reason == "length" and len(free.token_ids) == 12
    stop = free.text.strip()[:2]
    cut = backend.generate([prompt], SamplingParams(max_new_tokens=12, temperature=0.0, stop=[stop]))[0]
    assert cut.finish_reason == "stop" and stop in cut.text and len(cut.token_ids) <= len(free.token_ids)
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]


def test_empty_prompt_is_a_clear_error(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="at least one token"):
        HFBackend(model, tokenizer).generate([[]], SamplingParams())


def test_a_bfloat16_copy_generates_and_follows_every_change_of_the_trained_weights(tiny):
    """``dtype``: the backend generates with its own bfloat16 copy, the trainer's model stays float32 (gradients
    kept), and an in-place optimiser step on the trainer's model reaches the copy before the next generation (and
    drops the attention states the old weights computed), while unchanged weights are not copied again."""
    import copy

    source, tokenizer = copy.deepcopy(tiny[0]), tiny[1]
    source.requires_grad_(True)
    source(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    backend = HFBackend(source, tokenizer, dtype=torch.bfloat16)
    assert backend.model is not source and backend.source is source
    assert {p.dtype for p in backend.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in source.parameters()} == {torch.float32}
    assert all(p.grad is not None for p in source.parameters())  # the trainer's gradients survive the copy
    assert all(not p.requires_grad for p in backend.model.parameters()) and not backend.model.training
    buffers = {name: b.dtype for name, b in source.named_buffers()}
    assert {name: b.dtype for name, b in backend.model.named_buffers()} == buffers  # rotary stays float32
    prompt = tokenizer("you see a wall 2 steps forward")["input_ids"]
    greedy = SamplingParams(max_new_tokens=8, temperature=0.0)
    first = backend.generate([prompt], greedy)[0]
    expected = forward_logprobs(backend.model, prompt, first.token_ids, 0.0)
    assert torch.allclose(expected, torch.tensor(first.logprobs), atol=0.05)
    # the same weights, the next turn: nothing is copied and the kept states are reused
    versions = [p._version for p in backend.model.parameters()]
    backend.generate([prompt + first.token_ids + prompt], greedy)
    assert [p._version for p in backend.model.parameters()] == versions
    assert backend.stats()["prefix_cache/reused_share"] > 0
    # an optimiser step on the trainer's model, in place
    optimizer = torch.optim.SGD(source.parameters(), lr=1.0)
    optimizer.step()
    backend.generate([prompt], greedy)
    for mine, theirs in zip(backend.model.parameters(), source.parameters(), strict=True):
        assert torch.equal(mine, theirs.detach().to(torch.bfloat16))
    assert backend.prefix_cache.stats.resets == 1
    # pushed weights (a backend whose model the trainer does not share) land in the trainer-side model and the copy
    state = {name: torch.zeros_like(p) for name, p in source.named_parameters()}
    backend.update_weights(state)
    backend.generate([prompt], greedy)
    assert all(not p.any() for p in backend.model.parameters())


def test_backend_dtype_setting(tiny, monkeypatch):
    """``backend.dtype``: empty generates with the model itself, a dtype with a copy, ``auto`` with a bfloat16 copy only
    where the device computes bfloat16 natively; a server backend refuses it."""
    import agentrl.agents.backends as backends
    from agentrl.agents.backends import BackendConfig, make_backend
    from agentrl.agents.models import ModelConfig

    model, tokenizer = tiny
    make = lambda dtype: make_backend(BackendConfig(dtype=dtype), ModelConfig(name="tiny"), tokenizer, model)  # noqa: E731
    assert make("").model is model and make("float32").model is model
    assert next(make("bfloat16").model.parameters()).dtype == torch.bfloat16
    monkeypatch.setattr(backends, "native_bf16", lambda device: None)
    assert make("auto").model is model
    monkeypatch.setattr(backends, "native_bf16", lambda device: "a CPU with AVX-512 BF16")
    assert next(make("auto").model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"backend\.dtype must be one of float32, bfloat16, float16"):
        make("fp8")
    server = BackendConfig(name="openai", url="http://127.0.0.1:9/v1", dtype="bfloat16")
    with pytest.raises(ValueError, match=r"backend\.dtype is the in-process hf backend's"):
        make_backend(server, ModelConfig(name="tiny"), tokenizer)


def test_generation_and_scoring_run_without_cudnn_attention_and_restore_the_flags(tiny):
    """Generation's shapes change at every step, and cuDNN's attention plans each new shape before it runs
    (docs/training.md, One GPU): every forward of generate and score_replies runs with it off, and the caller's
    settings are back afterwards."""
    model, tokenizer = tiny
    seen: list[tuple[bool, bool]] = []
    hook = model.register_forward_pre_hook(
        lambda *_: seen.append((torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled()))
    )
    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
    try:
        backend = HFBackend(model, tokenizer)
        prompt = tokenizer("you see a wall")["input_ids"]
        backend.generate([prompt, prompt, tokenizer("go")["input_ids"]], SamplingParams(max_new_tokens=4, seed=0))
        generated = len(seen)
        backend.score_replies(prompt, [tokenizer("go")["input_ids"], tokenizer("turn left")["input_ids"]])
        assert generated >= 4 and len(seen) > generated
        assert seen == [(False, True)] * len(seen)
        assert torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        hook.remove()
        torch.backends.cuda.enable_cudnn_sdp(before)
