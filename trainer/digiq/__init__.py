"""Digi-Q (``algo=digiq``): offline TD Q-learning on frozen LM features, then Best-of-N policy extraction.

Bai et al., 2025, "Digi-Q: Learning Q-Value Functions for Training Device-Control Agents". Fully offline: the
data are recorded trajectories of any env (``agentrl collect``); the loop plays no rollouts and only evaluates the
extracted policy online on the held-out split (before training: the starting policy, i.e. the behaviour policy
when ``train.init_from`` is it; after: the extracted one). The stages, each resumable:

1. **Candidates** (:mod:`.data`): per state, the dataset action and ``num_candidates - 1`` replies sampled from
   the behaviour policy (the run's starting weights, at the rollout's sampling settings), stored on disk one
   trajectory at a time; the env replays each trajectory to mark the candidates it cannot parse.
2. **Stage I** (optional, ``representation.steps``; :mod:`.features`): fine-tune a copy of the starting model to
   answer "does this action change the state?" for the dataset's actions, then freeze it.
3. **Features** (:mod:`.features`): the frozen model's hidden state after ``feature_layer`` blocks at the last
   token of the prompt (V) and of prompt + reply + question (Q), cached on disk by model fingerprint and layer.
4. **Critic** (:mod:`.critic`): double Q and V MLP heads with Polyak targets (tau 0.1) trained by TD on the dataset
   actions, ``critic_steps`` per iteration.
5. **Actor**: after ``critic_warmup_iterations``, ``actor_steps`` per iteration of Best-of-N extraction
   (:func:`agentrl.trainer.core_algos.best_of_n`): ``A_j = max(Q1, Q2)(s, a_j) - max(V1, V2)(s)``, 0 for invalid
   candidates, ``j* = argmax A``, loss ``-[clip(A_j*, 0, 1) > threshold] log pi(a_j* | s)`` (the reply's summed
   token log-probs), averaged over the imitated states.

The critic, its targets, the optimisers and the sampling generators are checkpointed with the loop's checkpoints
every iteration; candidates, tuned feature model and features live in ``cache_dir`` under names made of what they
depend on, so a resumed (or a second) run reads them instead of computing them again.

Where this differs from the paper: the feature model is a frozen copy of the policy's starting model (the paper
uses a separate, larger VLM, LLaVA-1.5, whose Stage I is trained on the device-control transitions); text only (no
screenshots); the episode's last recorded turn ends it even when only the turn limit cut it (there is no prompt to
bootstrap from); the actor loss averages over the imitated states rather than the whole batch.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from agentrl.agents.dataset import DatasetError, open_dataset
from agentrl.agents.types import Trajectory
from agentrl.envs.cache import cache_dir
from agentrl.trainer.algorithm import AlgoContext, Needs, optimizer_step, register_algorithm
from agentrl.trainer.archer import actor_backward
from agentrl.trainer.core_algos import best_of_n, polyak_update
from agentrl.trainer.digiq.critic import FeatureCritic, td_losses
from agentrl.trainer.digiq.data import (
    Candidates,
    CandidateStore,
    Step,
    build_steps,
    datasets_digest,
    digest,
    sample_candidates,
)
from agentrl.trainer.digiq.features import (
    FeatureStore,
    RepresentationConfig,
    extractor,
    feature_model_key,
    representation_finetune,
    resolve_layer,
)
from agentrl.trainer.pg import make_optimizer
from agentrl.trainer.sft import check_dataset

log = logging.getLogger(__name__)

QUESTION = "\nDoes this action change the state? Answer:"


@dataclass
class DigiQConfig:
    """Digi-Q's data, features, critic and actor (defaults from the paper unless noted)."""

    name: str = "digiq"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    data: list[str] = field(default_factory=list)
    """Dataset folders (``agentrl collect``) of the run's env, collected with this run's tokenizer."""
    num_candidates: int = 16
    """N: candidates per state for Best-of-N, the dataset action included (the paper: 16)."""
    threshold: float = 0.05
    """delta: the chosen candidate is imitated when its advantage, clipped to [0, 1], exceeds this (paper:
    0.05-0.1)."""
    gamma: float = 0.95
    """Discount between turns."""
    tau: float = 0.1
    """Polyak rate of the target heads, after every critic step."""
    critic_lr: float = 1e-5
    """Learning rate of the Q/V heads (AdamW)."""
    actor_lr: float = 1e-4
    """Learning rate of the policy (AdamW)."""
    batch_size: int = 128
    """Transitions per critic step."""
    actor_batch_size: int = 128
    """States per actor step (those whose best candidate clears ``threshold`` are imitated)."""
    critic_steps: int = 100
    """Critic steps per loop iteration."""
    actor_steps: int = 4
    """Actor steps per loop iteration (after ``critic_warmup_iterations``)."""
    critic_warmup_iterations: int = 0
    """Loop iterations that train only the critic (the paper trains the critic first)."""
    max_grad_norm: float = 0.01
    """Gradient-norm clip of critic and actor (the paper's 0.01)."""
    hidden: int = 256
    """Width of the Q/V heads' hidden layers."""
    feature_layer: int = 0
    """Transformer blocks run for the features (1..the model's blocks; 0: half of them, rounded up)."""
    max_feature_tokens: int = 2048
    """Longest feature input (a longer one keeps its last tokens)."""
    question: str = QUESTION
    """Appended to prompt + reply for the Q features: the answer position is its last token (Stage I's)."""
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    """Stage I: fine-tune the feature model on the question before freezing it (steps=0: skip)."""
    cache_dir: str = ""
    """Where candidates, the Stage I model and features are kept ('' : the agentrl cache's ``digiq`` folder,
    ``$AGENTRL_CACHE/digiq``)."""
    sample_batch_size: int = 64
    """Prompts per generation call while sampling candidates."""
    feature_micro_batch_size: int = 16
    """Most sequences per forward pass of the feature model."""
    feature_micro_batch_tokens: int = 8192
    """Most tokens (rows x longest row) per forward pass of the feature model."""
    micro_batch_size: int = 8
    """Most rows per forward pass of the actor."""
    micro_batch_tokens: int = 4096
    """Most tokens (rows x longest row) per forward pass of the actor."""

    def needs(self) -> Needs:
        """Offline: its own critic and data, no rollouts."""
        return Needs(critic=True, supervised_data=True, rollouts=False)


