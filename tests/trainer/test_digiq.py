"""Digi-Q: TD on frozen features, Best-of-N extraction, candidate validity, the stores, and the CLI end to end."""

from __future__ import annotations

import copy
import itertools
import json

import pytest
import torch

import agentrl
from agentrl.agents.dataset import DatasetWriter
from agentrl.agents.generation import SamplingParams
from agentrl.agents.types import Trajectory, Turn
from agentrl.cli import main
from agentrl.trainer.algorithm import AlgoContext
from agentrl.trainer.batch import turn_batch
from agentrl.trainer.core_algos import best_of_n, polyak_update
from agentrl.trainer.digiq import DigiQ, DigiQConfig
from agentrl.trainer.digiq.critic import FeatureCritic, td_losses
from agentrl.trainer.digiq.data import Candidates, CandidateStore, replay_validity
from agentrl.trainer.digiq.features import FeatureStore, extractor
from agentrl.trainer.policy import Policy


def test_td_on_dataset_actions_converges_to_the_behaviour_value_on_a_chain():
    # States 0..3 in a row; the behaviour policy moves right with p = 0.7 and stays with 0.3; moving right from
    # state 3 ends the episode with reward 1. Closed form: V(3) = 0.7 / (1 - 0.3 g), V(i) = 0.7 g V(i+1) / (1 - 0.3 g).
    torch.manual_seed(0)
    gamma, p = 0.9, 0.7
    values = [0.0] * 4
    values[3] = p / (1 - (1 - p) * gamma)
    for i in (2, 1, 0):
        values[i] = p * gamma * values[i + 1] / (1 - (1 - p) * gamma)
    rows = []  # (state, action, reward, next, done), in the policy's proportions: 7 right and 3 stay per state
    for s in range(4):
        rows += [(s, 1, float(s == 3), min(s + 1, 3), s == 3)] * 7 + [(s, 0, 0.0, s, False)] * 3
    width = 8

    def one_hot(index):
        return torch.nn.functional.one_hot(torch.tensor(index), width).float()

    # Features: one-hot states for V, one-hot (state, action) pairs for Q (separate heads read them).
    state, next_state = one_hot([r[0] for r in rows]), one_hot([r[3] for r in rows])
    state_action = one_hot([2 * r[0] + r[1] for r in rows])
    reward = torch.tensor([r[2] for r in rows])
    done = torch.tensor([float(r[4]) for r in rows])
    critic = FeatureCritic(width, 32)
    target = copy.deepcopy(critic).requires_grad_(False)
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2)
    for _ in range(1500):
        optimizer.zero_grad()
        loss_q, loss_v = td_losses(critic, target, state_action, state, next_state, reward, done, gamma)
        (loss_q + loss_v).backward()
        optimizer.step()
        with torch.no_grad():
            polyak_update(target, critic, 0.1)
    with torch.no_grad():
        v1, v2 = critic.v(one_hot([0, 1, 2, 3]))
        q1, _ = critic.q(one_hot([2 * s + 1 for s in range(4)]))
    expected = torch.tensor(values)
    assert torch.allclose(v1, expected, atol=0.03) and torch.allclose(v2, expected, atol=0.03), (v1, expected)
    # Q of moving right: r + gamma V(next) (1 at the end).
    assert torch.allclose(q1, torch.tensor([gamma * values[1], gamma * values[2], gamma * values[3], 1.0]), atol=0.03)


def test_best_of_n_picks_the_argmax_advantage_and_skips_those_under_the_threshold():
    q1 = torch.tensor([[0.2, 0.9, 5.0], [0.30, 0.33, 0.1], [0.0, 0.0, 0.0]])
    q2 = torch.tensor([[0.4, 0.1, 5.0], [0.31, 0.20, 0.0], [-1.0, -1.0, -1.0]])
    v1 = torch.tensor([0.3, 0.30, 0.5])
    v2 = torch.tensor([0.1, 0.25, 0.2])
    valid = torch.tensor([[True, True, False], [True, True, True], [True, True, False]])
    choice, weight, advantage = best_of_n(q1, q2, v1, v2, valid, threshold=0.05)
    # Row 0: A = max(Q1, Q2) - max(V1, V2) = [0.1, 0.6, invalid -> 0 though its Q is 5]: candidate 1, imitated.
    assert torch.allclose(advantage[0], torch.tensor([0.1, 0.6, 0.0]))
    # Row 1: A = [0.01, 0.03, -0.2]: the best (1) does not clear 0.05: not imitated.
    assert torch.allclose(advantage[1], torch.tensor([0.01, 0.03, -0.2]), atol=1e-6)
    # Row 2: A = [-0.5, -0.5, invalid 0]: the invalid candidate's 0 is the argmax, and 0 is never imitated.
    assert choice.tolist() == [1, 1, 2] and weight.tolist() == [1.0, 0.0, 0.0]
    # A clipped advantage above 1 still counts once.
    _, weight, _ = best_of_n(torch.tensor([[9.0]]), torch.tensor([[9.0]]), torch.zeros(1), torch.zeros(1),
                             torch.tensor([[True]]), threshold=0.5)  # fmt: skip
    assert weight.tolist() == [1.0]


