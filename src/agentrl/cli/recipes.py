"""Env recipes: the overrides ``agentrl train env=NAME`` starts from (``env.train_recipe``).

An env's config may say how a run on it should start (which model, a warm-up from its
expert, a schedule that fits a laptop), so that ``agentrl train env=webshop`` as typed is
a run that learns. The recipe's overrides go before the user's; a recipe override is
dropped when the user sets the same setting, a setting above it, or chooses its group
(``algo=ppo`` drops the recipe's ``algo`` and ``algo.*``).
"""

from __future__ import annotations

from collections.abc import Sequence


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~").strip()


def _group(key: str) -> str:
    return key.split(".", 1)[0].split("@", 1)[0]


def recipe_overrides(recipe: Sequence[str], overrides: Sequence[str], groups: set[str]) -> list[str]:
    """The overrides of ``recipe`` that ``overrides`` (the user's) leave in place.

    Args:
        recipe: The env's ``train_recipe``.
        overrides: What the user typed.
        groups: The config groups (``algo``, ``model``...): choosing one drops every recipe setting inside it.
    """
    mine = [k for k in (_key(o) for o in overrides) if k != "env"]  # choosing the env picks its recipe
    chosen = {k for k in mine if k in groups}
    kept = []
    for line in recipe:
        key = _key(line)
        if any(key == k or key.startswith(f"{k}.") for k in mine):
            continue
        if _group(key) in chosen:
            continue
        kept.append(line)
    return kept