@register_algorithm(
    "digiq", DigiQConfig, summary="Digi-Q: offline TD critic on frozen LM features, Best-of-N policy extraction"
)
class DigiQ:
    """See the module docstring.

    Args:
        cfg: Settings.
        ctx: The policy (actor, and the starting weights the behaviour candidates and features come from), the
            tokenizer, the sampling settings, the env factory (candidate validity) and the seed.
    """

    def __init__(self, cfg: DigiQConfig, ctx: AlgoContext):
        if not cfg.data:
            raise ValueError("algo=digiq needs data: algo.data=[DATASET_DIR, ...] (make one with agentrl collect)")
        if cfg.num_candidates < 1:
            raise ValueError(f"algo.num_candidates must be at least 1 (the dataset action), got {cfg.num_candidates}")
        self.cfg, self.ctx = cfg, ctx
        datasets = [open_dataset(path) for path in cfg.data]
        for dataset in datasets:
            check_dataset(dataset.manifest, ctx)
        ids = {d.manifest.env.get("id") for d in datasets}
        if len(ids) > 1:
            raise DatasetError(f"{', '.join(cfg.data)} come from different envs ({', '.join(map(str, ids))})")
        self.manifest = datasets[0].manifest
        if ctx.eval_env_id and self.manifest.env.get("id") != ctx.eval_env_id:
            raise DatasetError(
                f"{cfg.data[0]} was collected on {self.manifest.env.get('id')}, this run's env is {ctx.eval_env_id}: "
                "pass the env the data comes from (env=NAME)"
            )
        self.trajectories: list[Trajectory] = [t for d in datasets for t in d.trajectories()]
        self.steps = build_steps(self.trajectories)
        if not self.steps:
            raise DatasetError(f"{', '.join(cfg.data)} holds no turns with a prompt and a reply")
        vocab = len(ctx.tokenizer)
        if max(max(s.prompt_ids + s.action_ids) for s in self.steps) >= vocab:
            raise DatasetError(
                f"{', '.join(cfg.data)}: token ids beyond this tokenizer's vocabulary ({vocab}): the data was "
                "collected for another model; collect it with model=<this run's model>"
            )
        self.data_key = datasets_digest(datasets)
        self.root = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir("digiq")
        # The starting weights, frozen: the behaviour policy's fingerprint and the feature model.
        self.frozen = copy.deepcopy(ctx.policy.model).eval().requires_grad_(False)
        self.behaviour_key = feature_model_key(self.frozen)
        self.layer = resolve_layer(self.frozen, cfg.feature_layer)
        width = int(self.frozen.config.hidden_size)
        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed + 1)
            self.critic = FeatureCritic(width, cfg.hidden).to(ctx.policy.device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_parameters = list(self.critic.parameters())
        self.critic_optimizer = torch.optim.AdamW(self.critic_parameters, lr=cfg.critic_lr)
        self.actor_parameters = [p for _, p in ctx.policy.trainable_named_parameters()]
        self.actor_optimizer = make_optimizer(self.actor_parameters, cfg.actor_lr, 0.0)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.tensors: dict[str, torch.Tensor] | None = None
        self.stats: dict[str, float] = {}

    # ---------------------------------------------------------------- stages
    def candidate_store(self) -> CandidateStore:
        """The candidates' folder, named by the data, the behaviour model, N and the sampling settings."""
        settings = {
            "data": self.data_key,
            "behaviour": self.behaviour_key,
            "num_candidates": self.cfg.num_candidates,
            "sampling": asdict(self.ctx.sampling),
            "seed": self.ctx.seed,
        }
        return CandidateStore(self.root / "candidates" / digest(settings), {**settings, "datasets": self.cfg.data})

    def prepare(self) -> dict[str, torch.Tensor]:
        """Stages 1-3: candidates, the (tuned) feature model, every feature; read from the cache where stored."""
        cfg, ctx = self.cfg, self.ctx
        store = self.candidate_store()
        if cfg.num_candidates > 1:
            self.ctx.policy.eval()
            with torch.random.fork_rng():
                torch.manual_seed(ctx.seed)
                sample_candidates(
                    store,
                    self.steps,
                    self.trajectories,
                    ctx.sample,
                    cfg.num_candidates,
                    env_factory=ctx.env_factory,
                    env_kwargs={"split": self.manifest.env["split"]} if self.manifest.env.get("split") else {},
                    require_tag=bool((self.manifest.prompt or {}).get("thinking", False)),
                    batch_size=cfg.sample_batch_size,
                    on_trajectory=lambda done, total: log.info("candidates: %d/%d trajectories", done, total),
                )
        else:
            for index, step in enumerate(self.steps):
                if index not in store:
                    store.add({index: _own(step)})
        question = list(ctx.tokenizer(cfg.question, add_special_tokens=False)["input_ids"]) if cfg.question else []
        model = self.frozen
        if cfg.representation.steps > 0:
            answers = tuple(list(ctx.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in (" yes", " no"))
            examples = [(s.prompt_ids + s.action_ids + question, s.changed) for s in self.steps]
            stage1 = {
                "model": self.behaviour_key,
                "data": self.data_key,
                "question": cfg.question,
                "settings": asdict(cfg.representation),
                "seed": ctx.seed,
            }
            model = representation_finetune(
                self.frozen,
                examples,
                (answers[0], answers[1]),
                cfg.representation,
                ctx.pad_id,
                ctx.seed,
                self.root / "representation" / digest(stage1),
            )
        key = {"model": feature_model_key(model), "layer": self.layer, "max_tokens": cfg.max_feature_tokens}
        features = FeatureStore(
            self.root / "features" / digest(key),
            extractor(
                model,
                self.layer,
                ctx.pad_id,
                cfg.max_feature_tokens,
                cfg.feature_micro_batch_size,
                cfg.feature_micro_batch_tokens,
            ),
        )
        self.feature_store = features
        n = cfg.num_candidates
        state = features.get([s.prompt_ids for s in self.steps])
        pairs = [s.prompt_ids + ids + question for i, s in enumerate(self.steps) for ids in store[i].ids[:n]]
        state_action = features.get(pairs).view(len(self.steps), n, -1)
        self.candidates = [store[i] for i in range(len(self.steps))]
        next_index = torch.tensor([s.next_step if s.next_step is not None else i for i, s in enumerate(self.steps)])
        device = ctx.policy.device
        self.stats = {"candidates_sampled": float(store.sampled), "features_computed": float(features.computed)}
        return {
            "state": state.to(device),
            "state_action": state_action.to(device),
            "next_state": state[next_index].to(device),
            "reward": torch.tensor([s.reward for s in self.steps], device=device),
            "done": torch.tensor([float(s.done) for s in self.steps], device=device),
            "valid": torch.tensor([c.valid[:n] for c in self.candidates], device=device),
        }

    # ---------------------------------------------------------------- update
    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        """Prepare the stages (first call), then ``critic_steps`` TD steps and ``actor_steps`` Best-of-N steps."""
        if self.tensors is None:
            self.tensors = self.prepare()
        data, cfg = self.tensors, self.cfg
        stats: dict[str, list[float]] = {}
        size = len(self.steps)
        self.critic.train()
        for _ in range(cfg.critic_steps):
            rows = torch.randint(size, (min(cfg.batch_size, size),), generator=self.generator).to(data["state"].device)
            self.critic_optimizer.zero_grad(set_to_none=True)
            loss_q, loss_v = td_losses(
                self.critic,
                self.target,
                data["state_action"][rows, 0],
                data["state"][rows],
                data["next_state"][rows],
                data["reward"][rows],
                data["done"][rows],
                cfg.gamma,
            )
            (loss_q + loss_v).backward()
            optimizer_step(self.critic_optimizer, self.critic_parameters, cfg.max_grad_norm)
            with torch.no_grad():
                polyak_update(self.target, self.critic, cfg.tau)
            stats.setdefault("q_loss", []).append(float(loss_q.detach()))
            stats.setdefault("v_loss", []).append(float(loss_v.detach()))
        if iteration >= cfg.critic_warmup_iterations:
            for _ in range(cfg.actor_steps):
                for key, value in self.actor_step(data).items():
                    stats.setdefault(key, []).append(value)
        out = {key: sum(v) / len(v) for key, v in stats.items()}
        with torch.no_grad():
            v = torch.maximum(*self.critic.v(data["state"]))
        out.update(self.stats, v_mean=float(v.mean()), dataset_states=float(size))
        # Rewards that are all equal make every Q and V the same constant: no advantage can tell candidates apart.
        out["zero_signal"] = float(bool((data["reward"] == data["reward"][0]).all()))
        return out

    def actor_step(self, data: dict[str, torch.Tensor]) -> dict[str, float]:
        """One Best-of-N step on a batch of states; returns its statistics."""
        cfg = self.cfg
        size = len(self.steps)
        rows = torch.randint(size, (min(cfg.actor_batch_size, size),), generator=self.generator).tolist()
        index = torch.tensor(rows, device=data["state"].device)
        with torch.no_grad():
            q1, q2 = self.critic.q(data["state_action"][index])
            v1, v2 = self.critic.v(data["state"][index])
            choice, weight, advantage = best_of_n(q1, q2, v1, v2, data["valid"][index], cfg.threshold)
        chosen = [k for k in range(len(rows)) if weight[k] > 0]
        stats = {
            "imitated_share": len(chosen) / len(rows),
            "chosen_advantage": float(advantage.gather(1, choice[:, None]).mean()),
            "chosen_dataset_action": float((choice == 0).float().mean()),
            "invalid_candidates": float((~data["valid"][index]).float().mean()),
        }
        if not chosen:
            return stats
        prompts = [self.steps[rows[k]].prompt_ids for k in chosen]
        replies = [self.candidates[rows[k]].ids[int(choice[k])] for k in chosen]
        self.ctx.policy.train()
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss, _ = actor_backward(
            self.ctx.policy,
            prompts,
            replies,
            torch.ones(len(chosen)),
            self.ctx.pad_id,
            1.0,
            micro_batch_size=cfg.micro_batch_size,
            micro_batch_tokens=cfg.micro_batch_tokens,
        )
        stats["actor_loss"] = loss
        stats["actor_grad_norm"] = optimizer_step(self.actor_optimizer, self.actor_parameters, cfg.max_grad_norm)
        self.ctx.sync_weights()
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {
            "critic": self.critic.state_dict(),
            "target": self.target.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.target.load_state_dict(state["target"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.generator.set_state(state["generator"])


def _own(step: Step) -> Candidates:
    """A state's only candidate: the dataset action (``num_candidates=1``)."""
    return Candidates([step.action_ids], [step.action_text], [step.valid])