def _guess_trajectory(seed):
    env = agentrl.make("guess")
    observation, info = env.reset(seed=seed)
    trajectory = Trajectory("agentrl/GuessNumber-v0", seed, "", 0, initial_observation=observation)
    for action in ["5", "banana", info["expert_action"] or "3"]:
        observation, reward, terminated, truncated, info = env.step(action)
        trajectory.turns.append(Turn([1], [2], [0.0], action, observation, float(reward), terminated, truncated, info))
        if terminated:
            break
    return trajectory


def test_invalid_candidates_are_found_by_replaying_the_episode():
    trajectory = _guess_trajectory(seed=4)
    env = agentrl.make("guess")
    candidates = [["7", "no idea", "42", "Guess 3."] for _ in trajectory.turns]
    validity = replay_validity(env, trajectory, candidates, require_tag=False)
    assert validity == [[True, False, False, True]] * len(trajectory.turns)  # 42 is outside 1..10
    # A recording the env does not reproduce gives no verdict rather than a wrong one.
    trajectory.turns[0].observation_text = "something else"
    assert replay_validity(env, trajectory, candidates, require_tag=False) is None


def test_candidate_store_resumes_after_a_cut_line(tmp_path):
    store = CandidateStore(tmp_path, {"n": 2})
    store.add(
        {0: Candidates([[1], [2]], ["a", "b"], [True, False]), 1: Candidates([[3], [4]], ["c", "d"], [True, True])}
    )
    with store.path.open("a") as handle:
        handle.write('[{"step": 2, "ids": [[5]')  # what a kill mid-write leaves
    again = CandidateStore(tmp_path, {"n": 2})
    assert sorted(again.items) == [0, 1] and again[0].valid == [True, False]
    again.add({2: Candidates([[5], [6]], ["e", "f"], [False, True])})
    assert sorted(CandidateStore(tmp_path, {"n": 2}).items) == [0, 1, 2]


def test_feature_cache_is_reused_across_runs(tiny, tmp_path):
    model, tokenizer = tiny
    compute = extractor(model, 1, tokenizer.pad_token_id, 64, micro_batch_size=2, micro_batch_tokens=256)
    sequences = [[5, 6, 7], [8, 9], [5, 6, 7], [10, 11, 12, 13]]
    first = FeatureStore(tmp_path, compute, shard_rows=2)
    features = first.get(sequences)
    assert first.computed == 3 and features.shape == (4, model.config.hidden_size)
    assert torch.equal(features[0], features[2])
    # The feature is the last token's hidden state after 1 block, whatever else shares its pass.
    alone = compute([[8, 9]])
    assert torch.allclose(alone[0], features[1], atol=1e-3)

    def refuse(_sequences):
        raise AssertionError("a second run computed a feature")

    second = FeatureStore(tmp_path, refuse)
    assert torch.equal(second.get(sequences), features) and second.computed == 0


SMALL = ["model=tiny", "train.iterations=1", "eval.episodes=2", "rollout.max_turns=4", "train.tensorboard=false"]
DIGIQ = ["algo.num_candidates=3", "algo.critic_steps=5", "algo.actor_steps=1", "algo.batch_size=8",
         "algo.actor_batch_size=8", "algo.threshold=0.0", "algo.critic_lr=1e-3",
         "algo.representation.steps=2"]  # fmt: skip


