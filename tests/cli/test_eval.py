"""``agentrl eval`` end to end with the tiny model: the results file records the protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_eval_writes_results_and_trajectories(tmp_path):
    out = subprocess.run(
        [
            sys.executable, "-m", "agentrl", "eval", "env=frozenlake", "model=tiny",
            "eval.episodes=3", "eval.seed=40", "rollout.max_turns=3", f"eval.output_dir={tmp_path}",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "agentrl/FrozenLake-v0 | tiny | 3 episodes | success" in out.stdout
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["seeds"] == [40, 41, 42]
    assert results["env"]["id"] == "agentrl/FrozenLake-v0" and results["model"]["name"] == "tiny"
    assert results["git_revision"] and results["agentrl_version"]
    low, high = results["success"]["ci95"]
    assert 0 <= low <= results["success"]["mean"] <= high <= 1
    assert len(results["per_episode"]) == 3 and results["agent"]["sampling"]["temperature"] == 0.0
    lines = Path(results["trajectories"]).read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["turns"][0]["prompt_ids"]


def test_eval_rejects_bad_settings(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "agentrl", "eval", "model=tiny", "eval.episodes=0", f"eval.output_dir={tmp_path}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2 and "eval.episodes must be at least 1" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "agentrl", "eval", "model=nonexistent"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2 and "nonexistent" in out.stderr and "Traceback" not in out.stderr


def test_webshop_expert_is_evaluated_on_the_test_goals(tmp_path, capsys):
    from agentrl.cli import main

    assert main(["eval", "env=webshop", "agent=expert", "eval.episodes=6", f"eval.output_dir={tmp_path}"]) == 0
    printed = capsys.readouterr().out
    assert "agentrl/WebShop-v1 (test split) | expert | 6 episodes | success 1.000" in printed
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["env"]["split"] == "test" and results["env"]["kwargs"]["split"] == "test"
    assert results["agent"]["kind"] == "expert" and results["model"] is None
    # Played on its own, the expert agrees with itself on every turn; a random agent on few.
    assert "agrees with the expert on 100.0% of turns" in printed and results["expert_agreement"] == 1.0
    assert set(results["expert_agreement_by_turn"]) == {1.0}
    # The same seeds, another split and a random agent: the protocol is the agent's only difference.
    assert main(["eval", "env=webshop", "agent=random", "eval.episodes=6", "eval.split=train",
                 f"eval.output_dir={tmp_path / 'r'}"]) == 0  # fmt: skip
    (random_file,) = (tmp_path / "r").glob("*.json")
    random = json.loads(random_file.read_text())
    assert random["seeds"] == results["seeds"] and random["env"]["split"] == "train"
    assert random["agent"]["kind"] == "random" and random["success"]["mean"] < 1
    assert 0 <= random["expert_agreement"] < 0.5


def test_expert_of_an_env_without_one_is_a_clear_error(tmp_path, capsys):
    from agentrl.cli import main

    code = main(["eval", "env=frozenlake", "agent=expert", "+env.kwargs.expert=false", f"eval.output_dir={tmp_path}"])
    assert code == 2 and "no expert action" in capsys.readouterr().err


def test_eval_split_overrides():
    from agentrl.envs.config import EnvConfig
    from agentrl.trainer.evaluate import EvalConfig, eval_env_overrides

    env = EnvConfig(id="agentrl/WebShop-v1", kwargs={"split": "train"}, held_out_split="test")
    assert eval_env_overrides(env, EvalConfig()) == ("test", {"split": "test"})
    assert eval_env_overrides(env, EvalConfig(split="eval")) == ("eval", {"split": "eval"})
    assert eval_env_overrides(env, EvalConfig(split="configured")) == ("train", {})
    kwargs = {"n_products": 50}
    assert eval_env_overrides(env, EvalConfig(env_kwargs=kwargs)) == ("test", {"n_products": 50, "split": "test"})
    # An env without splits is evaluated as configured (on seeds apart from training's).
    assert eval_env_overrides(EnvConfig(id="agentrl/Sokoban-v0"), EvalConfig()) == (None, {})


def test_training_seeds_stay_below_the_evaluation_and_the_test_seeds():
    from agentrl.trainer.evaluate import EvalConfig, training_seed_bound
    from agentrl.trainer.loop import TrainRunConfig, task_seeds

    assert training_seed_bound(EvalConfig()) == 10_000
    assert training_seed_bound(EvalConfig(seed=40)) == 40
    # Validation seeds above the test seeds: training stays below the test seeds, not below the validation's.
    assert training_seed_bound(EvalConfig(seed=20_000)) == 10_000
    assert training_seed_bound(EvalConfig(seed=20_000, train_below=5_000)) == 5_000
    with pytest.raises(ValueError, match="would train on the evaluation seeds"):
        training_seed_bound(EvalConfig(seed=100, train_below=101))
    with pytest.raises(ValueError, match="positive seed"):
        training_seed_bound(EvalConfig(train_below=-1))
    cfg = TrainRunConfig(eval=EvalConfig(seed=20_000))
    drawn = [s for iteration in range(200) for s in task_seeds(cfg, iteration)]
    assert max(drawn) < 10_000 and len(set(drawn)) > 1000


def test_eval_of_a_training_run_plays_its_policy_as_the_run_evaluated_it(tmp_path, capsys):
    from agentrl.agents.models import ModelConfig, fingerprint, load_model
    from agentrl.cli import main
    from agentrl.trainer.checkpoint import checkpoints, load_init_weights

    run = tmp_path / "run"
    # guess, the tiny model and 3 turns: none of them eval's defaults, so each must come from the run
    # (a warm-up on expert episodes moves the weights; no RL iteration)
    assert main(["train", "env=guess", "model=tiny", "model.seed=3", "train.iterations=0", "train.warmup.episodes=6",
                 "train.warmup.steps=2", "eval.episodes=4", "rollout.max_turns=3", "agent.sampling.max_new_tokens=6",
                 "train.tensorboard=false", f"train.output_dir={run}"]) == 0  # fmt: skip
    last = json.loads((run / "results.json").read_text())["evals"][-1]
    capsys.readouterr()
    out = tmp_path / "eval"
    assert main(["eval", f"init_from={run}", "eval.episodes=4", f"eval.output_dir={out}"]) == 0
    captured = capsys.readouterr()
    assert f"evaluating the weights of {checkpoints(run)[-1]}" in captured.err.replace("\n", "")
    assert "agentrl/GuessNumber-v0" in captured.out and "| run |" in captured.out
    (result_file,) = out.glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["model"]["name"] == "tiny" and results["model"]["init_from"] == str(checkpoints(run)[-1])
    assert results["rollout"]["max_turns"] == 3 and results["agent"]["sampling"]["max_new_tokens"] == 6
    assert results["agent"]["sampling"]["temperature"] == 0.0  # greedy, as the run's evaluations
    # the trained weights, not the packaged ones
    trained, _ = load_model(ModelConfig(name="tiny", seed=3))
    packaged = fingerprint(trained)
    load_init_weights(trained, run)
    assert results["model"]["fingerprint"] == fingerprint(trained) != packaged
    # the same episodes as the run's own final evaluation, action by action
    ours = [json.loads(line) for line in Path(results["trajectories"]).read_text().splitlines()]
    theirs = [json.loads(line) for line in (run / last["trajectories"]).read_text().splitlines()]
    assert [[t["response_ids"] for t in e["turns"]] for e in ours] == [
        [t["response_ids"] for t in e["turns"]] for e in theirs
    ]
    assert results["success"]["mean"] == last["success"] and results["return"]["mean"] == last["return"]
    # a setting given on the command line wins over the run's
    # (env.* settings are checked against the run's env file, not eval's default env's)
    assert main(["eval", f"init_from={run}", "eval.episodes=1", "rollout.max_turns=2",
                 "agent.sampling.max_new_tokens=5", "env.kwargs.high=20", "~env.kwargs.low",
                 f"eval.output_dir={tmp_path / 'other'}"]) == 0  # fmt: skip
    (other_file,) = (tmp_path / "other").glob("*.json")
    other = json.loads(other_file.read_text())
    assert other["rollout"]["max_turns"] == 2 and other["agent"]["sampling"]["max_new_tokens"] == 5
    assert other["env"]["config"]["kwargs"] == {"high": 20}
    assert other["model"]["name"] == "tiny" and other["env"]["id"] == "agentrl/GuessNumber-v0"


def test_eval_of_a_run_that_trained_the_top_of_another_runs_model_plays_the_whole_of_it(tmp_path, capsys, monkeypatch):
    # A run that trains the top block of a fully fine-tuned model checkpoints that block; eval loads the rest from
    # the run it started from (it once loaded the packaged lower blocks: another model than the run evaluated).
    from agentrl.cli import main

    monkeypatch.chdir(tmp_path)  # the runs' folders and init_from as a user types them: relative
    common = ["env=guess", "model=tiny", "eval.episodes=2", "rollout.max_turns=3", "train.tensorboard=false"]
    assert main(["train", *common, "train.iterations=0", "train.warmup.episodes=6", "train.warmup.steps=3",
                 "train.warmup.update.lr=1e-2", "policy.train_top_layers=0", "train.output_dir=sft"]) == 0  # fmt: skip
    assert main(["train", *common, "train.init_from=sft", "policy.train_top_layers=1", "train.iterations=1",
                 "train.tasks_per_iteration=2", "rollout.group_size=2", "train.eval_before=false",
                 "train.output_dir=rl"]) == 0  # fmt: skip
    trained = json.loads(Path("rl/results.json").read_text())["model"]["fingerprint"]
    capsys.readouterr()
    assert main(["eval", "init_from=rl", "eval.episodes=1", f"eval.output_dir={tmp_path / 'eval'}"]) == 0
    (result_file,) = (tmp_path / "eval").glob("*.json")
    assert json.loads(result_file.read_text())["model"]["fingerprint"] == trained


def test_eval_init_from_errors_say_what_to_do(tmp_path, capsys):
    from agentrl.cli import main

    assert main(["eval", f"init_from={tmp_path / 'missing'}"]) == 2
    assert f"init_from={tmp_path / 'missing'}: no such run folder" in capsys.readouterr().err.replace("\n", "")
    assert main(["eval", f"init_from={tmp_path}"]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    (tmp_path / "ckpt-000001.pt").write_bytes(b"")
    assert main(["eval", f"init_from={tmp_path}", "agent=expert", "env=guess"]) == 2
    assert "agent=llm" in capsys.readouterr().err
    assert main(["eval", f"init_from={tmp_path}", "env=guess", "model=tiny"]) == 2  # not a checkpoint
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_train_and_eval_generate_with_a_bfloat16_copy(tmp_path, capsys):
    """``backend.dtype``: a GRPO run generates (rollouts and evaluations) with a bfloat16 copy of the weights it
    trains in float32 and records it; ``auto`` says what it resolved to; eval takes it too; a bad value is refused."""
    from agentrl.cli import main

    run = tmp_path / "run"
    common = ["train", "env=guess", "model=tiny", "algo=grpo", "train.iterations=2", "train.tasks_per_iteration=2",
              "rollout.group_size=2", "rollout.max_turns=2", "agent.sampling.max_new_tokens=4", "eval.episodes=2",
              "train.tensorboard=false"]  # fmt: skip
    assert main([*common, "backend.dtype=bfloat16", f"train.output_dir={run}"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["generation_dtype"] == "bfloat16" and results["mixed_precision"] == "no"
    assert results["iterations_done"] == 2 and results["env_steps"] > 0
    capsys.readouterr()
    assert main([*common, "backend.dtype=auto", "train.iterations=0", f"train.output_dir={tmp_path / 'auto'}"]) == 0
    resolved = json.loads((tmp_path / "auto" / "results.json").read_text())["generation_dtype"]
    assert resolved in {"float32", "bfloat16"} and f"backend.dtype=auto: generating in {resolved}" in (
        capsys.readouterr().err
    )
    out = tmp_path / "eval"
    evaluate = ["eval", f"init_from={run}", "backend.dtype=bfloat16", "eval.episodes=2", f"eval.output_dir={out}"]
    assert main(evaluate) == 0
    (result_file,) = out.glob("*.json")
    assert json.loads(result_file.read_text())["backend"]["dtype"] == "bfloat16"
    capsys.readouterr()
    assert main([*common, "backend.dtype=fp8", f"train.output_dir={tmp_path / 'bad'}"]) != 0
    assert "backend.dtype must be one of: auto, float32, bfloat16, float16" in capsys.readouterr().err


def test_repair_invalid_plays_a_listed_action_for_every_unlisted_reply(tmp_path, capsys, monkeypatch):
    """``agent.repair_invalid=true``: the tiny random model's replies name no number of Guess's range, so each turn
    plays the listed number the model scores highest; the trajectories keep its own text, the results count the
    share, and training takes the setting too. A backend without the model in this process is refused."""
    from agentrl.cli import main

    common = ["env=guess", "model=tiny", "agent.sampling.max_new_tokens=6", "rollout.max_turns=3",
              "agent.repair_invalid=true"]  # fmt: skip
    assert main(["eval", *common, "eval.episodes=3", f"eval.output_dir={tmp_path / 'eval'}"]) == 0
    (result_file,) = (tmp_path / "eval").glob("*.json")
    results = json.loads(result_file.read_text())
    assert results["agent"]["repair_invalid"] is True
    assert results["invalid_action_rate"] == 0.0 and results["repaired_rate"] > 0.5
    lines = Path(results["trajectories"]).read_text().splitlines()
    turns = [turn for line in lines for turn in json.loads(line)["turns"]]
    repaired = [turn for turn in turns if turn["repaired_from"] is not None]
    assert len(repaired) == round(results["repaired_rate"] * len(turns))
    for turn in repaired:
        assert turn["action_text"].isdigit() and not turn["info"]["invalid_action"]
        assert turn["response_text"] == turn["action_text"] != turn["repaired_from"]  # Guess asks for untagged replies
    capsys.readouterr()
    assert main(["data", "show", results["trajectories"]]) == 0  # says what the model wrote where it was repaired
    assert f"-> {repaired[0]['action_text']!r} (repaired: the model wrote {repaired[0]['repaired_from']!r})" in (
        capsys.readouterr().out
    )
    run = tmp_path / "run"
    train = ["train", *common, "algo=grpo", "train.iterations=1", "train.tasks_per_iteration=2",
             "rollout.group_size=2", "eval.episodes=2",
             "train.tensorboard=false", f"train.output_dir={run}"]  # fmt: skip
    assert main(train) == 0
    evals = json.loads((run / "results.json").read_text())["evals"]
    assert evals and all(e["invalid_action_rate"] == 0.0 and e["repaired_rate"] > 0 for e in evals)
    assert "replies repaired" in capsys.readouterr().err
    capsys.readouterr()
    served = ["eval", *common, "backend.name=openai", "backend.url=http://127.0.0.1:9/v1", "eval.episodes=1",
              f"eval.output_dir={tmp_path / 'served'}"]  # fmt: skip
    assert main(served) == 2
    assert "agent.repair_invalid" in capsys.readouterr().err
    # refused before a model loads or a server starts, with what to type (an env's recipe may have turned it on)
    refused = pytest.fail  # any model or server start is a failure
    monkeypatch.setattr("agentrl.agents.backends.load_backend", lambda *a, **k: refused("loaded a backend"))
    monkeypatch.setattr("agentrl.trainer.loop.load_model", lambda *a, **k: refused("loaded a model"))
    for command in (["eval", *common, "backend.name=vllm", f"eval.output_dir={tmp_path / 'vllm'}"],
                    ["train", *common, "backend.name=vllm", f"train.output_dir={tmp_path / 'vllm-run'}"],
                    ["collect", "env=guess", "model=tiny", "agent=llm", "agent.repair_invalid=true",
                     "backend.name=vllm", "collect.episodes=1", f"collect.output={tmp_path / 'data'}"]):  # fmt: skip
        assert main(command) == 2, command[0]
        assert "set agent.repair_invalid=false" in capsys.readouterr().err
