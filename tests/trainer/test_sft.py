"""Demonstrations to a trained agent: datasets, collected token ids, SFT, filtered BC and init_from."""

from __future__ import annotations

import copy
import itertools
import json
import logging
from pathlib import Path

import pytest
import torch

import agentrl
from agentrl.agents.dataset import DatasetError, DatasetWriter, merge_datasets, open_dataset
from agentrl.agents.generation import Completion, SamplingParams
from agentrl.agents.llm_agent import AgentConfig, DemonstrationAgent, LLMAgent
from agentrl.agents.scripted import ExpertAgent
from agentrl.agents.types import Trajectory, Turn
from agentrl.cli import main
from agentrl.trainer.batch import turn_batch
from agentrl.trainer.filtered_bc import top_share
from agentrl.trainer.policy import Policy
from agentrl.trainer.rollout import RolloutConfig, collect
from agentrl.trainer.sft import SupervisedConfig, lr_factor, supervised_step

PROMPT = AgentConfig(sampling=SamplingParams(max_new_tokens=64, temperature=0.0), history=2)


class _Replay:
    """A backend that answers every prompt with fixed reply ids (what the demonstration recorded)."""

    def __init__(self, replies):
        self.replies, self.eos_ids, self.weights_shared = replies, set(), True

    def generate(self, prompts, params):
        return [Completion(list(ids), [0.0] * len(ids), text, "stop") for ids, text in self.replies.pop(0)]

    def update_weights(self, state_dict):
        return 0

    def stats(self):
        return {}

    def close(self):
        pass