def test_digiq_end_to_end_through_the_cli_and_a_second_run_computes_nothing(tmp_path):
    expert, noise = tmp_path / "expert", tmp_path / "random"
    assert main(["collect", "env=guess", "agent=expert", "model=tiny", "collect.episodes=3",
                 f"collect.output={expert}"]) == 0  # fmt: skip
    assert main(["collect", "env=guess", "agent=random", "model=tiny", "collect.episodes=3", "collect.seed=3",
                 "rollout.max_turns=4", f"collect.output={noise}"]) == 0  # fmt: skip
    data, cache = f"algo.data=[{expert},{noise}]", f"algo.cache_dir={tmp_path / 'cache'}"
    records = []
    for run in ("first", "second"):
        out = tmp_path / run
        assert main(["train", "algo=digiq", "env=guess", data, cache, *DIGIQ, *SMALL, f"train.output_dir={out}"]) == 0
        records.append([json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()])
        assert [r["kind"] for r in records[-1]] == ["eval", "train", "eval"]
        results = json.loads((out / "results.json").read_text())
        assert results["iterations_done"] == 1 and len(results["eval_seeds"]) == 2
    first, second = records[0][1], records[1][1]
    assert first["candidates_sampled"] > 0 and first["features_computed"] > 0
    assert second["candidates_sampled"] == 0 and second["features_computed"] == 0
    assert first["q_loss"] >= 0 and 0 <= first["imitated_share"] <= 1 and first["env_steps"] == 0
    # The tiny random model's one-token replies are mostly not numbers: the replay marks them invalid.
    assert 0 < first["invalid_candidates"] < 1
    assert first["q_loss"] == second["q_loss"]  # same seed, same cached inputs: the same update


def _set_head(head, bias, *, read):
    """Set a critic head (two hidden ReLU layers to a scalar) to ``relu(x[0]) + bias`` (``read``) or to ``bias``:
    hand-set values, so that the test knows every advantage."""
    with torch.no_grad():
        for layer in head:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        if read:
            head[0].weight[0, 0] = head[2].weight[0, 0] = head[4].weight[0, 0] = 1.0
        head[4].bias.fill_(bias)


def _reply_logprobs(policy, prompt, replies):
    """Teacher-forced ``log pi(reply | prompt)`` (summed over the reply's tokens) of each reply."""
    turns = [Turn(list(prompt), list(r), [], "", "", 0.0, False, False) for r in replies]
    batch = turn_batch(turns, 0)
    with torch.no_grad():
        out = policy.forward_batch(batch, 1.0)
    return (out.logprobs * batch.response_mask).sum(dim=1)


def test_the_actor_step_raises_only_the_chosen_candidates_log_prob_and_skips_states_under_the_threshold(tiny, tmp_path):
    """DigiQ.actor_step on one state with four candidates (index 0 the dataset's action): candidate 1 is the valid
    one with the best advantage, candidate 3 has a higher Q but the env cannot parse it. One step must raise
    log pi(candidate 1 | s) and raise no other candidate's even half as much; a state whose best advantage is under the
    threshold (w = 0) must leave every weight and the optimiser untouched."""
    model, tokenizer = tiny
    prompt, replies = [5, 17, 23, 9], [[30, 31], [40, 41, 42], [50, 51], [60]]
    turn = Turn(prompt, replies[0], [0.0, 0.0], "a", "b", 1.0, True, False, {})
    writer = DatasetWriter(tmp_path / "data", env={"id": "x", "split": "train", "config": {}}, agent={"kind": "expert"},
                           model={"name": "tiny"}, prompt={})  # fmt: skip
    writer.extend([Trajectory("x", 0, "", 0, initial_observation="start", turns=[turn])])
    synced = []
    policy = Policy(copy.deepcopy(model))
    ctx = AlgoContext(policy, None, None, SamplingParams(temperature=1.0), int(tokenizer.pad_token_id), 0,
                      lambda: synced.append(1), tokenizer=tokenizer)  # fmt: skip
    cfg = DigiQConfig(data=[str(writer.close())], num_candidates=4, threshold=0.05, actor_lr=1e-4, actor_batch_size=8)
    digiq = DigiQ(cfg, ctx)
    digiq.candidates = [Candidates(replies, ["a", "b", "c", "d"], [True, True, True, False])]
    for head in (digiq.critic.q1, digiq.critic.q2):
        _set_head(head, 0.0, read=True)  # Q(s, a_j) = the feature's first coordinate
    _set_head(digiq.critic.v1, 0.3, read=False)
    _set_head(digiq.critic.v2, 0.2, read=False)  # max(V1, V2) = 0.3
    width = model.config.hidden_size

    def data(q):
        state_action = torch.zeros(1, len(q), width)
        state_action[0, :, 0] = torch.tensor(q)
        return {"state": torch.zeros(1, width), "state_action": state_action,
                "valid": torch.tensor([[True, True, True, False]])}  # fmt: skip

    before = policy.trainable_state()
    # Best valid advantage 0.33 - 0.3 = 0.03 < 0.05 (the invalid candidate's 0.9 counts as A = 0): w = 0.
    stats = digiq.actor_step(data([0.3, 0.33, 0.2, 0.9]))
    assert stats["imitated_share"] == 0.0 and "actor_loss" not in stats and not synced
    after = policy.trainable_state()
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert not digiq.actor_optimizer.state  # no step was taken

    # A = [0, 0.3, -0.05, invalid -> 0]: candidate 1 is chosen and imitated.
    start = _reply_logprobs(policy, prompt, replies)
    stats = digiq.actor_step(data([0.3, 0.6, 0.25, 0.9]))
    assert stats["imitated_share"] == 1.0 and stats["chosen_dataset_action"] == 0.0 and synced == [1]
    assert stats["actor_loss"] == pytest.approx(-float(start[1]), rel=1e-5)  # -w log pi(a_j* | s), w = 1
    change = _reply_logprobs(policy, prompt, replies) - start
    assert change[1] > 1e-3, change
    others = torch.cat([change[:1], change[2:]])
    assert (others < change[1] / 2).all(), change  # none rises even half as much (seen: at most 0.11 of it)


