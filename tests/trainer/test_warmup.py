"""Warm-up from demonstrations inside ``agentrl train``, and env recipes."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from agentrl.agents.dataset import DatasetError, open_dataset
from agentrl.agents.llm_agent import AgentConfig, LLMAgent
from agentrl.agents.types import load_jsonl
from agentrl.cli import main
from agentrl.cli.recipes import recipe_overrides
from agentrl.cli.train import load_train_config
from agentrl.trainer.checkpoint import checkpoints
from agentrl.trainer.policy import Policy
from agentrl.trainer.warmup import WarmupConfig, heldout_seeds, warm_up, warmup_seeds

SMALL = [
    "env=guess",
    "model=tiny",
    "train.iterations=1",
    "train.tasks_per_iteration=2",
    "rollout.group_size=2",
    "rollout.max_turns=3",
    "eval.episodes=2",
    "train.tensorboard=false",
    "train.warmup.episodes=6",
    "train.warmup.steps=2",
]


def test_warmup_seeds_are_distinct_training_seeds() -> None:
    seeds = warmup_seeds(0, 50, 60)
    assert len(set(seeds)) == 50 and max(seeds) < 60
    assert seeds == warmup_seeds(0, 50, 60) != warmup_seeds(1, 50, 60)
    with pytest.raises(ValueError, match=r"eval\.seed"):
        warmup_seeds(0, 61, 60)


def test_heldout_seeds_are_other_training_seeds_and_leave_the_warmups_as_they_were() -> None:
    demonstrated = set(warmup_seeds(0, 50, 60))
    held = heldout_seeds(0, 8, 60, demonstrated)
    assert len(set(held)) == 8 and max(held) < 60 and not set(held) & demonstrated
    assert held == heldout_seeds(0, 8, 60, demonstrated) != heldout_seeds(1, 8, 60, demonstrated)
    assert heldout_seeds(0, 10, 60, demonstrated) == sorted(set(range(60)) - demonstrated)  # all that is left
    with pytest.raises(ValueError, match=r"heldout_episodes=11 .*below 60 besides the demonstrations' 50"):
        heldout_seeds(0, 11, 60, demonstrated)


def test_warmup_reports_its_fit_on_held_out_demonstrations(tmp_path, capsys) -> None:
    """The expert plays other training tasks, never trained on; the record has their fit before and after."""
    out = tmp_path / "run"
    fit = ["train.warmup.heldout_episodes=4", "train.warmup.steps=10", "train.warmup.update.lr=1e-3"]
    assert main(["train", *SMALL, *fit, "train.iterations=0", f"train.output_dir={out}"]) == 0
    assert "held-out demonstrations (" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    [warm] = [r for r in records if r["kind"] == "warmup"]
    held, demos = open_dataset(out / "warmup-heldout"), open_dataset(out / "warmup-data")
    assert len(held) == 4 and not set(held.manifest.seeds) & set(demos.manifest.seeds)
    # turns the demonstrations hold too (the first guess of every game) are not held out
    trained = {(tuple(t.prompt_ids), tuple(t.response_ids)) for e in demos.trajectories() for t in e.turns}
    unseen = [t for e in held.trajectories() if e.won for t in e.turns
              if (tuple(t.prompt_ids), tuple(t.response_ids)) not in trained]  # fmt: skip
    assert 0 < warm["heldout_turns"] == len(unseen) < sum(len(e.turns) for e in held.trajectories())
    assert warm["heldout_loss"] < warm["heldout_loss_before"]  # guessing numbers generalises to other numbers
    assert 0 <= warm["heldout_reply_exact"] <= 1 and 0 < warm["heldout_token_prob"] < 1
    err = main(["train", "--print-config", "train.warmup.heldout_episodes=-1"])
    assert err == 2 and "train.warmup.heldout_episodes must be at least 0" in capsys.readouterr().err


def test_warmup_raises_the_expert_replies_log_probability(tiny, tmp_path) -> None:
    from agentrl.factory import make
    from agentrl.trainer.rollout import RolloutConfig
    from agentrl.trainer.warmup import collect_demonstrations

    model, tokenizer = tiny
    prompt = AgentConfig(history=2)
    trajectories = collect_demonstrations(
        lambda **kw: make("agentrl/GuessNumber-v0", **kw),
        tokenizer,
        prompt,
        [0, 1, 2, 3],
        RolloutConfig(num_envs=4, max_turns=4),
        env_id="agentrl/GuessNumber-v0",
        out=tmp_path / "demos",
        manifest={"env": {"id": "agentrl/GuessNumber-v0", "split": None}, "agent": {"kind": "expert"}, "model": {}},
    )
    assert len(open_dataset(tmp_path / "demos")) == 4  # kept as a dataset in the run folder
    policy = Policy(copy.deepcopy(model))
    turn = next(t for tr in trajectories for t in tr.turns)

    def nll() -> float:
        from agentrl.trainer.batch import turn_batch

        with torch.no_grad():
            batch = turn_batch([turn], tokenizer.pad_token_id)
            return float(-(policy.forward_batch(batch).logprobs * batch.response_mask).sum())

    before = nll()
    cfg = WarmupConfig(episodes=4, steps=6)
    cfg.update.lr = 1e-3
    # Replies the policy could not write (longer than its reply budget) are refused, saying the budget they need.
    longest = max(len(t.response_ids) for tr in trajectories if tr.won for t in tr.turns) - 1  # its end token
    with pytest.raises(DatasetError, match=rf"longer than agent.sampling.max_new_tokens={longest - 1} .*={longest} or"):
        warm_up(policy, trajectories, cfg, pad_id=tokenizer.pad_token_id, seed=0, max_new_tokens=longest - 1)
    assert nll() == before  # refused before any step
    stats = warm_up(policy, trajectories, cfg, pad_id=tokenizer.pad_token_id, seed=0, max_new_tokens=longest)
    assert stats["warmup_turns"] == sum(len(t.turns) for t in trajectories if t.won)
    assert nll() < before


def test_warmup_with_no_won_episode_is_an_error(tiny) -> None:
    model, _tokenizer = tiny
    with pytest.raises(DatasetError, match="no turns to learn from"):
        warm_up(Policy(copy.deepcopy(model)), [], WarmupConfig(episodes=1, steps=1), pad_id=0, seed=0)


@pytest.mark.slow
def test_train_warms_up_evaluates_three_times_and_resumes_after_the_warmup(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *SMALL, f"train.output_dir={out}"]) == 0
    printed = capsys.readouterr()
    assert "warming up" in printed.err and "(warm-up)" in printed.out
    results = json.loads((out / "results.json").read_text())
    assert [e["phase"] for e in results["evals"]] == ["start", "warm-up", "train"]
    assert "success_after_warmup" in results
    # Each evaluation's episodes are kept, to read or view: the held-out seeds, what the record counted.
    for record in results["evals"]:
        played = list(load_jsonl(out / record["trajectories"]))
        assert len(played) == record["episodes"] and sum(t.won for t in played) == record["success"] * len(played)
        assert [t.seed for t in played] == results["eval_seeds"]
    assert sorted(p.name for p in (out / "evals").iterdir()) == [
        "iter-00000-start.jsonl", "iter-00000-warm-up.jsonl", "iter-00001-train.jsonl"
    ]  # fmt: skip
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    warm = [r for r in records if r["kind"] == "warmup"]
    assert len(warm) == 1 and warm[0]["demonstrations"] == 6
    # The warm-up's and each evaluation's record say the process's peak memory so far, which never falls.
    peaks = [r["cpu_peak_rss_gb"] for r in records if r["kind"] in ("eval", "warmup", "train")]
    assert len(peaks) == 5 and all(p > 0 for p in peaks) and peaks == sorted(peaks)
    assert 0 <= warm[0]["reply_exact"] <= 1  # the share of the last batch's replies greedy decoding writes whole
    data = open_dataset(out / "warmup-data")
    assert data.manifest.env["id"] == "agentrl/GuessNumber-v0" and len(data) == 6
    # The demonstrations' prompts are what the run's agent builds for the same episode.
    cfg = load_train_config([*SMALL, f"train.output_dir={out}"])
    from agentrl.agents.models import load_tokenizer
    from agentrl.factory import make_from_config
    from agentrl.trainer.rollout import collect

    tokenizer = load_tokenizer(cfg.model)
    episode = data.trajectories()[0]
    agent = LLMAgent(_ScriptedBackend([t.response_ids for t in episode.turns], tokenizer), tokenizer, cfg.agent)
    once = dataclasses.replace(cfg.rollout, group_size=1)
    [replayed] = collect(lambda **kw: make_from_config(cfg.env, **kw), agent, [episode.seed], once)
    assert [t.prompt_ids for t in replayed.turns] == [t.prompt_ids for t in episode.turns]
    assert [c.name for c in checkpoints(out)] == ["ckpt-000000.pt", "ckpt-000001.pt"]

    # Extending the run resumes after iteration 1: no second warm-up.
    assert main(["train", *SMALL, "train.iterations=2", f"train.output_dir={out}"]) == 0
    assert "warming up" not in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert [e["phase"] for e in results["evals"]] == ["start", "warm-up", "train", "train"]


def test_eval_before_false_skips_only_the_start_evaluation(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *SMALL, "train.eval_before=false", f"train.output_dir={out}"]) == 0
    assert "success not evaluated (train.eval_before=false) -> " in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert [e["phase"] for e in results["evals"]] == ["warm-up", "train"]
    assert results["success_before"] is None and "success_after_warmup" in results
    # a run that would otherwise evaluate nothing still evaluates once
    out = tmp_path / "none"
    nothing = ["train.eval_before=false", "train.iterations=0", "train.warmup.episodes=0"]
    assert main(["train", *SMALL, *nothing, f"train.output_dir={out}"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [e["phase"] for e in results["evals"]] == ["start"] and results["success_before"] is not None


@pytest.mark.slow
def test_init_from_skips_the_warmup(tmp_path, capsys) -> None:
    first = tmp_path / "first"
    assert main(["train", *SMALL, "train.warmup.episodes=0", f"train.output_dir={first}"]) == 0
    capsys.readouterr()
    out = tmp_path / "second"
    assert main(["train", *SMALL, f"train.init_from={first}", f"train.output_dir={out}"]) == 0
    assert "no warm-up: the run starts from the weights of" in capsys.readouterr().err
    assert not (out / "warmup-data").exists()


class _ScriptedBackend:
    """A generation backend that answers with given token ids, in order (one episode at a time)."""

    weights_shared = True

    def __init__(self, replies, tokenizer):
        from agentrl.agents.generation import Completion

        self.replies = [
            Completion(ids, [0.0] * len(ids), tokenizer.decode(ids, skip_special_tokens=True), "stop")
            for ids in replies
        ]
        self.eos_ids = frozenset({tokenizer.eos_token_id})

    def generate(self, prompts, params):
        return [self.replies.pop(0) for _ in prompts]

    def update_weights(self, state):  # pragma: no cover - weights are shared
        pass

    def stats(self):
        return {}

    def close(self):
        pass


def test_recipe_overrides_yield_to_the_user() -> None:
    recipe = ["model=smollm2", "train.iterations=2", "algo.pg.lr=1e-5", "eval.episodes=30", "env.agent.history=0"]
    groups = {"env", "model", "algo", "agent"}
    assert recipe_overrides(recipe, [], groups) == recipe
    assert recipe_overrides(recipe, ["model=tiny", "train.iterations=5"], groups) == recipe[2:]
    # choosing a group drops the recipe's settings inside it; a setting above one drops it too
    assert recipe_overrides(recipe, ["algo=ppo", "+eval=x"], groups) == [
        "model=smollm2",
        "train.iterations=2",
        "env.agent.history=0",
    ]
    assert recipe_overrides(recipe, ["env=webshop"], groups) == recipe


def test_webshop_recipe_is_applied_and_yields(capsys) -> None:
    cfg = load_train_config(["env=webshop"])
    assert cfg.model.name == "smollm2" and cfg.train.warmup.episodes > 0 and cfg.algo.pg.lr == 1e-5
    assert cfg.agent.repair_invalid  # the recipe repairs invalid replies; the user can turn it off
    assert not load_train_config(["env=webshop", "agent.repair_invalid=false"]).agent.repair_invalid
    cfg = load_train_config(["env=webshop", "model=tiny", "train.warmup.episodes=0"])
    assert cfg.model.name == "tiny" and cfg.train.warmup.episodes == 0 and cfg.algo.pg.lr == 1e-5
    cfg = load_train_config(["env=webshop", "algo=ppo"])
    assert cfg.algo.name == "ppo" and cfg.algo.pg.lr != 1e-5
    assert load_train_config([]).train.warmup.episodes == 0  # the main job has no recipe
    cfg = load_train_config(["env=alfworld"])
    assert cfg.model.name == "smollm2" and cfg.train.warmup.episodes > 0
    assert cfg.rollout.max_turns == 15 and cfg.agent.history == 2
