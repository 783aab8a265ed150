"""The openai backend against ``agentrl serve-model``: same ids and log-probs as in-process,
weight updates, chat, rollouts, and clear errors."""

from __future__ import annotations

import importlib.util

import httpx
import pytest

import agentrl
from agentrl.agents.backends import HFBackend, OpenAIBackend, OpenAIBackendError
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.models import build_tiny_model
from agentrl.trainer.rollout import RolloutConfig, collect


@pytest.fixture(scope="module")
def remote(tiny_model_server):
    url, _ = tiny_model_server
    _, tokenizer = build_tiny_model(0)
    backend = OpenAIBackend(url + "/v1", "tiny", tokenizer)
    yield backend
    backend.close()


def test_greedy_completions_match_the_in_process_model(remote, tiny):
    model, tokenizer = tiny
    prompts = [tokenizer("you see a red key")["input_ids"], tokenizer("turn left")["input_ids"]]
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    local = HFBackend(model, tokenizer).generate(prompts, params)
    served = remote.generate(prompts, params)
    for a, b in zip(local, served, strict=True):
        assert a.token_ids == b.token_ids and a.text == b.text
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) < 1e-4


def test_seeded_sampling_is_reproducible(remote, tiny):
    _, tokenizer = tiny
    prompts = [tokenizer("go forward")["input_ids"]] * 3
    params = SamplingParams(max_new_tokens=6, temperature=1.0, seed=11)
    first = [c.token_ids for c in remote.generate(prompts, params)]
    assert first == [c.token_ids for c in remote.generate(prompts, params)]


def test_chat_endpoint_returns_ids_and_logprobs(remote):
    out = remote.chat([{"role": "user", "content": "hello"}], SamplingParams(max_new_tokens=4, temperature=0.0))
    assert len(out.token_ids) == len(out.logprobs) == 4 and out.finish_reason == "length"


def test_rollout_through_the_server_keeps_token_ids(remote, tiny):
    _, tokenizer = tiny
    agent = LLMAgent(remote, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=5, seed=0)))
    trajectories = collect(lambda: agentrl.make("frozenlake"), agent, seeds=[0, 1], config=RolloutConfig(max_turns=3))
    for trajectory in trajectories:
        for before, after in zip(trajectory.turns, trajectory.turns[1:], strict=False):
            assert after.prompt_ids[: len(before.prompt_ids) + len(before.response_ids)] == (
                before.prompt_ids + before.response_ids
            )


def test_weight_update_changes_what_the_server_generates(tiny_model_server, tiny):
    url, _ = tiny_model_server
    _, tokenizer = tiny
    backend = OpenAIBackend(url + "/v1", "tiny", tokenizer)
    other, _ = build_tiny_model(7)
    prompts = [tokenizer("you see a wall")["input_ids"]]
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    version = backend.update_weights(other.state_dict())
    assert version >= 1 and httpx.get(url + "/health").json()["weight_version"] == version
    expected = HFBackend(other, tokenizer).generate(prompts, params)[0].token_ids
    assert backend.generate(prompts, params)[0].token_ids == expected
    original, _ = build_tiny_model(0)
    backend.update_weights(original.state_dict())  # restore for the other tests
    backend.close()


def test_bad_requests_and_unreachable_servers(remote, free_port):
    with pytest.raises(OpenAIBackendError, match="HTTP 400"):
        remote.generate([[1, 2]], SamplingParams(max_new_tokens=10**6))
    with pytest.raises(OpenAIBackendError, match="HTTP 400"):
        remote.update_weights({"not.a.tensor.of.this.model": build_tiny_model(0)[0].lm_head.weight})
    dead = OpenAIBackend(f"http://127.0.0.1:{free_port}/v1", "tiny", retries=1, timeout=2)
    with pytest.raises(OpenAIBackendError, match="cannot reach"):
        dead.generate([[1, 2]], SamplingParams(max_new_tokens=2))


def test_an_id_taking_server_is_confirmed_and_keeps_id_prompts(tiny_model_server, tiny):
    url, _ = tiny_model_server
    _, tokenizer = tiny
    backend = OpenAIBackend(url + "/v1", "tiny", tokenizer)
    assert backend.prompt_format == "auto"
    backend.generate([tokenizer("go")["input_ids"]], SamplingParams(max_new_tokens=2, temperature=0.0))
    assert backend.prompt_format == "ids" and backend.prompt_drift == 0
    backend.close()


def test_text_prompts_are_decoded_and_checked_for_drift(tiny_model_server, tiny):
    url, _ = tiny_model_server
    model, tokenizer = tiny
    backend = OpenAIBackend(url + "/v1", "tiny", tokenizer, prompt_format="text")
    exact = tokenizer("you see a red key")["input_ids"]
    params = SamplingParams(max_new_tokens=6, temperature=0.0)
    # agentrl's server takes text too and returns ids: the same completion as the id prompt.
    expected = HFBackend(model, tokenizer).generate([exact], params)[0].token_ids
    assert backend.generate([exact], params)[0].token_ids == expected
    assert backend.prompt_drift == 0
    # Ids that the tokenizer would not produce for their text (a word spelt letter by letter) are drift.
    spelt = tokenizer.convert_tokens_to_ids(list("you"))
    assert tokenizer(tokenizer.decode(spelt), add_special_tokens=False)["input_ids"] != spelt
    backend.generate([spelt], params)
    assert backend.prompt_drift == 1
    backend.close()


def test_backend_settings_are_checked(tiny):
    from agentrl.agents.backends import BackendConfig, make_backend
    from agentrl.agents.models import ModelConfig

    _, tokenizer = tiny
    with pytest.raises(ValueError, match="prompt_format"):
        OpenAIBackend("http://127.0.0.1:1/v1", "tiny", tokenizer, prompt_format="tokens")
    with pytest.raises(ValueError, match="local tokenizer"):
        OpenAIBackend("http://127.0.0.1:1/v1", "tiny", prompt_format="text")
    with pytest.raises(ValueError, match=r"backend\.url"):
        make_backend(BackendConfig(name="openai"), ModelConfig(name="tiny"), tokenizer)
    with pytest.raises(ValueError, match=r"backend\.name must be one of"):
        make_backend(BackendConfig(name="tgi"), ModelConfig(name="tiny"), tokenizer)
    with pytest.raises(ValueError, match="in-process model"):
        make_backend(BackendConfig(name="hf"), ModelConfig(name="tiny"), tokenizer)


def test_serve_model_refuses_a_server_backend(capsys):
    from agentrl.cli import main

    assert main(["serve-model", "model=tiny", "backend.name=openai"]) == 2
    assert "backend.name=hf or vllm" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_the_vllm_backend_without_vllm_is_a_clear_error(capsys):
    from agentrl.cli import main

    assert main(["eval", "env=guess", "model=tiny", "backend.name=vllm", "eval.episodes=1"]) == 2
    err = capsys.readouterr().err
    assert "backend.name=vllm needs vLLM" in err and "make vllm" in err  # says how to get it
