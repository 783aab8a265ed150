"""Pulling the action out of a model's reply.

Models wrap actions in many ways. The parser tries, in order: an ``<action>...</action>``
tag (the last one), an ``Action: ...`` line, then the last non-empty line of the reply
with a ``<think>`` block removed. Whatever comes out goes to the env, which reports
it as an invalid action if it names none: parsing never raises.
"""

from __future__ import annotations

import re

_ACTION_TAG = re.compile(r"<action>(.*?)(?:</action>|$)", re.IGNORECASE | re.DOTALL)
_ACTION_LINE = re.compile(r"^\s*(?:final\s+)?action\s*[:=]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.IGNORECASE | re.DOTALL)
_MAX_ACTION_CHARS = 2000


def parse_action(reply: str, *, require_tag: bool = False) -> str:
    """The action in ``reply`` ("" when there is none).

    Args:
        reply: The model's text.
        require_tag: Accept only an ``<action>`` tag (ReAct-style prompts ask for one).
    """
    tags = _ACTION_TAG.findall(reply)
    if tags:
        return tags[-1].strip()[:_MAX_ACTION_CHARS]
    if require_tag:
        return ""
    lines = _ACTION_LINE.findall(reply)
    if lines:
        return lines[-1].strip()[:_MAX_ACTION_CHARS]
    body = _THINK.sub("", reply)
    for line in reversed(body.splitlines()):
        if line.strip():
            return line.strip()[:_MAX_ACTION_CHARS]
    return ""
