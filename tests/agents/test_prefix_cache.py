"""The hf backend's kept attention states: multi-turn generation that computes only each turn's new tokens must
give what recomputing every prompt whole gives (greedy ids equal, log-probs within 1e-4), whatever the prompts."""

from __future__ import annotations

import copy

import torch

import agentrl
from agentrl.agents.backends import HFBackend
from agentrl.agents.backends.hf import cache_argument
from agentrl.agents.backends.prefix_cache import PrefixCache
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.trainer.rollout import RolloutConfig, collect

TOLERANCE = 1e-4
"""Log-probs with and without the kept states: the same float32 sums in another order (measured ~5e-7)."""


def _random(n: int, generator: torch.Generator) -> list[int]:
    return torch.randint(5, 300, (n,), generator=generator).tolist()


def _same(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.token_ids == y.token_ids
        assert max((abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)), default=0.0) <= TOLERANCE


def test_multi_turn_prompts_reuse_the_history_and_match_the_no_reuse_path(tiny):
    model, tokenizer = tiny
    plain, cached = HFBackend(model, tokenizer, prefix_cache_mb=0), HFBackend(model, tokenizer)
    generator = torch.Generator().manual_seed(0)
    prompts = [_random(n, generator) for n in (20, 35, 11)]
    for params in (SamplingParams(max_new_tokens=8, temperature=0), SamplingParams(max_new_tokens=8, seed=3)):
        cached.prefix_cache.clear()
        turns = prompts
        for _ in range(4):
            expected, got = plain.generate(turns, params), cached.generate(turns, params)
            _same(expected, got)
            # The next prompt: this one, the reply, and a new observation of another length per row.
            pairs = enumerate(zip(turns, got, strict=True))
            turns = [p + c.token_ids + _random(5 + 3 * i, generator) for i, (p, c) in pairs]
    stats = cached.prefix_cache.stats
    assert stats.reused_tokens / stats.prompt_tokens > 0.5  # most prompt tokens came from kept states
    assert len(cached.prefix_cache) == 3  # one entry per episode: each turn's entry replaced the one it extends
    assert plain.prefix_cache.stats.prompt_tokens == 0 and plain.stats() == {}


def test_a_lora_model_reuses_kept_states_too(tiny):
    # A LoRA wrapper's forward takes **kwargs: the kept states must still reach the transformers model under the
    # name it takes, and change nothing.
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny
    lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).eval()
    assert cache_argument(lora) == cache_argument(model)  # read from the wrapped model, not the wrapper's **kwargs
    plain, cached = HFBackend(lora, tokenizer, prefix_cache_mb=0), HFBackend(lora, tokenizer)
    params = SamplingParams(max_new_tokens=6, temperature=0)
    turns = [_random(n, torch.Generator().manual_seed(1)) for n in (14, 9)]
    for _ in range(3):
        got = cached.generate(turns, params)
        _same(plain.generate(turns, params), got)
        turns = [p + c.token_ids + [7, 8, 9] for p, c in zip(turns, got, strict=True)]
    assert cached.prefix_cache.stats.reused_tokens > 0


def test_prompts_that_do_not_extend_a_kept_one_reuse_what_they_share_or_nothing(tiny):
    model, tokenizer = tiny
    plain, cached = HFBackend(model, tokenizer, prefix_cache_mb=0), HFBackend(model, tokenizer)
    generator = torch.Generator().manual_seed(1)
    head, old, new = _random(12, generator), _random(30, generator), _random(9, generator)
    params = SamplingParams(max_new_tokens=6, temperature=0)
    first = cached.generate([head + old], params)
    # A history window that dropped its oldest turn: only the head is shared; a new episode shares nothing.
    prompts = [head + old[10:] + first[0].token_ids + new, _random(25, generator)]
    _same(plain.generate(prompts, params), cached.generate(prompts, params))
    assert cached.prefix_cache.stats.reused_tokens == len(head)


def test_kept_states_are_dropped_when_the_weights_change(tiny):
    model, tokenizer = copy.deepcopy(tiny[0]), tiny[1]  # its own copy: this test changes the weights
    plain, cached = HFBackend(model, tokenizer, prefix_cache_mb=0), HFBackend(model, tokenizer)
    prompt = _random(40, torch.Generator().manual_seed(2))
    params = SamplingParams(max_new_tokens=6, temperature=0)
    before = cached.generate([prompt], params)[0]
    with torch.no_grad():  # an optimiser step on the shared model, in place
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    prompt = prompt + before.token_ids + [7, 8, 9]
    _same(plain.generate([prompt], params), cached.generate([prompt], params))
    assert cached.prefix_cache.stats.resets == 1 and cached.prefix_cache.stats.reused_tokens == 0


