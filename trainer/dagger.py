"""DAgger (``algo=dagger``): imitate the env's expert in the states the policy itself reaches.

Behaviour cloning trains on the expert's states only, so a policy that strays once (opens
the wrong product, clicks an option the page lacks) is somewhere it never saw a label for,
and errors compound (Ross, Gordon and Bagnell, 2011). DAgger lets the policy play and asks
the expert what it would have done at every state the policy visited:

1. roll out the current policy (the loop's rollouts, at its sampling settings);
2. label each turn with the env's expert action in the state the turn acted in
   (:attr:`~agentrl.agents.types.Turn.expert_action`: ``info["expert_action"]`` before
   the step), written as the model would write it under this run's prompt
   (:meth:`~agentrl.agents.llm_agent.PromptedAgent.demonstrated_reply`), with the prompt
   the policy actually saw;
3. aggregate: add the labelled turns to a buffer kept across iterations (and checkpoints),
   and take supervised steps (:class:`agentrl.trainer.sft.OnlineSupervised`) on this
   iteration's labelled turns plus ``replay_ratio`` times as many drawn uniformly from the
   earlier ones.

The policy alone plays (DAgger's mixing weight beta is 0 from the first iteration, the
usual choice when it starts from a behaviour-cloned policy: ``train.init_from`` or the
env's warm-up). Turns whose state has no expert action (the episode's end, an env without
an expert) are not labelled; an iteration with no labelled turn and an empty buffer means
the env has no expert, which is an error. ``agreement`` logs the share of turns where the
policy already did what the expert says, the on-policy imitation accuracy DAgger drives up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.llm_agent import PromptedAgent
from agentrl.agents.types import Trajectory, Turn
from agentrl.trainer.algorithm import AlgoContext, Needs, register_algorithm
from agentrl.trainer.buffers import ReplayBuffer
from agentrl.trainer.sft import OnlineSupervised, SupervisedConfig, reply_fits

logger = logging.getLogger(__name__)


@dataclass
class DAggerConfig:
    """DAgger: supervised steps on the expert's actions in the states the policy visits."""

    name: str = "dagger"
    """Algorithm name (``algo=NAME`` picks a file of ``configs/algo``)."""
    replay_ratio: float = 1.0
    """Earlier labelled turns drawn (uniformly, from the buffer) per turn labelled this iteration, trained on with
    them: the aggregation that keeps what earlier iterations taught (0: this iteration's turns only)."""
    buffer_turns: int = 5000
    """Most labelled turns kept across iterations (the oldest leave first); they go into checkpoints."""
    epochs: int = 1
    """Passes over each iteration's training turns."""
    update: SupervisedConfig = field(default_factory=SupervisedConfig)
    """Learning rate and batching (the schedule runs over the whole run)."""

    def needs(self) -> Needs:
        return Needs(replay=True)


def expert_labelled(trajectories: Sequence[Trajectory], agent: PromptedAgent) -> tuple[list[Turn], int]:
    """The turns of ``trajectories`` relabelled with the expert's action, as training turns: each keeps the prompt
    the policy saw and takes the expert's action written as the model would reply with it.

    Returns:
        The labelled turns (one per turn with an expert action), and on how many of them the policy's action was
        the expert's.
    """
    labelled, agreed = [], 0
    for trajectory in trajectories:
        for turn in trajectory.turns:
            if turn.expert_action is None or not turn.prompt_ids:
                continue
            reply = agent.demonstrated_reply(turn.expert_action)
            agreed += turn.action_text.strip() == turn.expert_action.strip()
            labelled.append(
                Turn(
                    prompt_ids=list(turn.prompt_ids),
                    response_ids=list(reply.token_ids),
                    response_logprobs=list(reply.logprobs),
                    action_text=turn.expert_action,
                    observation_text="",
                    reward=0.0,
                    terminated=False,
                    truncated=False,
                    response_text=reply.text,
                    expert_action=turn.expert_action,
                )
            )
    return labelled, agreed


@register_algorithm(
    "dagger", DAggerConfig, summary="DAgger: imitate the env's expert in the states the policy reaches (aggregated)"
)
class DAgger:
    """See the module docstring.

    Args:
        cfg: Aggregation and the supervised update.
        ctx: The policy, its rollout agent (whose prompt settings write the labels), pad id, seed (batch order and
            replay draws) and the run's length (the schedule).
    """

    def __init__(self, cfg: DAggerConfig, ctx: AlgoContext):
        if cfg.replay_ratio < 0:
            raise ValueError(f"algo.replay_ratio must be at least 0, got {cfg.replay_ratio}")
        if not isinstance(ctx.agent, PromptedAgent):
            raise ValueError(
                f"algo=dagger writes the expert's actions as the policy's replies, which needs a prompted LLM agent "
                f"(agent=llm); this run's agent is {type(ctx.agent).__name__}"
            )
        self.cfg, self.ctx, self.agent = cfg, ctx, ctx.agent
        self.buffer: ReplayBuffer[Turn] = ReplayBuffer(cfg.buffer_turns, seed=ctx.seed, item=Turn)
        self.learner = OnlineSupervised(cfg.update, cfg.epochs, ctx)
        self._told_budget = False

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        fresh, agreed = expert_labelled(trajectories, self.agent)
        labelled = len(fresh)
        if not fresh and not len(self.buffer):
            env = trajectories[0].env_id if trajectories else "the env"
            raise ValueError(
                f"algo=dagger needs the env's expert: {env} named no expert action (info['expert_action']) in any of "
                f"the {sum(len(t.turns) for t in trajectories)} states its rollouts visited; pick an env with an expert"
            )
        budget = self.ctx.sampling.max_new_tokens  # a label longer than the policy may write teaches a cut reply
        fitting = [t for t in fresh if reply_fits(t, budget)]
        if len(fitting) < len(fresh) and not self._told_budget:
            self._told_budget = True
            logger.warning(
                "%d of %d expert labels are longer than agent.sampling.max_new_tokens=%d and are left out (the "
                "policy could not write them whole); raise agent.sampling.max_new_tokens to train on them",
                len(fresh) - len(fitting),
                len(fresh),
                budget,
            )
        too_long, fresh = len(fresh) - len(fitting), fitting
        earlier = self.buffer.sample(round(self.cfg.replay_ratio * len(fresh))) if len(self.buffer) else []
        self.buffer.extend(fresh)
        turns = fresh + earlier
        stats: dict[str, float] = {
            "labelled_turns": float(labelled),
            "agreement": agreed / labelled if labelled else 0.0,
            "replayed_turns": float(len(earlier)),
            "buffer_turns": float(len(self.buffer)),
            "labels_too_long": float(too_long),
            "zero_signal": float(not turns),
        }
        if not turns:
            return stats
        stats.update(self.learner.train(turns))
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {**self.learner.state_dict(), "buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state)
        self.buffer.load_state_dict(state["buffer"])
