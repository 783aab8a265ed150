"""Matching an agent's raw utterance against a fixed set of commands.

Env actions are whatever the model wrote. These helpers normalise case, spacing and
trailing punctuation and look the result up in a table of accepted phrasings, so that
``"Go Forward."`` and ``"go forward"`` are the same action while anything else is an
invalid action rather than an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")

# Longer strings cannot be any command; skip normalising them (a 10k-character
# garbage action must cost no more than a short one).
_MAX_COMMAND_LENGTH = 200

# The valid actions an invalid action's feedback lists, in characters: the feedback stays in every later prompt
# of the episode, so an env with thousands of admissible actions must not put them all there (ALFWorld's longest
# lists, about 60 commands, fit whole).
_MAX_LISTED_CHARS = 4000


def normalize(text: str) -> str:
    """Lower-case, collapse whitespace, and strip surrounding quotes and end punctuation."""
    return " ".join(text.lower().split()).strip(" \"'`").rstrip(".!;")


class ActionTable(Generic[T]):
    """A lookup from accepted phrasings of a command to the engine's command.

    Args:
        commands: Canonical phrasing -> engine command, in the order shown to agents.
        aliases: Extra phrasings -> canonical phrasing.
    """

    def __init__(self, commands: Mapping[str, T], aliases: Mapping[str, str] | None = None):
        self.names: tuple[str, ...] = tuple(commands)
        self._lookup: dict[str, T] = {normalize(name): command for name, command in commands.items()}
        for alias, name in (aliases or {}).items():
            self._lookup[normalize(alias)] = commands[name]
        # Exact canonical strings hit the dict without normalising.
        self._exact: dict[str, T] = dict(commands)

    def match(self, text: str) -> T | None:
        """Return the command ``text`` names, or None."""
        command = self._exact.get(text)
        if command is not None or len(text) > _MAX_COMMAND_LENGTH:
            return command
        return self._lookup.get(normalize(text))

    def __iter__(self) -> Iterable[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def describe_invalid(action: object, valid: Iterable[str] | None = None) -> str:
    """A one-line explanation of an invalid action, safe to show whatever the input."""
    if not isinstance(action, str):
        shown = f"a {type(action).__name__}, not text"
    elif not action.strip():
        shown = "an empty action"
    else:
        head = action[:60]
        shown = repr(head) + ("..." if len(action) > 60 else "")
    message = f"Invalid action: {shown}."
    if valid is not None:
        listed, budget = [], _MAX_LISTED_CHARS
        actions = list(valid)
        for name in actions:
            budget -= len(name) + 2
            if budget < 0:
                break
            listed.append(name)
        rest = len(actions) - len(listed)
        more = "" if not rest else f", and {rest} more" if listed else f"{rest}, too long to list"
        message += " Valid actions: " + ", ".join(listed) + more + "."
    return message
