"""Env pools: worker processes and threads give the same episodes as inline; failures are named."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

import agentrl
from agentrl.agents.backends import HFBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.trainer.env_pool import EnvPoolError, SubprocessEnvPool, make_pool
from agentrl.trainer.rollout import RolloutConfig, collect


def rollout(tiny, executor: str):
    model, tokenizer = tiny
    agent = LLMAgent(
        HFBackend(model, tokenizer), tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=4, seed=0))
    )
    config = RolloutConfig(num_envs=3, group_size=2, max_turns=4, executor=executor)
    return collect(lambda: agentrl.make("sokoban"), agent, seeds=[0, 1, 2], config=config)


@pytest.mark.parametrize("executor", ["subprocess", "thread"])
def test_executors_reproduce_inline_episodes(tiny, executor):
    inline = [t.to_dict() for t in rollout(tiny, "inline")]
    assert [t.to_dict() for t in rollout(tiny, executor)] == inline


def test_subprocess_pool_reports_errors_and_dead_workers():
    pool = SubprocessEnvPool(lambda: agentrl.make("frozenlake"), 2)
    try:
        assert pool.spec_id == "agentrl/FrozenLake-v0"
        pool.reset(0, 1)
        pool.reset(1, 2)
        assert len(pool.step_many([(0, "down"), (1, "jump")])) == 2
        with pytest.raises(EnvPoolError, match="failed"):
            pool.reset(0, seed="not a seed")  # type: ignore[arg-type]
        os.kill(pool._processes[1].pid, signal.SIGKILL)
        pool._processes[1].join(timeout=10)
        with pytest.raises(EnvPoolError, match="env worker 1 died"):
            pool.step_many([(1, "down")])
    finally:
        pids = [p.pid for p in pool._processes]
        pool.close()
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def test_unknown_executor_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rollout\.executor"):
        make_pool("ray-but-misspelt", lambda: agentrl.make("frozenlake"), 1)


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'agentrl[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_pool_with_two_workers_reproduces_inline(tiny, local_ray):
    model, tokenizer = tiny

    def play(executor: str):
        # A fresh agent and backend each time: the same sampling seeds, and an empty history cache (kept
        # attention states change log-probs in their last digits).
        agent = LLMAgent(
            HFBackend(model, tokenizer), tokenizer, AgentConfig(sampling=SamplingParams(max_new_tokens=4, seed=0))
        )
        config = RolloutConfig(num_envs=2, group_size=2, max_turns=3, executor=executor)
        return [t.to_dict() for t in collect(lambda: agentrl.make("frozenlake"), agent, [3, 4], config=config)]

    assert play("ray") == play("inline")