def test_collected_token_ids_are_what_a_rollout_produces(tiny):
    _, tokenizer = tiny
    demo = DemonstrationAgent(ExpertAgent(), tokenizer, PROMPT)
    [recorded] = collect(lambda: agentrl.make("webshop"), demo, [3], RolloutConfig(max_turns=15))
    assert recorded.won and len(recorded.turns) >= 3
    # A model that writes exactly the recorded replies sees exactly the recorded prompts.
    replies = [[(turn.response_ids, turn.response_text)] for turn in recorded.turns]
    model_agent = LLMAgent(_Replay(replies), tokenizer, PROMPT)
    [played] = collect(lambda: agentrl.make("webshop"), model_agent, [3], RolloutConfig(max_turns=15))
    assert [t.prompt_ids for t in played.turns] == [t.prompt_ids for t in recorded.turns]
    assert [t.action_text for t in played.turns] == [t.action_text for t in recorded.turns]
    first = recorded.turns[0]
    assert first.response_text.startswith("<action>") and first.response_ids[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("env", ["alfworld", "textworld", "webshop", "sokoban", "guess"])
def test_collect_builds_prompts_with_the_settings_a_rollout_uses(env):
    """`agentrl collect`'s prompt settings are those of the llm agent that `agentrl eval` / `train` compose for the
    same env (its agent block): history window and its drop, tags, action lists, reply budget."""
    import dataclasses

    from agentrl.cli.collect import CollectRunConfig
    from agentrl.cli.config import load
    from agentrl.cli.evaluate import EvalRunConfig

    collect_cfg = load("collect", [f"env={env}", "model=tiny"], CollectRunConfig)
    agent = load("eval", [f"env={env}", "model=tiny"], EvalRunConfig).agent
    assert isinstance(agent, AgentConfig)
    prompt_fields = [f.name for f in dataclasses.fields(AgentConfig) if f.name != "sampling"]
    assert {k: getattr(collect_cfg.prompt, k) for k in prompt_fields} == {k: getattr(agent, k) for k in prompt_fields}
    assert collect_cfg.prompt.sampling.max_new_tokens == agent.sampling.max_new_tokens


def test_sft_on_data_with_other_prompt_settings_says_so(tmp_path, caplog):
    from agentrl.trainer.sft import prompt_differences

    assert prompt_differences({"history": 4}, AgentConfig(history=4)) == {}
    # a dataset from before a setting existed counts as its default
    assert prompt_differences({}, AgentConfig(history_actions=False)) == {"history_actions": (True, False)}
    data = tmp_path / "demos"
    assert main(["collect", "env=guess", "agent=expert", "model=tiny", "collect.episodes=2",
                 f"collect.output={data}"]) == 0  # fmt: skip
    common = ["train", "algo=sft", "env=guess", f"algo.data=[{data}]", "algo.steps_per_iteration=1", *SMALL]
    with caplog.at_level("WARNING", logger="agentrl.trainer.sft"):
        assert main([*common, f"train.output_dir={tmp_path / 'same'}"]) == 0
        assert "other prompt settings" not in caplog.text
        assert main([*common, "env.agent.history=1", f"train.output_dir={tmp_path / 'other'}"]) == 0
    assert "history=None (this run: 1)" in caplog.text and "train with env.agent.history=null" in caplog.text


def _turn(prompt, response, reward=0.0, won=False):
    return Turn(prompt, response, [0.0] * len(response), "a", "o", reward, True, False, info={"won": won})


def _dataset(path, trajectories, split="train", env_id="agentrl/WebShop-v1"):
    writer = DatasetWriter(path, env={"id": env_id, "split": split, "config": {}}, agent={"kind": "expert"},
                           model={"name": "tiny"}, prompt={}, shard_size=2)  # fmt: skip
    writer.extend(trajectories)
    return writer.close()


def test_datasets_round_trip_merge_and_refuse_corrupt_or_foreign_files(tmp_path):
    trajectories = [Trajectory("agentrl/WebShop-v1", s, str(s), s, turns=[_turn([1, 2], [3], 1.0, True)])
                    for s in range(5)]  # fmt: skip
    path = _dataset(tmp_path / "d", trajectories)
    dataset = open_dataset(path)
    assert len(dataset) == 5 and len(dataset.manifest.shards) == 3 and dataset.manifest.seeds == [0, 1, 2, 3, 4]
    assert [t.to_dict() for t in dataset] == [t.to_dict() for t in trajectories]
    assert dataset.stats()["success"] == 1.0
    merged = open_dataset(merge_datasets([path, path], tmp_path / "m"))
    assert len(merged) == 10 and merged.manifest.sources == [str(path), str(path)]
    with pytest.raises(DatasetError, match="already holds"):
        _dataset(tmp_path / "d", trajectories)
    other = _dataset(tmp_path / "o", trajectories, env_id="agentrl/Sokoban-v0")
    with pytest.raises(DatasetError, match="env id"):
        merge_datasets([path, other], tmp_path / "x")
    shard = path / "shard-00001.jsonl"
    shard.write_text(shard.read_text().replace('"seed": 2', '"seed": 7'))
    with pytest.raises(DatasetError, match="hash"):
        open_dataset(path)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DatasetError, match="not an agentrl"):
        open_dataset(tmp_path / "foreign")
    with pytest.raises(DatasetError, match="no manifest"):
        open_dataset(tmp_path)


