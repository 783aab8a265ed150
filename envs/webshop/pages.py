"""A WebShop page as a list of elements, and its text observations.

The shop describes every page once, as :class:`Element` s in reading order; the text
env renders them in the original's observation modes and the web app renders the same
elements as HTML, so what a text agent reads and what a browser shows cannot drift
apart.

* ``text`` (the original's ``text`` mode, used by ReAct and verl-agent): the visible
  texts joined by `` [SEP] ``;
* ``text_rich``: buttons as ``[button] X [button_]``, chosen options and visited products
  as ``[clicked button] X [clicked button_]``, a line per element, and "You have clicked
  X." at the top for each chosen option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ElementKind = Literal["heading", "text", "button", "search", "product", "option_group", "option"]
OBSERVATION_MODES = ("text", "text_rich")


@dataclass(frozen=True)
class Element:
    """One visible thing on a page."""

    kind: ElementKind
    """``heading``/``text`` (plain text), ``button``, ``search`` (the search box and its button),
    ``product`` (a product link: the ASIN), ``option_group`` (an option's name), ``option`` (a value)."""
    text: str
    """What the page shows."""
    clicked: bool = False
    """A chosen option value, or a product visited in this episode."""
    group: str = ""
    """For ``option``: the option's name."""

    @property
    def clickable(self) -> bool:
        """Whether ``click[<text>]`` acts on it."""
        return self.kind in ("button", "product", "option")

    @property
    def label(self) -> str:
        """The ``click[...]`` argument that names it (the text, lower-cased)."""
        return self.text.lower()


def render_text(elements: list[Element]) -> str:
    """The ``text`` observation: visible texts joined by `` [SEP] ``."""
    return " [SEP] ".join(e.text for e in elements)


def render_text_rich(elements: list[Element]) -> str:
    """The ``text_rich`` observation: buttons and chosen options marked, one element per line."""
    header = ""
    lines = []
    for e in elements:
        if e.kind in ("button", "search"):
            line = f"[button] {e.text} [button_]"
        elif e.kind == "option":
            if e.clicked:
                line = f"  [clicked button] {e.text} [clicked button_]"
                header += f"You have clicked {e.text}.\n"
            else:
                line = f"  [button] {e.text} [button_]"
        elif e.kind == "product":
            marker = "clicked button" if e.clicked else "button"
            line = f"\n[{marker}] {e.text} [{marker}_]"
        else:
            line = f"\n{e.text} "
        lines.append(line + "\n")
    return header + "".join(lines)


def render(elements: list[Element], mode: str) -> str:
    """The observation of ``elements`` in ``mode`` (one of :data:`OBSERVATION_MODES`)."""
    if mode == "text":
        return render_text(elements)
    if mode == "text_rich":
        return render_text_rich(elements)
    raise ValueError(f"unknown WebShop observation mode {mode!r}; choose one of {', '.join(OBSERVATION_MODES)}")
