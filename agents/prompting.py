"""Prompts for text envs, built from token-id segments so nothing is re-tokenized.

A multi-turn prompt is ``system block + (user block, response, closing)* + user block``.
The chat template is rendered once with marker strings to learn its pieces (how a
user message opens and closes, how an assistant turn ends); afterwards each
observation is tokenized once, and each response enters the next prompt as the exact
ids the model produced. So ``prompt[t+1]`` starts with ``prompt[t] + response[t]``
whenever the history window keeps every turn.

A prompt never holds more than its token budget (``max_tokens``, the agent's
``max_prompt_tokens``): the system message (instructions and task) and the latest
observation are always kept, and past turns are left out oldest first. A system
message over half the budget, or an observation too long for what the system message
leaves, is cut in the middle with a visible marker. The prompt is a function of the
episode alone, so datasets that record its ids stay reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_INSTRUCTIONS = "You are an agent acting in a text environment. Reply with exactly one action."
"""The system prompt's base for an env that gives no ``info["instructions"]``."""
THINK_SUFFIX = " First think step by step inside <think>...</think>, then give the action inside <action>...</action>."
ACTION_SUFFIX = " Put the action inside <action>...</action>."
_MARK = ("\u241e1\u241e", "\u241e2\u241e")  # record-separator glyphs: no template emits them
MIN_PROMPT_TOKENS = 128
"""The smallest prompt budget: room for a cut system message, a cut observation and the cut markers."""
_UNKNOWN_LENGTH = 10**9  # transformers writes a huge sentinel in model_max_length when it does not know


def context_length(tokenizer: Any) -> int | None:
    """The model's context length as its tokenizer records it (``model_max_length``), or None when unknown.

    :func:`agentrl.agents.models.load_model` and ``load_tokenizer`` set it from the model's config.
    """
    length = getattr(tokenizer, "model_max_length", None)  # a fake tokenizer may not have one
    return int(length) if isinstance(length, int) and 0 < length < _UNKNOWN_LENGTH else None


