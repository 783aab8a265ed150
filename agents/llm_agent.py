"""``LLMAgent``: a prompt builder, a generation backend and an action parser.

The agent keeps one :class:`~agentrl.agents.prompting.Conversation` per episode and
answers a whole batch of episodes with one generation call, so N envs waiting for an
action cost one batched forward pass. A reply that holds no parseable action is sent
to the env as it is, and the env reports it as an invalid action.

Prompts never outgrow the model: each has a token budget (``max_prompt_tokens``, by
default the model's context length minus the reply's ``max_new_tokens``), within which
the oldest turns are left out first while the instructions, the task and the latest
observation stay (see :mod:`agentrl.agents.prompting`). The first time something is
left out the agent logs it, and :attr:`PromptedAgent.prompt_stats` counts it.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents import prompting
from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.parsing import parse_action
from agentrl.agents.prompting import (
    ACTION_SUFFIX,
    DEFAULT_INSTRUCTIONS,
    MIN_PROMPT_TOKENS,
    THINK_SUFFIX,
    Conversation,
    PromptStats,
    chat_pieces,
)
from agentrl.agents.types import Trajectory
from agentrl.envs.actions import normalize

logger = logging.getLogger(__name__)


@dataclass
class AgentConfig:
    """How the LLM agent prompts and samples (``agent=llm``; the env's ``agent`` block sets the defaults)."""

    history: int | None = None
    """Past turns kept in the prompt (None: the whole episode), within ``max_prompt_tokens``."""
    history_drop: int = 1
    """When the history window is full, how many of the oldest turns leave it at once (1: it slides by one turn
    every turn). More keeps each prompt a prefix of the next for that many turns, so the hf backend computes only the
    new tokens (its kept states serve the rest) while the window holds between ``history - history_drop + 1`` and
    ``history`` turns."""
    max_prompt_tokens: int | None = None
    """Most tokens a prompt may hold (None: the model's context length minus ``sampling.max_new_tokens``; set it
    lower for a server with a smaller context or to save compute). Past turns are left out oldest first; the
    instructions, the task and the latest observation always stay (cut in the middle only if they alone overflow)."""
    thinking: bool = False
    """Ask for ReAct-style ``<think>`` reasoning before an ``<action>`` tag."""
    tagged_actions: bool = True
    """Ask for the action inside ``<action>...</action>`` (untagged replies still parse)."""
    show_actions: bool = True
    """List the env's admissible actions under each observation."""
    history_actions: bool = True
    """Keep each past turn's list of admissible actions in the prompt (with ``show_actions``). False: only the latest
    observation lists them and past turns keep what was observed and done (verl-agent's prompts), so a long list is
    not repeated once per turn of the history window."""
    system_prompt: str | None = None
    """Replace the env's own instructions (``info["instructions"]``) in the system prompt."""
    repair_invalid: bool = False
    """Where the env lists its admissible actions and the reply's action is none of them, play instead the listed
    action the model itself gives the highest probability (each written as the model would reply with it, scored after
    the same prompt; at a sampling temperature, drawn from the model's distribution over the listed replies). The
    turn then holds that reply's tokens and log-probs, and :attr:`~agentrl.agents.types.Turn.repaired_from` the
    model's own text, counted as ``repaired_rate`` in evaluations. A listed template (an entry with a placeholder
    in angle brackets, as WebShop lists its search action) accepts any text in place of the placeholder and is
    never played itself. Needs the model in this process (``backend.name=hf``)."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    """Sampling settings of every generation call."""


class PromptedAgent(abc.ABC):
    """The prompt side of an LLM agent: one token-level conversation per episode.

    The system prompt is the env's instructions (``info["instructions"]`` at reset, or
    ``config.system_prompt``), how to write the action, and the task. Subclasses decide
    the replies: :class:`LLMAgent` generates them, :class:`DemonstrationAgent` writes a
    teacher's actions as the model would.

    Args:
        tokenizer: The policy's tokenizer (chat template, encode/decode).
        config: Prompting and sampling settings.
        eos_ids: End-of-turn token ids besides the tokenizer's.
        context_length: The model's context length (None: the tokenizer's ``model_max_length``, which
            :func:`~agentrl.agents.models.load_model` sets from the model's config).

    Raises:
        ValueError: ``max_prompt_tokens`` and the reply length do not fit the model's context.
    """

    def __init__(
        self,
        tokenizer: Any,
        config: AgentConfig | None = None,
        eos_ids: Iterable[int] = (),
        *,
        context_length: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.config = config or AgentConfig()
        self.pieces = chat_pieces(tokenizer)
        eos = {tokenizer.eos_token_id} | set(eos_ids)
        self.eos_ids = frozenset(int(i) for i in eos if i is not None)
        context = context_length if context_length is not None else prompting.context_length(tokenizer)
        self.max_prompt_tokens, self._budget_source = prompt_budget(self.config, context)
        """The prompt's token budget (None: unbounded, when the model's context length is unknown)."""
        self.calls = 0
        """Act calls so far (sampling seeds advance with it; checkpoints keep it)."""
        self.prompt_stats = PromptStats()
        """Prompt lengths and what budgets left out, over the episodes ended so far."""
        self._told: set[str] = set()

    def end_id(self) -> int:
        """The token that ends a demonstrated reply (the tokenizer's end of sequence)."""
        end = self.tokenizer.eos_token_id
        end = end if end is not None else min(self.eos_ids, default=None)
        if end is None:
            raise ValueError("the tokenizer has no end-of-sequence token to end a demonstrated reply with")
        return int(end)

    def reply_text(self, action: str) -> str:
        """The reply a model would write for ``action`` under this agent's prompt."""
        return f"<action>{action}</action>" if self.config.tagged_actions or self.config.thinking else action

    def demonstrated_reply(self, action: str) -> Completion:
        """``action`` written as the model would reply with it under this prompt (:meth:`reply_text`, then the end
        token), with log-probs 0: what supervised training on a teacher's action (a demonstration, a DAgger label)
        trains the model to write."""
        text = self.reply_text(action)
        ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.end_id()]
        return Completion(ids, [0.0] * len(ids), text, "stop")

    def system_prompt(self, instructions: str, task: str) -> str:
        base = self.config.system_prompt or instructions or DEFAULT_INSTRUCTIONS
        if self.config.thinking:
            base += THINK_SUFFIX
        elif self.config.tagged_actions:
            base += ACTION_SUFFIX
        return base + (f"\nYour task: {task}" if task else "")

    def format_observation(self, observation: str, info: dict[str, Any]) -> str:
        actions = info.get("admissible_actions")
        if self.config.show_actions and actions:
            return f"{observation}\nValid actions: {', '.join(actions)}"
        return observation

    def start_episode(self, start: EpisodeStart) -> Conversation:
        """A new episode's conversation, ending with the first observation."""
        conversation = Conversation(
            self.tokenizer,
            self.system_prompt(start.instructions, start.task),
            self.pieces,
            history=self.config.history,
            history_drop=self.config.history_drop,
            eos_ids=self.eos_ids,
            max_tokens=self.max_prompt_tokens,
        )
        if conversation.stats.truncated_system:
            self._tell("system", "the instructions and task take over half of the prompt budget: cut in the middle")
        self._observe(conversation, start.observation, start.info)
        return conversation

    def _observe(self, conversation: Conversation, observation: str, info: dict[str, Any]) -> None:
        actions = info.get("admissible_actions")
        conversation.actions = [str(a) for a in actions] if actions else None
        text = self.format_observation(observation, info)
        past = observation if not self.config.history_actions and text != observation else None
        if conversation.observe(text, past):
            self._tell("observation", "an observation alone overflows the prompt budget: cut in the middle")

    def _prompt(self, conversation: Conversation) -> list[int]:
        """The next prompt of ``conversation``, counted; the first one that leaves turns out is logged."""
        ids, dropped = conversation.next_prompt()
        if dropped:
            self._tell("turns", "the oldest turns are left out of prompts (counted in prompt/truncated_turns)")
        return ids

    def _tell(self, what: str, message: str) -> None:
        """Say once per agent that the budget cut something (turns: info; content the model needs: warning)."""
        if what in self._told:
            return
        self._told.add(what)
        level = logging.INFO if what == "turns" else logging.WARNING
        logger.log(level, "prompt budget of %d tokens (%s): %s", self.max_prompt_tokens, self._budget_source, message)

    @abc.abstractmethod
    def act(self, episodes: Sequence[Any]) -> list[AgentStep]:
        """One step per episode: where the replies come from is what subclasses decide."""

    def observe(self, episode: Conversation, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        """Append the reply and the env's answer to the conversation."""
        episode.reply(step.completion.token_ids)
        self._observe(episode, observation, info)

    def end_episode(self, episode: Conversation, trajectory: Trajectory) -> None:
        """Count the episode's prompts in :attr:`prompt_stats` (the trajectory holds the rest)."""
        self.prompt_stats.add(episode.stats)
        self.prompt_stats.episodes += 1

    def take_prompt_stats(self) -> dict[str, float]:
        """The ``prompt/...`` figures of the episodes ended since the last call (the trainer logs them per
        iteration)."""
        stats, self.prompt_stats = self.prompt_stats, PromptStats()
        return stats.record()

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_stats": dataclasses.asdict(self.prompt_stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])
        if "prompt_stats" in state:  # checkpoints written before prompt budgets lack them
            self.prompt_stats = PromptStats(**state["prompt_stats"])


def prompt_budget(config: AgentConfig, context: int | None) -> tuple[int | None, str]:
    """The prompt's token budget under ``config`` for a model of ``context`` tokens, and where it comes from.

    Raises ValueError when ``max_prompt_tokens`` and the reply do not fit the context, or the budget is
    too small to hold a prompt.
    """
    reply = config.sampling.max_new_tokens
    room = context - reply if context is not None else None
    if config.max_prompt_tokens is not None:
        budget, source = config.max_prompt_tokens, "agent.max_prompt_tokens"
        if room is not None and budget > room:
            raise ValueError(
                f"agent.max_prompt_tokens={budget} plus agent.sampling.max_new_tokens={reply} exceed the model's "
                f"context of {context} tokens: set agent.max_prompt_tokens to at most {room}"
            )
    elif room is not None:
        budget, source = room, f"the model's context of {context} minus {reply} for the reply"
    else:
        return None, "unbounded: the model's context length is unknown"
    if budget < MIN_PROMPT_TOKENS:
        raise ValueError(
            f"a prompt budget of {budget} tokens ({source}) is below {MIN_PROMPT_TOKENS}: "
            f"lower agent.sampling.max_new_tokens or raise agent.max_prompt_tokens"
        )
    return budget, source


ReplyScorer = Callable[[Sequence[int], Sequence[Sequence[int]], float], list[list[float]]]
"""``(prompt, replies, temperature)`` -> each reply's per-token log-probs after the prompt (the hf backend's
``score_replies``)."""

_PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_ ]*>")
"""A word in angle brackets inside a listed action: the entry is a template whose placeholder stands for any
non-empty text."""