def test_the_cache_stays_within_its_bound_least_recently_used_first(tiny):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    generator = torch.Generator().manual_seed(3)
    params = SamplingParams(max_new_tokens=4, temperature=0)
    backend.generate([_random(50, generator)], params)
    one = backend.prefix_cache.used_bytes
    backend.prefix_cache = PrefixCache(int(one * 2.5))
    prompts = [_random(50, generator) for _ in range(4)]
    for prompt in prompts:
        backend.generate([prompt], params)
        assert backend.prefix_cache.used_bytes <= backend.prefix_cache.max_bytes
    assert len(backend.prefix_cache) == 2
    backend.prefix_cache.lookup(prompts[0] + [5])
    assert backend.prefix_cache.stats.reused_tokens == 0  # the oldest went first
    backend.prefix_cache.lookup(prompts[3] + [5])
    assert backend.prefix_cache.stats.reused_tokens == 50


def test_an_episode_played_with_kept_states_is_the_episode_played_without(tiny):
    model, tokenizer = tiny

    def play(mb: int):
        backend = HFBackend(model, tokenizer, prefix_cache_mb=mb)
        agent = LLMAgent(backend, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=12, seed=0)))
        config = RolloutConfig(num_envs=3, max_turns=4)
        return collect(lambda: agentrl.make("sokoban"), agent, [0, 1, 2], config), backend

    (expected, _), (got, backend) = play(0), play(64)
    assert [len(t.turns) for t in got] == [len(t.turns) for t in expected] and len(got[0].turns) > 1
    for a, b in zip(expected, got, strict=True):
        for x, y in zip(a.turns, b.turns, strict=True):
            assert x.prompt_ids == y.prompt_ids and x.response_ids == y.response_ids
            assert max(abs(p - q) for p, q in zip(x.response_logprobs, y.response_logprobs, strict=True)) <= TOLERANCE
    assert backend.stats()["prefix_cache/reused_share"] > 0.3


def test_a_history_window_dropping_turns_in_blocks_keeps_prompts_growing_between_drops(tiny):
    from agentrl.agents.prompting import Conversation, chat_pieces

    tokenizer = tiny[1]
    conversation = Conversation(tokenizer, "play", chat_pieces(tokenizer), history=4, history_drop=2)
    conversation.observe("start")
    prompts, kept = [], []
    for turn in range(9):
        prompts.append(conversation.prompt_ids())
        kept.append(len(conversation._window()))
        conversation.reply(tokenizer(f"<action>go {turn}</action>", add_special_tokens=False)["input_ids"])
        conversation.observe(f"you moved {turn}")
    assert kept == [0, 1, 2, 3, 4, 3, 4, 3, 4]  # between history - history_drop + 1 and history turns
    grows = [prompts[t + 1][: len(prompts[t])] == prompts[t] for t in range(8)]
    assert grows == [True, True, True, True, False, True, False, True]  # the window moved at turns 5 and 7


def test_a_prompt_repeated_in_a_batch_is_computed_once_and_changes_nothing(tiny):
    # A group's first turn or ArCHer's samples of one replayed state: the copies share the prompt's states (computed
    # once, from the kept states where there are some) and sample as if each had computed it.
    model, tokenizer = tiny
    plain, cached = HFBackend(model, tokenizer, prefix_cache_mb=0), HFBackend(model, tokenizer)
    generator = torch.Generator().manual_seed(4)
    a, b, c = _random(30, generator), _random(17, generator), _random(22, generator)
    cached.generate([a[:20]], SamplingParams(max_new_tokens=3, temperature=0))  # a's first 20 tokens are kept
    before = cached.prefix_cache.stats.reused_tokens
    prompts = [a, b, a, c, a, b]
    for params in (SamplingParams(max_new_tokens=8, temperature=0), SamplingParams(max_new_tokens=8, seed=5)):
        _same(plain.generate(prompts, params), cached.generate(prompts, params))
    sampled = cached.generate(prompts, SamplingParams(max_new_tokens=8, seed=6))
    assert len({tuple(sampled[i].token_ids) for i in (0, 2, 4)}) > 1  # the copies are sampled independently
    # Each copy but the first reuses all but its last token (and the first of the batch reuses what was kept).
    assert cached.prefix_cache.stats.reused_tokens - before >= 2 * (2 * 29 + 16)
