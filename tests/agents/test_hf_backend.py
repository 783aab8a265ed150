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