def test_sft_step_raises_the_log_probability_of_the_demonstrated_replies(tiny):
    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model))
    ids = tokenizer("<action>search[red shoes]</action>", add_special_tokens=False)["input_ids"]
    ids_eos = [*ids, tokenizer.eos_token_id]
    turns = [_turn(tokenizer("find red shoes", add_special_tokens=False)["input_ids"], ids_eos)]
    cfg = SupervisedConfig(micro_batch_size=1)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    first = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 1e-3)
    for _ in range(5):
        last = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 1e-3)
    assert last["sft_loss"] < first["sft_loss"] and last["token_prob"] > first["token_prob"]
    # A reply is written exactly when greedy decoding, fed the reply's own earlier tokens, writes every token of it.
    batch = turn_batch(turns, int(tokenizer.pad_token_id))
    with torch.no_grad():
        out = policy.forward_batch(batch, greedy=True)
        logits = policy.model(batch.input_ids, attention_mask=batch.attention_mask).logits[0]
    argmax = logits[len(turns[0].prompt_ids) - 1 : -1].argmax(-1).tolist()
    assert out.greedy is not None
    greedy = out.greedy[0][batch.response_mask[0].bool()].tolist()
    assert greedy == [float(a == b) for a, b in zip(argmax, ids_eos, strict=True)]
    again = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 0.0)  # measures, moves nothing
    assert again["reply_exact"] == float(argmax == ids_eos)
    assert first["reply_exact"] == 0.0  # the random tiny model does not write it
    memorised = [supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 1e-2) for _ in range(30)]
    assert memorised[-1]["reply_exact"] == 1.0  # more steps, and the model writes the whole reply


@pytest.mark.parametrize("loss_agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_sft_loss_aggregation_weighs_tokens_or_turns(tiny, loss_agg):
    """``token-mean`` weighs every reply token alike; ``seq-mean-token-mean`` every turn alike (a short click as much
    as a long query); ``seq-mean-token-sum`` sums a turn's tokens. The step's gradient is that of the loss computed
    by hand from the model's own log-probabilities, and the logged loss is the per-token mean in every mode."""
    model, tokenizer = tiny
    turns = _cache_turns(tokenizer)
    turns[0] = _turn(turns[0].prompt_ids, turns[0].response_ids * 3)  # one reply three times as long as the others
    policy = Policy(copy.deepcopy(model))
    parameters = [p for _, p in policy.trainable_named_parameters()]
    per_turn = []
    for turn in turns:  # each turn alone: -log pi(reply token | prompt, earlier reply tokens)
        ids = torch.tensor([turn.prompt_ids + turn.response_ids])
        logits = policy.model(ids).logits[0, len(turn.prompt_ids) - 1 : -1]
        per_turn.append(-torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(turn.response_ids)[:, None]))
    tokens = sum(len(t) for t in per_turn)
    expected = {
        "token-mean": sum(t.sum() for t in per_turn) / tokens,
        "seq-mean-token-mean": sum(t.mean() for t in per_turn) / len(turns),
        "seq-mean-token-sum": sum(t.sum() for t in per_turn) / len(turns),
    }[loss_agg]
    expected.backward()
    hand = [p.grad.clone() for p in parameters]
    logged = float(sum(t.detach().sum() for t in per_turn) / tokens)
    optimizer = torch.optim.SGD(parameters, lr=0.0)  # the step leaves its gradients to compare
    cfg = SupervisedConfig(micro_batch_size=2, max_grad_norm=1e9, loss_agg=loss_agg)
    stats = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 0.0)
    assert stats["sft_loss"] == pytest.approx(logged, rel=1e-5)
    for p, g in zip(parameters, hand, strict=True):
        torch.testing.assert_close(p.grad, g, atol=1e-6, rtol=1e-4)


def test_bf16_sft_steps_learn_and_keep_the_frozen_block_cache(tiny):
    """Under ``policy.mixed_precision=bf16`` supervised steps still raise the demonstrated replies' probability, and
    the frozen-block cache passes its self-check (both of its paths run in bfloat16)."""
    from agentrl.trainer.policy import LowerCache, PolicyConfig

    model, tokenizer = tiny
    turns, pad = _cache_turns(tokenizer), int(tokenizer.pad_token_id)
    policy = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=1, mixed_precision="bf16"))
    cache = LowerCache(policy, 64)
    optimizer = torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-2)
    cfg = SupervisedConfig(micro_batch_size=2)
    first = supervised_step(policy, optimizer, turns, cfg, pad, 1e-2, cache)
    for _ in range(4):
        last = supervised_step(policy, optimizer, turns, cfg, pad, 1e-2, cache)
    assert cache.enabled and len(cache) == len(turns)
    assert last["sft_loss"] < first["sft_loss"] and last["token_prob"] > first["token_prob"]


