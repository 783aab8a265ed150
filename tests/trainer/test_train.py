"""``agentrl train`` end to end: a smoke run per algorithm, LoRA, outputs, and resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agentrl.cli import main
from agentrl.trainer.checkpoint import checkpoints, load_checkpoint

SMALL = [
    "env=guess",
    "model=tiny",
    "train.iterations=2",
    "train.tasks_per_iteration=2",
    "rollout.group_size=2",
    "rollout.max_turns=2",
    "agent.sampling.max_new_tokens=2",
    "eval.episodes=2",
    "train.eval_every=1",
    "train.tensorboard=false",
]
ALGO = {
    "dagger": [],
    "ppo": [],
    "grpo": [],
    "rloo": [],
    "reinforce_pp": [],
    "gigpo": [],
    "archer": ["algo.critic_steps=2", "algo.actor_steps=1", "algo.batch_size=4", "algo.actor_batch_size=2"],
    "archer_baseline": [
        "algo.token_baseline=true",
        "algo.critic_steps=2",
        "algo.actor_steps=1",
        "algo.batch_size=4",
        "algo.actor_batch_size=2",
    ],
}


@pytest.mark.parametrize("algo", sorted(ALGO))
def test_two_iteration_smoke_run_per_algorithm(algo, tmp_path, capsys):
    out = tmp_path / algo
    code = main(["train", f"algo={algo.removesuffix('_baseline')}", *SMALL, *ALGO[algo], f"train.output_dir={out}"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "success" in printed and "->" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["iterations"] == 2 and results["env_steps"] > 0
    assert [e["iteration"] for e in results["evals"]] == [0, 1, 2]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["iteration"] for r in train] == [0, 1]
    assert all(r["episodes"] == 4 for r in train)
    key = {"archer": "q_loss", "archer_baseline": "baseline_loss", "dagger": "sft_loss"}.get(algo, "policy_loss")
    assert all(key in r for r in train)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in checkpoints(out)] == ["ckpt-000001.pt", "ckpt-000002.pt"]


def test_training_changes_the_weights_and_lora_trains_only_adapters(tmp_path):
    out = tmp_path / "lora"
    assert (
        main(
            [
                "train",
                "algo=grpo",
                *SMALL,
                "policy.lora=true",
                "algo.pg.lr=1e-2",
                "algo.pg.entropy_coef=0.1",
                f"train.output_dir={out}",
            ]
        )
        == 0
    )
    state = load_checkpoint(checkpoints(out)[-1])
    names = list(state["policy"])
    assert names and all("lora_" in name for name in names)
    # B starts at 0; the entropy bonus moves it even when every advantage is 0.
    assert any(float(t.abs().sum()) > 0 for n, t in state["policy"].items() if "lora_B" in n)


def test_bad_settings_fail_with_one_clear_line(tmp_path, capsys):
    assert main(["train", "algo=nope", f"train.output_dir={tmp_path}"]) == 2
    assert "algo" in capsys.readouterr().err
    assert main(["train", *SMALL, "agent.sampling.temperature=0", f"train.output_dir={tmp_path}"]) == 2
    assert "temperature" in capsys.readouterr().err
    assert main(["train", *SMALL, "train.resume=maybe", f"train.output_dir={tmp_path}"]) == 2


def _command(out: Path, iterations: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "agentrl",
        "train",
        "algo=grpo",
        *[s for s in SMALL if not s.startswith("train.iterations")],
        f"train.iterations={iterations}",
        "train.checkpoint_every=1",
        "train.keep_checkpoints=10",
        "algo.pg.lr=1e-2",
        # Exact equality with the uninterrupted run: without the history cache, whose states kept from an earlier
        # phase (the first evaluation) move log-probs in their last digits.
        "backend.prefix_cache_mb=0",
        f"train.output_dir={out}",
    ]


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_command(reference, 4), check=True, env=env, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed, 4), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (killed / "ckpt-000002.pt").exists():
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # mid-iteration 3: no chance to clean up
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert not (killed / "results.json").exists()
    last = checkpoints(killed)[-1]
    assert last.name in ("ckpt-000002.pt", "ckpt-000003.pt")

    resumed = subprocess.run(_command(killed, 4), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} after iteration {int(last.name[5:11])}" in resumed.stderr.replace("\n", "")

    def train_records(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        timing = ("seconds", "per_s", "memory", "rss")  # measurements of the machine, not of the run
        return [{k: v for k, v in r.items() if not any(word in k for word in timing)} for r in rows]

    # Same records (each iteration once) and the same final weights as the run that was never killed.
    assert train_records(killed) == train_records(reference)
    final_killed = load_checkpoint(killed / "ckpt-000004.pt")["policy"]
    final_reference = load_checkpoint(reference / "ckpt-000004.pt")["policy"]
    assert all(torch.equal(final_killed[k], final_reference[k]) for k in final_reference)
    # Running the finished command again resumes at the end and only re-reports.
    again = subprocess.run(_command(killed, 4), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "->" in again.stdout


def test_rollouts_through_a_model_server_get_the_new_weights_each_iteration(tmp_path, tiny_model_server):
    import httpx

    from agentrl.agents.backends.openai import OpenAIBackend
    from agentrl.agents.generation import SamplingParams
    from agentrl.agents.models import build_tiny_model
    from agentrl.trainer.policy import Policy

    url, _ = tiny_model_server
    version = httpx.get(f"{url}/health").json()["weight_version"]
    out = tmp_path / "remote"
    overrides = ["algo=grpo", *SMALL, "algo.pg.lr=1e-2", "algo.pg.entropy_coef=0.5"]
    overrides += ["backend.name=openai", f"backend.url={url}/v1"]
    assert main(["train", *overrides, f"train.output_dir={out}"]) == 0
    # One push at the start, one after each of the 2 updates.
    assert httpx.get(f"{url}/health").json()["weight_version"] == version + 3
    # The server now generates exactly what the trained policy generates.
    model, tokenizer = build_tiny_model(seed=0)
    policy = Policy(model)
    policy.load_trainable_state(load_checkpoint(checkpoints(out)[-1])["policy"])
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Guess 7"}], add_generation_prompt=True, tokenize=False
    )
    prompt = tokenizer.encode(text, add_special_tokens=False)
    remote = OpenAIBackend(f"{url}/v1", "tiny", tokenizer)
    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    with torch.no_grad():
        local = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False)[0, len(prompt) :].tolist()
    got = remote.generate([prompt], params)[0].token_ids
    assert got == local[: len(got)] and len(got) > 0


@pytest.mark.slow
def test_alfworld_training_run_evaluates_on_unseen_scenes(tmp_path, capsys):
    out = tmp_path / "alf"
    # The recipe's reply budget (24) is SmolLM2's; the tiny model's tokenizer needs up to 34 for the expert's commands.
    command = ["train", "env=alfworld", "env.kwargs.n_games=6", "algo=grpo", "model=tiny", "train.iterations=1",
               "train.tasks_per_iteration=1", "rollout.group_size=2", "rollout.max_turns=2", "eval.episodes=2",
               "agent.sampling.max_new_tokens=48", "train.tensorboard=false", f"train.output_dir={out}"]  # fmt: skip
    assert main(command) == 0
    assert "eval seeds of the eval_unseen split" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["eval"]["split"] == "eval_unseen" and results["eval"]["env_kwargs"]["split"] == "eval_unseen"
    assert all(e["split"] == "eval_unseen" for e in results["evals"])
    assert results["env"]["config"]["kwargs"]["split"] == "train"  # training stays on the training scenes
