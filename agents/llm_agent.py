"""``LLMAgent``: a prompt builder, a generation backend and an action parser.

The agent keeps one :class:`~agentrl.agents.prompting.Conversation` per episode and
answers a whole batch of episodes with one generation call, so N envs waiting for an
action cost one batched forward pass. A reply that holds no parseable action is sent
to the env as it is, and the env reports it as an invalid action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.parsing import parse_action
from agentrl.agents.prompting import (
    ACTION_SUFFIX,
    SYSTEM_PROMPTS,
    THINK_SUFFIX,
    Conversation,
    chat_pieces,
    env_family,
)


@dataclass
class AgentConfig:
    """How the LLM agent prompts and samples."""

    history: int | None = None
    """Past turns kept in the prompt (None: the whole episode)."""
    thinking: bool = False
    """Ask for ReAct-style ``<think>`` reasoning before an ``<action>`` tag."""
    tagged_actions: bool = True
    """Ask for the action inside ``<action>...</action>`` (untagged replies still parse)."""
    show_actions: bool = True
    """List the env's admissible actions under each observation."""
    system_prompt: str | None = None
    """Override the per-env-family system prompt."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    """Sampling settings of every generation call."""


@dataclass
class AgentStep:
    """What the agent did for one episode in a batch."""

    prompt_ids: list[int]
    completion: Completion
    action: str


class LLMAgent:
    """An LLM policy for text envs.

    Args:
        backend: Anything with ``generate(prompts, params)``.
        tokenizer: The policy's tokenizer (chat template, encode/decode).
        config: Prompting and sampling settings.
    """

    def __init__(self, backend: GenerationBackend, tokenizer: Any, config: AgentConfig | None = None):
        self.backend = backend
        self.tokenizer = tokenizer
        self.config = config or AgentConfig()
        self.pieces = chat_pieces(tokenizer)
        eos = {tokenizer.eos_token_id} | set(getattr(backend, "eos_ids", set()))
        self.eos_ids = frozenset(int(i) for i in eos if i is not None)
        self._calls = 0

    def system_prompt(self, env_id: str, task: str) -> str:
        base = self.config.system_prompt or SYSTEM_PROMPTS.get(env_family(env_id), SYSTEM_PROMPTS["default"])
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

    def start(self, env_id: str, observation: str, info: dict[str, Any]) -> Conversation:
        """A new episode's conversation, ending with the first observation."""
        conversation = Conversation(
            self.tokenizer,
            self.system_prompt(env_id, str(info.get("task", ""))),
            self.pieces,
            history=self.config.history,
            eos_ids=self.eos_ids,
        )
        conversation.observe(self.format_observation(observation, info))
        return conversation

    def act(self, conversations: Sequence[Conversation]) -> list[AgentStep]:
        """One action per conversation, from one batched generation call."""
        prompts = [conversation.prompt_ids() for conversation in conversations]
        params = self.config.sampling
        if params.seed is not None:
            # A fresh but reproducible seed per call: turns must not share their randomness.
            params = SamplingParams(**{**params.__dict__, "seed": params.seed + self._calls})
        self._calls += 1
        completions = self.backend.generate(prompts, params)
        require_tag = self.config.thinking
        return [
            AgentStep(prompt, completion, parse_action(completion.text, require_tag=require_tag))
            for prompt, completion in zip(prompts, completions, strict=True)
        ]

    def record(self, conversation: Conversation, step: AgentStep, observation: str, info: dict[str, Any]) -> None:
        """Append the reply and the env's answer to the conversation."""
        conversation.reply(step.completion.token_ids)
        conversation.observe(self.format_observation(observation, info))