def listed(action: str, actions: Sequence[str]) -> bool:
    """Whether ``action`` is one of the listed ``actions`` (as the envs compare commands:
    :func:`~agentrl.envs.actions.normalize`), or fills one of the listed templates (entries with a
    :data:`_PLACEHOLDER`, such as WebShop's search action), case and spacing aside."""
    mine, spaced = normalize(action), " ".join(action.split())
    for entry in actions:
        parts = _PLACEHOLDER.split(entry)
        if len(parts) == 1:
            if normalize(entry) == mine:
                return True
        elif re.fullmatch(".+".join(re.escape(" ".join(p.split())) for p in parts), spaced, re.I | re.DOTALL):
            return True
    return False


def no_scorer(backend: str) -> ValueError:
    """The refusal of ``agent.repair_invalid`` where nothing scores replies with the model (``backend`` does not
    hold it in this process)."""
    return ValueError(
        f"agent.repair_invalid scores the listed actions with the model itself, which backend {backend} does not "
        "hold in this process: use backend.name=hf, or set agent.repair_invalid=false (an env's training recipe "
        "may turn it on)"
    )


class LLMAgent(PromptedAgent):
    """An LLM policy for text envs (an :class:`~agentrl.agents.base.Agent`): replies come from a backend.

    Args:
        backend: A :class:`~agentrl.agents.generation.GenerationBackend`.
        tokenizer: The policy's tokenizer (chat template, encode/decode).
        config: Prompting and sampling settings.
        scorer: Scores replies with the policy (needed by ``config.repair_invalid``; see
            :func:`~agentrl.agents.backends.reply_scorer`).

    Raises:
        ValueError: ``config.repair_invalid`` without a ``scorer``.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        tokenizer: Any,
        config: AgentConfig | None = None,
        *,
        context_length: int | None = None,
        scorer: ReplyScorer | None = None,
    ):
        super().__init__(tokenizer, config, backend.eos_ids, context_length=context_length)
        self.backend = backend
        if self.config.repair_invalid and scorer is None:
            raise no_scorer(type(backend).__name__)
        self.scorer = scorer if self.config.repair_invalid else None

    def act(self, episodes: Sequence[Conversation]) -> list[AgentStep]:
        """One action per conversation, from one batched generation call."""
        prompts = [self._prompt(conversation) for conversation in episodes]
        params = self.config.sampling
        if params.seed is not None:
            # A fresh but reproducible seed per call: turns must not share their randomness.
            params = dataclasses.replace(params, seed=params.seed + self.calls)
        self.calls += 1
        completions = self.backend.generate(prompts, params)
        require_tag = self.config.thinking
        steps = [
            AgentStep(prompt, completion, parse_action(completion.text, require_tag=require_tag))
            for prompt, completion in zip(prompts, completions, strict=True)
        ]
        if self.scorer is not None:
            for row, (conversation, step) in enumerate(zip(episodes, steps, strict=True)):
                steps[row] = self._repaired(conversation, step, params, row)
        return steps

    def _repaired(self, conversation: Conversation, step: AgentStep, params: SamplingParams, row: int) -> AgentStep:
        """``step``, or, when its action is not among the listed ones, the listed action the model likes best."""
        actions = conversation.actions
        if not actions or listed(step.action, actions):
            return step
        choices = [a for a in dict.fromkeys(actions) if not _PLACEHOLDER.search(a)]
        replies = [self.demonstrated_reply(a) for a in choices]
        fits = [i for i, reply in enumerate(replies) if len(reply.token_ids) <= params.max_new_tokens]
        if not fits:
            return step
        assert self.scorer is not None
        scores = self.scorer(step.prompt_ids, [replies[i].token_ids for i in fits], params.temperature)
        totals = [sum(s) for s in scores]
        if params.temperature > 0:  # draw from the model's distribution restricted to the listed replies
            top = max(totals)
            weights = [math.exp(t - top) for t in totals]
            pick = random.Random(f"{params.seed}-{self.calls}-{row}").choices(range(len(fits)), weights)[0]
        else:
            pick = max(range(len(fits)), key=totals.__getitem__)
        chosen = replies[fits[pick]]
        completion = Completion(chosen.token_ids, scores[pick], chosen.text, "stop")
        return AgentStep(step.prompt_ids, completion, choices[fits[pick]], repaired_from=step.completion.text)


@dataclass
class _Demonstration:
    conversation: Conversation
    teacher: Any


class DemonstrationAgent(PromptedAgent):
    """Plays a teacher's actions (the expert, a random agent) and records them as the model would write them.

    Each turn's prompt ids are exactly what an :class:`LLMAgent` with the same tokenizer and
    config would be conditioned on, and the response ids are the teacher's action written
    as the agent asks for it (``<action>...</action>`` when tagged) followed by the
    end-of-turn token, so supervised training on the collected turns sees what a rollout
    shows the model. Log-probs are 0 (the teacher's action is certain under the data).

    Args:
        teacher: Who chooses the actions.
        tokenizer: The model's tokenizer.
        config: The prompt settings (those of the runs that will train on the data).
        eos_ids: End-of-turn token ids besides the tokenizer's (the first one ends each reply).
        context_length: The model's context length (None: the tokenizer's ``model_max_length``).
    """

    def __init__(
        self,
        teacher: Agent,
        tokenizer: Any,
        config: AgentConfig | None = None,
        eos_ids: Iterable[int] = (),
        *,
        context_length: int | None = None,
    ):
        super().__init__(tokenizer, config, eos_ids, context_length=context_length)
        self.teacher = teacher
        self.end_id()  # refuses a tokenizer without an end token before any episode

    def start_episode(self, start: EpisodeStart) -> _Demonstration:  # type: ignore[override]
        return _Demonstration(super().start_episode(start), self.teacher.start_episode(start))

    def act(self, episodes: Sequence[_Demonstration]) -> list[AgentStep]:
        self.calls += 1
        taught = self.teacher.act([e.teacher for e in episodes])
        return [
            AgentStep(self._prompt(episode.conversation), self.demonstrated_reply(step.action), step.action)
            for episode, step in zip(episodes, taught, strict=True)
        ]

    def observe(self, episode: _Demonstration, step: AgentStep, observation: str, info: dict[str, Any]) -> None:  # type: ignore[override]
        super().observe(episode.conversation, step, observation, info)
        self.teacher.observe(episode.teacher, step, observation, info)

    def end_episode(self, episode: _Demonstration, trajectory: Trajectory) -> None:  # type: ignore[override]
        super().end_episode(episode.conversation, trajectory)
        self.teacher.end_episode(episode.teacher, trajectory)
