"""A batch that cannot teach anything is detected by every algorithm, logged, and warned about once per run."""

from __future__ import annotations

import copy
import json

import pytest

from agentrl.agents.generation import SamplingParams
from agentrl.agents.types import Trajectory, Turn
from agentrl.cli import main
from agentrl.trainer.algorithm import AlgoContext, build_algorithm
from agentrl.trainer.archer import ArcherConfig
from agentrl.trainer.filtered_bc import FilteredBCConfig
from agentrl.trainer.grpo import GRPOConfig
from agentrl.trainer.learning_signal import no_signal_message, reward_contrast, zero_signal
from agentrl.trainer.pg import PGConfig
from agentrl.trainer.policy import Policy
from agentrl.trainer.ppo import PPOConfig


def batch(returns: list[float], invalid: bool = True, turns: int = 2) -> list[Trajectory]:
    """Two-turn trajectories in groups of two, the return on the last turn."""
    out = []
    for i, ret in enumerate(returns):
        steps = []
        for t in range(turns):
            last = t == turns - 1
            info = {"invalid_action": invalid}
            steps.append(Turn([5, 6, 7 + t], [8, 9], [-1.0, -1.0], "x", "bad", ret if last else 0.0, False, last, info))
        out.append(Trajectory("x", i // 2, str(i // 2), i // 2, initial_observation="s", task="t", turns=steps))
    return out


def test_reward_contrast():
    assert not reward_contrast([[0.0, 0.0], [0.0], [0.0, 0.0, 0.0]])  # all 0, whatever the lengths
    assert not reward_contrast([[-0.1, -0.1], [-0.1, -0.1]])  # the same rewards turn by turn
    assert reward_contrast([[-0.1, -0.1], [-0.1]])  # a shorter episode pays less
    assert reward_contrast([[0.0, 1.0], [0.0, 0.0]])


def test_zero_signal_from_statistics():
    assert zero_signal({"zero_signal": 1.0}) and zero_signal({"grad_norm": 0.0, "zero_signal": 0.0})
    assert not zero_signal({"zero_signal": 0.5, "grad_norm": 0.3})  # some ranks had a signal
    assert not zero_signal({})


def test_the_message_says_what_was_seen_and_what_to_change():
    text = no_signal_message(0, 4, batch([0.0] * 16), {"zero_signal": 1.0, "grad_norm": 0.0})
    assert text.startswith("iteration 1/4: the batch carried no learning signal (all 16 trajectories returned 0")
    assert "100% invalid actions" in text and "no advantage to follow) and the gradient was 0" in text
    assert "apart" not in no_signal_message(0, 4, batch([0.0] * 2), {"zero_signal": 0.0, "grad_norm": 0.0})
    for fix in ("algo=sft", "train.init_from", "rollout.group_size", "agent.sampling.max_new_tokens"):
        assert fix in text
    assert "shown once" in text.lower()


@pytest.fixture
def tiny_replying(tiny, fixed_replies):
    """The tiny model and a backend that always replies [20, 21]."""
    return tiny, fixed_replies([20, 21])


def _update(config, trajectories, tiny, value_head=False):
    (model, tokenizer), backend = tiny
    policy = Policy(copy.deepcopy(model), value_head=value_head)
    ctx = AlgoContext(policy, None, backend, SamplingParams(temperature=1.0), 0, 0, lambda: None,
                      tokenizer=tokenizer)  # fmt: skip
    return build_algorithm(config, ctx).update(trajectories, 0)


@pytest.mark.parametrize("name", ["grpo", "rloo", "reinforce_pp", "gigpo"])
def test_grpo_family_reports_zero_signal_and_a_zero_gradient_on_an_all_failed_batch(name, tiny_replying):
    tiny = tiny_replying
    config = GRPOConfig(name=name, estimator=name, invalid_penalty=-0.1, pg=PGConfig(lr=1e-3))
    stats = _update(config, batch([0.0] * 4), tiny)
    assert stats["zero_signal"] == 1.0 and stats["grad_norm"] == 0.0
    stats = _update(config, batch([1.0, 0.0, 0.0, 1.0]), tiny)
    assert stats["zero_signal"] == 0.0 and stats["grad_norm"] > 0


def test_ppo_archer_and_filtered_bc_report_zero_signal_on_an_all_failed_batch(tiny_replying):
    tiny = tiny_replying
    archer = ArcherConfig(critic_steps=1, actor_steps=1, batch_size=4, actor_batch_size=4, invalid_penalty=-0.1)
    configs = [(PPOConfig(invalid_penalty=-0.1), True), (archer, False), (FilteredBCConfig(keep_fraction=0.5), False)]
    for config, value_head in configs:
        assert _update(config, batch([0.0] * 4), tiny, value_head)["zero_signal"] == 1.0, config.name
        assert _update(config, batch([1.0, 0.0, 0.0, 0.0]), tiny, value_head)["zero_signal"] == 0.0, config.name


def test_a_run_without_learning_signal_warns_once_and_logs_it_every_iteration(tmp_path, capsys):
    # The random tiny model cannot write a valid guess in 2 tokens: every action is invalid, every return equal.
    out = tmp_path / "run"
    code = main(["train", "algo=grpo", "env=guess", "model=tiny", "train.iterations=2", "train.tasks_per_iteration=2",
                 "rollout.group_size=2", "rollout.max_turns=2", "agent.sampling.max_new_tokens=2", "eval.episodes=1",
                 "train.eval_every=0", "train.tensorboard=false", f"train.output_dir={out}"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("no learning signal") == 1 and "iteration 1/2:" in err  # as its progress line counts
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["zero_signal"] for r in records if r["kind"] == "train"] == [1.0, 1.0]
