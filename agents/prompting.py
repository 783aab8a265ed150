"""Prompts for text envs, built from token-id segments so nothing is re-tokenized.

A multi-turn prompt is ``system block + (user block, response, closing)* + user block``.
The chat template is rendered once with marker strings to learn its pieces (how a
user message opens and closes, how an assistant turn ends); afterwards each
observation is tokenized once, and each response enters the next prompt as the exact
ids the model produced. So ``prompt[t+1]`` starts with ``prompt[t] + response[t]``
whenever the history window keeps every turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_INSTRUCTIONS = "You are an agent acting in a text environment. Reply with exactly one action."
"""The system prompt's base for an env that gives no ``info["instructions"]``."""
THINK_SUFFIX = " First think step by step inside <think>...</think>, then give the action inside <action>...</action>."
ACTION_SUFFIX = " Put the action inside <action>...</action>."
_MARK = ("\u241e1\u241e", "\u241e2\u241e")  # record-separator glyphs: no template emits them


@dataclass
class ChatPieces:
    """The token-level pieces of a chat template."""

    user_prefix: str
    user_suffix: str
    closing: str
    """What follows an assistant's content (e.g. ``<|im_end|>\\n``)."""


def chat_pieces(tokenizer: Any) -> ChatPieces:
    """Learn how the tokenizer's chat template wraps user and assistant messages."""
    u, a = _MARK
    render = tokenizer.apply_chat_template
    system = render([{"role": "system", "content": "S"}], tokenize=False)
    with_user = render(
        [{"role": "system", "content": "S"}, {"role": "user", "content": u}], tokenize=False, add_generation_prompt=True
    )
    with_reply = render(
        [{"role": "system", "content": "S"}, {"role": "user", "content": u}, {"role": "assistant", "content": a}],
        tokenize=False,
    )
    if not with_user.startswith(system) or u not in with_user or a not in with_reply:
        raise ValueError("the tokenizer's chat template does not render messages as a growing prefix")
    user_prefix, user_suffix = with_user[len(system) :].split(u)
    before_reply = with_reply.split(a)[0]
    if not with_user.startswith(before_reply[: len(with_user)]) and not before_reply.startswith(with_user):
        raise ValueError("the tokenizer's chat template rewrites earlier messages when a reply is added")
    return ChatPieces(user_prefix, user_suffix, with_reply.split(a)[1])


@dataclass
class Conversation:
    """One episode's prompt, kept as token segments.

    Args:
        tokenizer: The policy's tokenizer.
        system: The system message.
        pieces: The template pieces (from :func:`chat_pieces`).
        history: Past turns kept in the prompt (None: all).
        eos_ids: Tokens that end an assistant turn.
    """

    tokenizer: Any
    system: str
    pieces: ChatPieces
    history: int | None = None
    eos_ids: frozenset[int] = frozenset()
    _head: list[int] = field(default_factory=list)
    _turns: list[tuple[list[int], list[int], list[int]]] = field(default_factory=list)
    _pending: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        text = self.tokenizer.apply_chat_template([{"role": "system", "content": self.system}], tokenize=False)
        self._head = self._ids(text)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def observe(self, text: str) -> None:
        """Add a user message (an observation) that the next prompt ends with."""
        self._pending = self._ids(self.pieces.user_prefix + text + self.pieces.user_suffix)

    def prompt_ids(self) -> list[int]:
        """The tokens the model is conditioned on now."""
        kept = self._turns if self.history is None else self._turns[len(self._turns) - self.history :]
        if self.history == 0:
            kept = []
        ids = list(self._head)
        for user, response, closing in kept:
            ids += user + response + closing
        return ids + self._pending

    def reply(self, response_ids: list[int]) -> None:
        """Record the model's reply to the pending message (its ids, verbatim)."""
        closing = self.pieces.closing
        if response_ids and response_ids[-1] in self.eos_ids:
            # The model already emitted the end-of-turn token: keep only what follows it.
            end_text = self.tokenizer.decode([response_ids[-1]])
            closing = closing[len(end_text) :] if closing.startswith(end_text) else closing
        self._turns.append((self._pending, list(response_ids), self._ids(closing) if closing else []))
        self._pending = []