def test_bf16_from_the_command_line(tmp_path, capsys):
    """`policy.mixed_precision=bf16` reaches the run (its config records it, and the run trains to the end); a value
    that is not a choice is refused before anything loads."""
    data = tmp_path / "demos"
    assert main(["collect", "env=guess", "agent=expert", "model=tiny", "collect.episodes=2",
                 f"collect.output={data}"]) == 0  # fmt: skip
    run = tmp_path / "run"
    common = ["train", "algo=sft", "env=guess", f"algo.data=[{data}]", "algo.steps_per_iteration=2", *SMALL]
    assert main([*common, "policy.mixed_precision=bf16", f"train.output_dir={run}"]) == 0
    assert json.loads((run / "config.json").read_text())["policy"]["mixed_precision"] == "bf16"
    capsys.readouterr()
    assert main([*common, "policy.mixed_precision=fp16", f"train.output_dir={tmp_path / 'bad'}"]) != 0
    assert "policy.mixed_precision must be one of: no, bf16, auto" in capsys.readouterr().err
    # auto: the run says what it resolved to on this machine and records it in results.json
    auto = tmp_path / "auto"
    assert main([*common, "policy.mixed_precision=auto", f"train.output_dir={auto}"]) == 0
    resolved = json.loads((auto / "results.json").read_text())["mixed_precision"]
    assert resolved in {"no", "bf16"}
    assert f"policy.mixed_precision=auto: {'bf16 autocast' if resolved == 'bf16' else 'float32'}" in (
        capsys.readouterr().err
    )
    assert json.loads((run / "results.json").read_text())["mixed_precision"] == "bf16"