def cut_middle(text: str, fits: Callable[[str], bool]) -> str:
    """``text``, or as much of its beginning and end as ``fits`` accepts around a marker saying what was cut.

    Raises ValueError when not even the marker fits.
    """
    if fits(text):
        return text

    def shortened(keep: int) -> str:
        head, tail = text[: (keep + 1) // 2], text[len(text) - keep // 2 :]
        return f"{head}\n[... {len(text) - keep} characters cut to fit the context ...]\n{tail}"

    if not fits(shortened(0)):
        raise ValueError("the prompt budget cannot hold even a cut message: raise agent.max_prompt_tokens")
    low, high = 0, len(text) - 1  # the longest kept length that fits; low always fits
    while low < high:
        middle = (low + high + 1) // 2
        if fits(shortened(middle)):
            low = middle
        else:
            high = middle - 1
    return shortened(low)


@dataclass
class PromptStats:
    """What prompt budgets cost: counts over prompts (and the episodes they belong to)."""

    episodes: int = 0
    """Episodes counted (an agent adds an episode's counts when it ends)."""
    prompts: int = 0
    """Prompts built."""
    tokens: int = 0
    """Their tokens, summed."""
    tokens_max: int = 0
    """The longest prompt."""
    cut_prompts: int = 0
    """Prompts that left out a past turn the history window would have kept."""
    truncated_turns: int = 0
    """Past turns left out for the budget, summed over prompts."""
    truncated_observations: int = 0
    """Observations cut in the middle (too long for the budget on their own)."""
    truncated_system: int = 0
    """System messages cut in the middle (over half the budget)."""

    def add(self, other: PromptStats) -> None:
        """Count ``other``'s prompts in these."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(mine, theirs) if f.name == "tokens_max" else mine + theirs)

    def record(self) -> dict[str, float]:
        """The figures a log wants (``prompt/...``)."""
        n = max(self.prompts, 1)
        return {
            "prompt/tokens_mean": self.tokens / n,
            "prompt/tokens_max": float(self.tokens_max),
            "prompt/cut_share": self.cut_prompts / n,
            "prompt/truncated_turns": float(self.truncated_turns),
            "prompt/truncated_observations": float(self.truncated_observations + self.truncated_system),
        }


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
        history_drop: Oldest turns leaving a full history window at once (1: it slides every turn).
        eos_ids: Tokens that end an assistant turn.
        max_tokens: The prompt's token budget (None: unbounded); at least :data:`MIN_PROMPT_TOKENS`.
    """

    tokenizer: Any
    system: str
    pieces: ChatPieces
    history: int | None = None
    history_drop: int = 1
    eos_ids: frozenset[int] = frozenset()
    max_tokens: int | None = None
    stats: PromptStats = field(default_factory=PromptStats)
    """This episode's counts (prompts counted by :meth:`next_prompt`)."""
    actions: list[str] | None = None
    """The admissible actions the env listed with the latest observation (None: it listed none)."""
    _head: list[int] = field(default_factory=list)
    _turns: list[tuple[list[int], list[int], list[int]]] = field(default_factory=list)
    _pending: list[int] = field(default_factory=list)
    _pending_past: list[int] | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < MIN_PROMPT_TOKENS:
            raise ValueError(f"a prompt budget of {self.max_tokens} tokens is below {MIN_PROMPT_TOKENS}")

        def render(system: str) -> list[int]:
            return self._ids(
                self.tokenizer.apply_chat_template([{"role": "system", "content": system}], tokenize=False)
            )

        if self.max_tokens is not None:
            # Instructions longer than half the budget keep their start and end (the task is last).
            limit = self.max_tokens // 2
            system = cut_middle(self.system, lambda text: len(render(text)) <= limit)
            self.stats.truncated_system += int(system != self.system)
            self.system = system
        self._head = render(self.system)

    def _ids(self, text: str) -> list[int]:
        # verbose=False: a long observation is measured here before it is cut, which is no error
        return list(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def observe(self, text: str, past: str | None = None) -> bool:
        """Add a user message (an observation) that the next prompt ends with; True when it had to be cut.

        ``past`` is the message as later prompts show it, once it is a past turn (None: ``text`` itself), e.g. the
        observation without its list of admissible actions."""

        def wrap(body: str) -> list[int]:
            return self._ids(self.pieces.user_prefix + body + self.pieces.user_suffix)

        if self.max_tokens is None:
            self._pending = wrap(text)
            self._pending_past = wrap(past) if past is not None else None
            return False
        room = self.max_tokens - len(self._head)
        kept = cut_middle(text, lambda body: len(wrap(body)) <= room)
        self._pending = wrap(kept)
        self._pending_past = wrap(cut_middle(past, lambda body: len(wrap(body)) <= room)) if past is not None else None
        self.stats.truncated_observations += int(kept != text)
        return kept != text

    def _window(self) -> list[tuple[list[int], list[int], list[int]]]:
        if self.history == 0:
            return []
        if self.history is None or len(self._turns) <= self.history:
            return self._turns
        # The window's start moves in steps of history_drop, so it stays put for that many turns.
        drop = min(max(self.history_drop, 1), self.history)
        start = -(-(len(self._turns) - self.history) // drop) * drop
        return self._turns[start:]

    def _build(self) -> tuple[list[int], int]:
        """The prompt and how many turns of the history window the budget left out."""
        window = self._window()
        sizes = [len(user) + len(response) + len(closing) for user, response, closing in window]
        total = len(self._head) + sum(sizes) + len(self._pending)
        dropped = 0
        while self.max_tokens is not None and total > self.max_tokens and dropped < len(window):
            total -= sizes[dropped]  # the oldest turn goes first
            dropped += 1
        ids = list(self._head)
        for user, response, closing in window[dropped:]:
            ids += user + response + closing
        return ids + self._pending, dropped

    def prompt_ids(self) -> list[int]:
        """The tokens the model is conditioned on now (never more than ``max_tokens``)."""
        return self._build()[0]

    def next_prompt(self) -> tuple[list[int], int]:
        """:meth:`prompt_ids` for a generation, counted in :attr:`stats`; also returns the turns left out."""
        ids, dropped = self._build()
        stats = self.stats
        stats.prompts += 1
        stats.tokens += len(ids)
        stats.tokens_max = max(stats.tokens_max, len(ids))
        stats.cut_prompts += int(dropped > 0)
        stats.truncated_turns += dropped
        return ids, dropped

    def reply(self, response_ids: list[int]) -> None:
        """Record the model's reply to the pending message (its ids, verbatim)."""
        closing = self.pieces.closing
        if response_ids and response_ids[-1] in self.eos_ids:
            # The model already emitted the end-of-turn token: keep only what follows it.
            end_text = self.tokenizer.decode([response_ids[-1]])
            closing = closing[len(end_text) :] if closing.startswith(end_text) else closing
        user = self._pending if self._pending_past is None else self._pending_past
        self._turns.append((user, list(response_ids), self._ids(closing) if closing else []))
        self._pending, self._pending_past = [], None
