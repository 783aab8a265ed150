"""``agent.repair_invalid``: a reply whose action the env does not list is replaced by the listed action the model
scores highest, with that reply's tokens and log-probs (``HFBackend.score_replies``)."""

from __future__ import annotations

import pytest
import torch

from agentrl.agents.backends import HFBackend, reply_scorer
from agentrl.agents.base import EpisodeStart
from agentrl.agents.generation import Completion, SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent, listed

from .test_hf_backend import forward_logprobs


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("prefix_cache_mb", [0, 64])
def test_scored_replies_match_a_forward_pass_with_and_without_kept_states(tiny, temperature, prefix_cache_mb):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer, prefix_cache_mb=prefix_cache_mb, max_batch_size=2)  # 3 replies: 2 batches
    prompt = tokenizer("you see a wall 2 steps forward, a key to the left")["input_ids"]
    # A generation first, as on an agent's turn: its kept states then serve the prompt.
    backend.generate([prompt], SamplingParams(max_new_tokens=4, temperature=0.0))
    replies = [tokenizer(text)["input_ids"] for text in ("go left", "pick up the key now", "x")]
    scores = backend.score_replies(prompt, replies, temperature)
    assert [len(s) for s in scores] == [len(r) for r in replies]
    for reply, score in zip(replies, scores, strict=True):
        expected = forward_logprobs(model, prompt, reply, temperature)
        assert torch.allclose(expected, torch.tensor(score), atol=1e-4)
    if prefix_cache_mb:
        assert backend.prefix_cache.stats.reused_tokens > 0
    with pytest.raises(ValueError, match="at least one token"):
        backend.score_replies(prompt, [[]], 1.0)


def test_listed_actions_and_templates():
    actions = ["click[Buy Now]", "click[< Prev]", "search[<query>]", 'TYPE("<text>")']
    assert listed("click[buy  now]", actions)
    assert listed("search[red shoes under 30 dollars]", actions)
    assert listed('TYPE("hello")', actions)
    assert not listed("search[]", actions)
    assert not listed("click[Buy]", actions)
    assert not listed("click[Next >]", actions)
    assert not listed("", actions)


class _Fixed:
    """A backend that writes the same reply for every prompt."""

    def __init__(self, text: str, tokenizer):
        self.text, self.tokenizer = text, tokenizer
        self.eos_ids = {tokenizer.eos_token_id}
        self.weights_shared = True

    def generate(self, prompts, params):
        ids = self.tokenizer(self.text, add_special_tokens=False)["input_ids"]
        return [Completion(ids, [-1.0] * len(ids), self.text, "stop") for _ in prompts]


def _start(actions: list[str]) -> EpisodeStart:
    info = {"task": "buy a red shoe", "admissible_actions": actions}
    return EpisodeStart("agentrl/Test-v0", 0, "a product page", info)


def test_an_unlisted_reply_becomes_the_listed_action_the_model_scores_highest(tiny):
    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    actions = ["click[Buy Now]", "click[< Prev]", "click[red]", "search[<query>]"]
    config = AgentConfig(repair_invalid=True, show_actions=False, sampling=SamplingParams(temperature=0.0))
    agent = LLMAgent(_Fixed("<action>click[blue]</action>", tokenizer), tokenizer, config, scorer=backend.score_replies)
    conversation = agent.start_episode(_start(actions))
    step = agent.act([conversation])[0]
    concrete = actions[:3]
    replies = [agent.demonstrated_reply(a).token_ids for a in concrete]
    totals = [forward_logprobs(model, step.prompt_ids, r, 0.0).sum().item() for r in replies]
    best = max(range(3), key=totals.__getitem__)
    assert step.action == concrete[best]
    assert step.repaired_from == "<action>click[blue]</action>"
    assert step.completion.token_ids == replies[best]
    expected = forward_logprobs(model, step.prompt_ids, replies[best], 0.0)
    assert torch.allclose(expected, torch.tensor(step.completion.logprobs), atol=1e-4)

    # A listed action, or one filling a listed template, is played as written.
    for text in ("<action>click[RED]</action>", "<action>search[red shoe]</action>"):
        agent = LLMAgent(_Fixed(text, tokenizer), tokenizer, config, scorer=backend.score_replies)
        step = agent.act([agent.start_episode(_start(actions))])[0]
        assert step.repaired_from is None and step.completion.text == text


def test_sampled_repairs_follow_the_models_distribution_over_the_listed_replies(tiny):
    _, tokenizer = tiny
    calls = []

    def scorer(prompt, replies, temperature):
        calls.append(temperature)
        # The second listed reply is 3 nats likelier than the first (p = 0.047 against 0.953), the third impossible.
        return [[-4.0] + [0.0] * (len(replies[0]) - 1), [-1.0] + [0.0] * (len(replies[1]) - 1), [-1e9]]

    config = AgentConfig(repair_invalid=True, sampling=SamplingParams(temperature=1.0, seed=3))
    agent = LLMAgent(_Fixed("nonsense", tokenizer), tokenizer, config, scorer=scorer)
    picks = [agent.act([agent.start_episode(_start(["a", "b", "c"]))])[0].action for _ in range(200)]
    assert calls == [1.0] * 200 and "c" not in picks
    assert 2 <= picks.count("a") <= 25  # 9.5 expected of 200
    again = LLMAgent(_Fixed("nonsense", tokenizer), tokenizer, config, scorer=scorer)
    assert picks == [again.act([again.start_episode(_start(["a", "b", "c"]))])[0].action for _ in range(200)]


def test_repair_needs_a_model_in_this_process(tiny):
    _, tokenizer = tiny
    backend = _Fixed("x", tokenizer)
    with pytest.raises(ValueError, match=r"backend\.name=hf"):
        LLMAgent(backend, tokenizer, AgentConfig(repair_invalid=True))
    with pytest.raises(ValueError, match=r"backend\.name=hf"):
        reply_scorer(backend)
    assert reply_scorer(backend, wanted=False) is None


def test_nothing_is_repaired_where_the_env_lists_no_actions_or_only_templates(tiny):
    _, tokenizer = tiny

    def scorer(prompt, replies, temperature):
        raise AssertionError("nothing to score")

    config = AgentConfig(repair_invalid=True)
    agent = LLMAgent(_Fixed("garbage", tokenizer), tokenizer, config, scorer=scorer)
    for actions in ([], ["search[<query>]"]):
        assert agent.act([agent.start_episode(_start(actions))])[0].repaired_from is None
