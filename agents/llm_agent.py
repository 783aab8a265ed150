"""``LLMAgent``: a prompt builder, a generation backend and an action parser.

The agent keeps one :class:`~agentrl.agents.prompting.Conversation` per episode and
answers a whole batch of episodes with one generation call, so N envs waiting for an
action cost one batched forward pass. A reply that holds no parseable action is sent
to the env as it is, and the env reports it as an invalid action.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.base import Agent, AgentStep, EpisodeStart
from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.parsing import parse_action
from agentrl.agents.prompting import ACTION_SUFFIX, DEFAULT_INSTRUCTIONS, THINK_SUFFIX, Conversation, chat_pieces
from agentrl.agents.types import Trajectory


@dataclass
class AgentConfig:
    """How the LLM agent prompts and samples (``agent=llm``; the env's ``agent`` block sets the defaults)."""

    history: int | None = None
    """Past turns kept in the prompt (None: the whole episode)."""
    thinking: bool = False
    """Ask for ReAct-style ``<think>`` reasoning before an ``<action>`` tag."""
    tagged_actions: bool = True
    """Ask for the action inside ``<action>...</action>`` (untagged replies still parse)."""
    show_actions: bool = True
    """List the env's admissible actions under each observation."""
    system_prompt: str | None = None
    """Replace the env's own instructions (``info["instructions"]``) in the system prompt."""
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
    """

    def __init__(self, tokenizer: Any, config: AgentConfig | None = None, eos_ids: Iterable[int] = ()):
        self.tokenizer = tokenizer
        self.config = config or AgentConfig()
        self.pieces = chat_pieces(tokenizer)
        eos = {tokenizer.eos_token_id} | set(eos_ids)
        self.eos_ids = frozenset(int(i) for i in eos if i is not None)
        self.calls = 0
        """Act calls so far (sampling seeds advance with it; checkpoints keep it)."""

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
            eos_ids=self.eos_ids,
        )
        conversation.observe(self.format_observation(start.observation, start.info))
        return conversation

    @abc.abstractmethod
    def act(self, episodes: Sequence[Any]) -> list[AgentStep]:
        """One step per episode: where the replies come from is what subclasses decide."""

    def observe(self, episode: Conversation, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        """Append the reply and the env's answer to the conversation."""
        episode.reply(step.completion.token_ids)
        episode.observe(self.format_observation(observation, info))

    def end_episode(self, episode: Conversation, trajectory: Trajectory) -> None:
        """Nothing to keep: the trajectory holds the episode."""
        return  # a hook: wrappers (case memory) learn here

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])


class LLMAgent(PromptedAgent):
    """An LLM policy for text envs (an :class:`~agentrl.agents.base.Agent`): replies come from a backend.

    Args:
        backend: A :class:`~agentrl.agents.generation.GenerationBackend`.
        tokenizer: The policy's tokenizer (chat template, encode/decode).
        config: Prompting and sampling settings.
    """

    def __init__(self, backend: GenerationBackend, tokenizer: Any, config: AgentConfig | None = None):
        super().__init__(tokenizer, config, backend.eos_ids)
        self.backend = backend

    def act(self, episodes: Sequence[Conversation]) -> list[AgentStep]:
        """One action per conversation, from one batched generation call."""
        prompts = [conversation.prompt_ids() for conversation in episodes]
        params = self.config.sampling
        if params.seed is not None:
            # A fresh but reproducible seed per call: turns must not share their randomness.
            params = dataclasses.replace(params, seed=params.seed + self.calls)
        self.calls += 1
        completions = self.backend.generate(prompts, params)
        require_tag = self.config.thinking
        return [
            AgentStep(prompt, completion, parse_action(completion.text, require_tag=require_tag))
            for prompt, completion in zip(prompts, completions, strict=True)
        ]


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
    """

    def __init__(self, teacher: Agent, tokenizer: Any, config: AgentConfig | None = None, eos_ids: Iterable[int] = ()):
        super().__init__(tokenizer, config, eos_ids)
        self.teacher = teacher
        end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else min(self.eos_ids, default=None)
        if end is None:
            raise ValueError("the tokenizer has no end-of-sequence token to end a demonstrated reply with")
        self.end_id = int(end)

    def reply_text(self, action: str) -> str:
        """The reply a model would write for ``action`` under this agent's prompt."""
        return f"<action>{action}</action>" if self.config.tagged_actions or self.config.thinking else action

    def start_episode(self, start: EpisodeStart) -> _Demonstration:  # type: ignore[override]
        return _Demonstration(super().start_episode(start), self.teacher.start_episode(start))

    def act(self, episodes: Sequence[_Demonstration]) -> list[AgentStep]:
        self.calls += 1
        taught = self.teacher.act([e.teacher for e in episodes])
        steps = []
        for episode, step in zip(episodes, taught, strict=True):
            text = self.reply_text(step.action)
            ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.end_id]
            completion = Completion(ids, [0.0] * len(ids), text, "stop")
            steps.append(AgentStep(episode.conversation.prompt_ids(), completion, step.action))
        return steps

    def observe(self, episode: _Demonstration, step: AgentStep, observation: str, info: dict[str, Any]) -> None:  # type: ignore[override]
        super().observe(episode.conversation, step, observation, info)
        self.teacher.observe(episode.teacher, step, observation, info)

    def end_episode(self, episode: _Demonstration, trajectory: Trajectory) -> None:  # type: ignore[override]
        self.teacher.end_episode(episode.teacher, trajectory)