def test_learning_rate_schedule():
    cfg = SupervisedConfig(warmup_steps=2, schedule="cosine")
    factors = [lr_factor(step, 10, cfg) for step in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[2] == pytest.approx(1.0) and 0.1 <= factors[-1] < 0.2
    assert all(a >= b for a, b in itertools.pairwise(factors[1:]))
    assert lr_factor(5, 10, SupervisedConfig(schedule="constant")) == 1.0


def test_filtered_bc_keeps_exactly_the_top_share():
    returns = [0.0, 3.0, 1.0, 3.0, 2.0, -1.0, 0.5, 2.5, 0.0, 1.5]
    trajectories = [Trajectory("e", i, str(i), i, turns=[_turn([1], [2], r)]) for i, r in enumerate(returns)]
    assert top_share(trajectories, 0.3) == [1, 3, 7]
    assert top_share(trajectories, 0.25) == [1, 3, 7]  # ceil(2.5)
    assert top_share(trajectories, 0.1) == [1]  # a tie goes to the earlier trajectory
    assert top_share(trajectories, 0.5, min_return=2.0) == [1, 3, 4, 7]
    with pytest.raises(ValueError):
        top_share(trajectories, 0.0)
    # Tied returns (a win is 1): one episode of each task before a second of any, so that the kept wins are not
    # the copies of the batch's first task alone.
    wins = [Trajectory("e", g, str(g), g, turns=[_turn([1], [2], 1.0)]) for g in (0, 0, 0, 0, 1, 1, 2, 2)]
    assert top_share(wins, 0.3) == [0, 4, 6]
    assert top_share(wins, 0.5) == [0, 1, 4, 6]


SMALL = ["model=tiny", "train.iterations=1", "eval.episodes=2", "rollout.max_turns=3", "train.tensorboard=false"]


def test_collect_then_sft_then_rl_from_its_weights(tmp_path, capsys):
    data = tmp_path / "demos"
    assert main(["collect", "env=webshop", "agent=expert", "model=tiny", "collect.episodes=6",
                 f"collect.output={data}"]) == 0  # fmt: skip
    assert open_dataset(data).stats()["success"] == 1.0
    sft = tmp_path / "sft"
    # A reply budget the demonstrated replies do not fit in is refused before any step, saying what to set.
    code = main(["train", "algo=sft", "env=webshop", f"algo.data=[{data}]", "agent.sampling.max_new_tokens=8",
                 *SMALL, f"train.output_dir={tmp_path / 'short'}"])  # fmt: skip
    assert code == 2 and "longer than agent.sampling.max_new_tokens=8" in capsys.readouterr().err.replace("\n", " ")
    # the recipe's reply budget is SmolLM2's; the tiny model's characters need up to 143 tokens (the env block's 144)
    code = main(["train", "algo=sft", "env=webshop", f"algo.data=[{data}]", "algo.steps_per_iteration=2",
                 "algo.update.batch_size=4", "agent.sampling.max_new_tokens=144", *SMALL,
                 f"train.output_dir={sft}"])  # fmt: skip
    assert code == 0
    records = [json.loads(line) for line in (sft / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["eval", "train", "eval"] and records[1]["env_steps"] == 0
    from agentrl.trainer.checkpoint import checkpoints, load_checkpoint

    trained = load_checkpoint(checkpoints(sft)[-1])["policy"]
    rl = tmp_path / "rl"
    # the webshop recipe's warm-up settings stay in the config, and the run says they do not apply
    assert "no warm-up: algo=sft plays no rollouts" in capsys.readouterr().err.replace("\n", " ")
    code = main(["train", "algo=grpo", "env=guess", f"train.init_from={sft}", "train.iterations=0",
                 "eval.episodes=1", "model=tiny", "train.tensorboard=false", f"train.output_dir={rl}"])  # fmt: skip
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 0 and "starting from the weights of" in err and str(checkpoints(sft)[-1]) in err.replace(" ", "")
    from agentrl.agents.models import ModelConfig, load_model
    from agentrl.trainer.checkpoint import load_init_weights

    model, _ = load_model(ModelConfig(name="tiny"))
    load_init_weights(model, sft)
    own = model.state_dict()
    assert all(torch.equal(own[k.removeprefix("model.")], v) for k, v in trained.items() if k.startswith("model."))


def test_demonstration_fit_measures_what_the_step_measures_and_moves_nothing(tiny):
    from agentrl.trainer.sft import demonstration_fit

    model, tokenizer = tiny
    policy = Policy(copy.deepcopy(model))
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    turns = [_turn(encode(f"find {w} shoes"), [*encode(f"<action>search[{w}]</action>"), tokenizer.eos_token_id])
             for w in ("red", "blue", "green tall")]  # fmt: skip
    cfg = SupervisedConfig(micro_batch_size=2)
    before = copy.deepcopy(policy.state_dict())
    policy.train()
    fit = demonstration_fit(policy, turns, cfg, int(tokenizer.pad_token_id))
    assert policy.training and all(torch.equal(v, before[k]) for k, v in policy.state_dict().items())
    optimizer = torch.optim.AdamW(policy.parameters(), lr=0.0)
    step = supervised_step(policy, optimizer, turns, cfg, int(tokenizer.pad_token_id), 0.0)
    assert fit["loss"] == pytest.approx(step["sft_loss"], rel=1e-5)
    assert fit["token_prob"] == pytest.approx(step["token_prob"], rel=1e-5)
    assert fit["reply_exact"] == step["reply_exact"]


def test_sft_logs_its_fit_on_held_out_data_and_refuses_data_it_trains_on(tmp_path, capsys):
    train, held = tmp_path / "train", tmp_path / "held"
    for out, seed in ((train, 0), (held, 50)):  # WebShop: every goal's prompts differ, so no turn is shared
        assert main(["collect", "env=webshop", "agent=expert", "model=tiny", "collect.episodes=3",
                     f"collect.seed={seed}", f"collect.output={out}"]) == 0  # fmt: skip
    common = ["train", "algo=sft", "env=webshop", f"algo.data=[{train}]", "algo.steps_per_iteration=2",
              "agent.sampling.max_new_tokens=144", *SMALL]  # fmt: skip
    run = tmp_path / "run"
    assert main([*common, f"algo.heldout_data=[{held}]", f"train.output_dir={run}"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    [record] = [r for r in records if r["kind"] == "train"]
    assert {"heldout_loss", "heldout_token_prob", "heldout_reply_exact"} <= set(record)
    assert record["heldout_turns"] == open_dataset(held).manifest.turns
    # `agentrl data score` gives the same figures for the run's weights, and per turn number
    capsys.readouterr()
    assert main(["data", "score", str(held), "--init-from", str(run), "--by-turn", "--json"]) == 0
    [scored] = json.loads(capsys.readouterr().out)["datasets"]
    assert scored["loss"] == pytest.approx(record["heldout_loss"], rel=1e-4)
    assert scored["reply_exact"] == pytest.approx(record["heldout_reply_exact"])
    assert sum(g["turns"] for g in scored["by_turn"].values()) == scored["turns"] == open_dataset(held).manifest.turns
    assert main(["data", "score", str(held), "--model", "tiny"]) == 0
    assert "tiny as packaged" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="2"):  # who scores it must be said
        main(["data", "score", str(held)])
    assert "one of the arguments --init-from --model is required" in capsys.readouterr().err
    assert main(["data", "score", str(held), "--init-from", str(tmp_path / "no-run")]) == 2
    assert f"--init-from={tmp_path / 'no-run'}: no such run folder" in capsys.readouterr().err
    code = main([*common, f"algo.heldout_data=[{held},{train}]", f"train.output_dir={tmp_path / 'again'}"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 2 and "shares 3 episodes with the training data (seeds 0..2), so it is not held out" in err


def test_data_from_the_evaluation_split_or_seeds_is_refused(tmp_path, capsys):
    assert main(["collect", "env=webshop", "agent=expert", "model=tiny", "env.kwargs.split=test",
                 f"collect.output={tmp_path / 'a'}"]) == 2  # fmt: skip
    assert "split" in capsys.readouterr().err
    assert main(["collect", "env=guess", "agent=expert", "model=tiny", "collect.seed=9990", "collect.episodes=20",
                 f"collect.output={tmp_path / 'b'}"]) == 2  # fmt: skip
    assert "evaluation seeds" in capsys.readouterr().err
    leaked = _dataset(tmp_path / "c", [Trajectory("agentrl/WebShop-v1", 1, "1", 0, turns=[_turn([1], [2], 1, True)])],
                      split="test")  # fmt: skip
    code = main(["train", "algo=sft", "env=webshop", f"algo.data=[{leaked}]", *SMALL, f"train.output_dir={tmp_path}"])
    assert code == 2 and "evaluates on" in capsys.readouterr().err
    # Choosing settings on validation seeds above the test seeds: neither collecting nor training touches the test
    # seeds (10000..), though they are no longer this run's evaluation seeds.
    assert main(["collect", "env=guess", "agent=expert", "model=tiny", "collect.seed=9990", "collect.episodes=20",
                 "eval.seed=20000", f"collect.output={tmp_path / 'e'}"]) == 2  # fmt: skip
    assert "the test seeds (10000..): keep collect.seed + collect.episodes <= 10000" in capsys.readouterr().err
    on_test = _dataset(tmp_path / "f", [Trajectory("agentrl/GuessNumber-v0", 10003, "10003", 0,
                                                   turns=[_turn([1], [2], 1, True)])],
                       split=None, env_id="agentrl/GuessNumber-v0")  # fmt: skip
    common = ["train", "algo=sft", "env=guess", f"algo.data=[{on_test}]", *SMALL, f"train.output_dir={tmp_path / 'g'}"]
    assert main([*common, "eval.seed=20000"]) == 2
    assert "training seeds stay below 10000" in capsys.readouterr().err
    assert main([*common, "eval.seed=20000", "eval.train_below=30000"]) == 2
    assert "eval.train_below=30000 would train on the evaluation seeds" in capsys.readouterr().err


def test_lora_sft_weights_are_merged_into_the_next_run(tmp_path, tiny):
    from agentrl.trainer.checkpoint import load_init_weights, save_checkpoint

    model, _ = tiny
    from agentrl.trainer.policy import PolicyConfig

    lora = Policy(copy.deepcopy(model), PolicyConfig(lora=True))
    with torch.no_grad():
        for _name, p in lora.trainable_named_parameters():
            p.add_(0.01 * torch.ones_like(p))
    (tmp_path / "config.json").write_text(json.dumps({"policy": {"lora": True}}))
    save_checkpoint(tmp_path, 1, {"policy": lora.trainable_state()})
    fresh = copy.deepcopy(model)
    load_init_weights(fresh, tmp_path)
    merged = lora.merged_state_dict()
    assert all(torch.allclose(fresh.state_dict()[k], v) for k, v in merged.items())
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in merged.items())


def test_a_run_started_from_another_runs_weights_is_loaded_with_them(tmp_path, tiny, monkeypatch, caplog):
    """A run that trains the top block of a fully fine-tuned model checkpoints that block only; loading it loads
    the weights it started from first (``agentrl eval init_from`` once gave the packaged lower blocks instead)."""
    from agentrl.trainer.checkpoint import checkpoints, load_init_weights, save_checkpoint
    from agentrl.trainer.policy import PolicyConfig

    model, _ = tiny
    monkeypatch.chdir(tmp_path)
    full = Policy(copy.deepcopy(model), PolicyConfig())
    with torch.no_grad():
        for _name, p in full.trainable_named_parameters():
            p.add_(0.01)
    Path("runs/sft").mkdir(parents=True)
    Path("runs/sft/config.json").write_text(json.dumps({"train": {"init_from": "", "output_dir": "runs/sft"}}))
    save_checkpoint("runs/sft", 1, {"policy": full.trainable_state()})
    top = Policy(copy.deepcopy(full.model), PolicyConfig(train_top_layers=1))
    with torch.no_grad():
        for _name, p in top.trainable_named_parameters():
            p.add_(0.02)
    assert len(top.trainable_state()) < len(full.trainable_state())  # the lower block is not in its checkpoint
    Path("runs/rl").mkdir()
    Path("runs/rl/config.json").write_text(json.dumps({"train": {"init_from": "runs/sft", "output_dir": "runs/rl"}}))
    expected = top.model.state_dict()

    def loaded() -> dict[str, torch.Tensor]:
        fresh = copy.deepcopy(model)
        load_init_weights(fresh, "runs/rl")
        return fresh.state_dict()

    def same(state: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(state[k], v) for k, v in expected.items())

    # As the trainer writes it: the checkpoint records where its run's weights came from.
    save_checkpoint("runs/rl", 1, {"policy": top.trainable_state(), "init_from": str(checkpoints("runs/sft")[-1])})
    assert same(loaded())
    # Checkpoints written before that record, or whose record moved: the run's init_from as typed, from the folder
    # the run was started in (the run folder less its output_dir) wherever we are now.
    save_checkpoint("runs/rl", 2, {"policy": top.trainable_state(), "init_from": str(tmp_path / "moved.pt")})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    fresh = copy.deepcopy(model)
    with caplog.at_level(logging.WARNING, logger="agentrl.trainer.checkpoint"):
        load_init_weights(fresh, tmp_path / "runs/rl")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in expected.items())
    assert "moved.pt, which is gone; loading" in caplog.text  # that run may have trained on since: said
    # Without the weights it started from, loading it alone would give another model: refused, saying why.
    monkeypatch.chdir(tmp_path)
    Path("runs/sft").rename("runs/gone")
    with pytest.raises(ValueError, match=r"started from the weights of runs/sft \(train.init_from\).*not found"):
        loaded()
    # A loop of init_from settings is an error, not a recursion.
    Path("runs/gone").rename("runs/sft")
    Path("runs/sft/config.json").write_text(json.dumps({"train": {"init_from": "runs/rl", "output_dir": "runs/sft"}}))
    with pytest.raises(ValueError, match="form a loop"):
        loaded()


def _cache_turns(tokenizer):
    texts = [("find red shoes", "search[red shoes]"), ("results", "click[b0abc]"), ("buy it", "click[buy now]")]
    return [
        _turn(
            tokenizer(prompt * (i + 1), add_special_tokens=False)["input_ids"],
            [*tokenizer(f"<action>{reply}</action>", add_special_tokens=False)["input_ids"], tokenizer.eos_token_id],
        )
        for i, (prompt, reply) in enumerate(texts)
    ]


def test_frozen_lower_blocks_run_once_per_turn_and_train_the_same(tiny):
    """With the lower blocks frozen, a turn's lower-block output is computed on its first pass only, and the
    steps equal those of the whole model run every time."""
    from agentrl.trainer.policy import LowerCache, PolicyConfig, decoder_layers

    model, tokenizer = tiny
    turns, pad = _cache_turns(tokenizer), int(tokenizer.pad_token_id)
    cfg = SupervisedConfig(micro_batch_size=2)
    weights, calls = {}, {}
    for cached in (False, True):
        policy = Policy(copy.deepcopy(model), PolicyConfig(train_top_layers=1))
        assert policy.frozen_blocks() == 1
        cache = LowerCache(policy, 64 if cached else 0)
        lowest = decoder_layers(policy.model)[0]
        calls[cached] = []
        lowest.register_forward_hook(lambda *_, c=calls[cached]: c.append(1))
        optimizer = torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-2)
        for _ in range(3):
            stats = supervised_step(policy, optimizer, turns, cfg, pad, 1e-2, cache)
        weights[cached] = (policy.trainable_state(), stats["sft_loss"])
        if cached:
            assert cache.enabled and len(cache) == len(turns)
    # 3 turns in micro-batches of 2: two passes through the lowest block per step without the cache; with it, the
    # first step's two and two more to check the first pass against the whole model, then none.
    assert len(calls[False]) == 6 and len(calls[True]) == 4
    assert weights[True][1] == pytest.approx(weights[False][1], rel=1e-4)
    for name, tensor in weights[False][0].items():
        torch.testing.assert_close(weights[True][0][name], tensor, atol=1e-5, rtol=1e-4)


def test_the_lower_block_cache_turns_itself_off_where_it_would_be_wrong(tiny, caplog):
    """A model that adds learned position embeddings to ``inputs_embeds`` (GPT-2): the upper blocks cannot be fed
    the lower blocks' output, and the embeddings train; the cache notices on its first pass and stays off."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from agentrl.trainer.policy import LowerCache, PolicyConfig

    _, tokenizer = tiny
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=len(tokenizer), n_positions=256)
    policy = Policy(GPT2LMHeadModel(config), PolicyConfig(train_top_layers=1))
    turns = _cache_turns(tokenizer)
    cache = LowerCache(policy, 64)
    assert cache.enabled
    with caplog.at_level("WARNING"):
        assert cache.lower(turns, turn_batch(turns, int(tokenizer.pad_token_id))) is None
    assert not cache.enabled and len(cache) == 0 and "cache is off" in caplog.text
    optimizer = torch.optim.AdamW([p for _, p in policy.trainable_named_parameters()], lr=1e-3)
    stats = supervised_step(policy, optimizer, turns, SupervisedConfig(), int(tokenizer.pad_token_id), 1e-3, cache)
    assert stats["sft_loss"] > 0