def test_best_of_n_extraction_from_a_td_trained_critic_gets_better_with_n_on_a_contextual_bandit():
    """Performance rises with N. A contextual bandit with 8 states and 5 actions, success probabilities p(s, a)
    known exactly, the last action unparseable (reward 0, marked invalid); a random softmax behaviour policy mu.
    The double Q/V critic is trained by td_losses on 150 behaviour transitions per state (Bernoulli rewards), then
    the extracted policy plays, in each state, best_of_n's choice among N candidates drawn from mu (candidate 0, a
    behaviour action, where w = 0: the actor leaves such a state to the behaviour policy). Its true value, the mean
    of p(s, chosen) over 1000 candidate sets per state (the first N of the same 16 draws for every N), must not
    fall as N grows; at N = 1 it is the behaviour policy's; at N = 16 it closes most of the gap to the optimum."""
    states, actions, per_state = 8, 5, 150
    generator = torch.Generator().manual_seed(0)
    success = torch.rand(states, actions, generator=generator)
    success[:, -1] = 0.0
    parseable = torch.arange(actions) < actions - 1
    behaviour = torch.softmax(torch.randn(states, actions, generator=generator), dim=1)
    # The dataset: one-hot state features for V, one-hot (state, action) features for Q, as in the chain test.
    features = torch.eye(states * actions)
    state = torch.arange(states).repeat_interleave(per_state)
    action = torch.multinomial(behaviour[state], 1, generator=generator).squeeze(1)
    reward = torch.bernoulli(success[state, action], generator=generator)
    done = torch.ones(len(state))
    torch.manual_seed(0)
    critic = FeatureCritic(states * actions, 32)
    target = copy.deepcopy(critic).requires_grad_(False)
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        loss_q, loss_v = td_losses(critic, target, features[state * actions + action], features[state],
                                   features[state], reward, done, 0.95)  # fmt: skip
        (loss_q + loss_v).backward()
        optimizer.step()
        with torch.no_grad():
            polyak_update(target, critic, 0.1)

    sets = 1000
    rows = torch.arange(states).repeat_interleave(sets)
    draws = torch.multinomial(behaviour[rows], 16, replacement=True, generator=generator)
    value = {}
    with torch.no_grad():
        v1, v2 = critic.v(features[rows])
        for n in (1, 2, 4, 8, 16):
            candidates = draws[:, :n]
            q1, q2 = critic.q(features[rows[:, None] * actions + candidates])
            choice, weight, _ = best_of_n(q1, q2, v1, v2, parseable[candidates], threshold=0.05)
            played = torch.where(weight > 0, candidates.gather(1, choice[:, None]).squeeze(1), candidates[:, 0])
            value[n] = float(success[rows, played].mean())
    behaviour_value = float((behaviour * success).sum(dim=1).mean())
    best_value = float(success.max(dim=1).values.mean())
    values = [value[n] for n in (1, 2, 4, 8, 16)]
    assert all(later >= earlier - 0.01 for earlier, later in itertools.pairwise(values)), values
    assert abs(value[1] - behaviour_value) < 0.02, (value[1], behaviour_value)
    assert value[16] - value[1] > 0.6 * (best_value - behaviour_value), (values, behaviour_value, best_value)
