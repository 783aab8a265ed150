"""Checking a command's settings before any work is done: the overrides, then the values.

Every command whose settings are Hydra overrides (``train``, ``eval``, ``collect``,
``play``, ``serve-env``, ``serve-model``) composes them with
:func:`agentrl.cli.config.load`, which calls this module twice:

* :func:`check_overrides` before composing: a group option that does not exist
  (``algo=sac``) is answered with the options there are; a setting that does not exist
  (``train.iteratons=3``, also as ``+train.iteratons=3``) with the closest names; a
  value of the wrong type (``train.iterations=abc``) with the setting, the value and
  the type it takes. ``+KEY=VALUE`` adds keys only to free-form dicts (``env.kwargs``).
* :func:`check_values` after composing: each setting with a range or a set of choices
  (``rollout.group_size >= 1``, ``train.resume``) is checked, so a bad value fails in
  the first second, not after an evaluation.

Value rules live in one table keyed by (config class, field), so a rule holds wherever
that config appears (``rollout`` in train, eval and collect); a CLI module adds the
rules of its own config with :func:`add_rules`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.resources
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from agentrl.trainer.resume import RESUME_MODES

Rule = Callable[[Any], str | None]
"""What is wrong with a value ('must be at least 1'), or None when it is fine."""


def at_least(low: float) -> Rule:
    """A number >= ``low`` (None passes: an optional setting left unset)."""
    return lambda v: None if v is None or v >= low else f"must be at least {low}"


def in_unit_interval(v: Any) -> str | None:
    """A share in (0, 1]."""
    return None if 0 < v <= 1 else "must be in (0, 1]"


def one_of(*choices: str) -> Rule:
    """One of ``choices``."""
    return lambda v: None if v in choices else f"must be one of: {', '.join(choices)}"


def _executor(v: Any) -> str | None:
    from agentrl.trainer.env_pool import EXECUTORS

    return one_of(*EXECUTORS)(v)


_RULES: dict[str, dict[str, Rule]] = {}
"""``module:Qualname`` of a config class -> field -> rule. Keyed by name, so that checking ``agentrl play``'s
config does not import the trainer (and torch) for the trainer's rules."""


def add_rules(cls: type | str, **rules: Rule) -> None:
    """Check the fields of ``cls`` (a config class, or its ``module:Qualname``) by ``rules`` (field name -> rule)
    wherever a ``cls`` is composed."""
    _RULES.setdefault(cls if isinstance(cls, str) else _class_key(cls), {}).update(rules)


def rules() -> dict[str, dict[str, Rule]]:
    """Every rule: ``module:Qualname`` -> field -> rule."""
    return _RULES


def _class_key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


add_rules(
    "agentrl.trainer.rollout:RolloutConfig",
    num_envs=at_least(1),
    group_size=at_least(1),
    max_turns=at_least(1),
    waves=at_least(1),
    executor=_executor,
    mode=one_of("sync", "async"),
)
add_rules("agentrl.trainer.evaluate:EvalConfig", episodes=at_least(1))
add_rules(
    "agentrl.trainer.loop:LoopConfig",
    iterations=at_least(0),
    tasks_per_iteration=at_least(1),
    resume=one_of(*RESUME_MODES),
    checkpoint_every=at_least(0),
    keep_checkpoints=at_least(1),
    eval_every=at_least(0),
    strategy=one_of("ddp", "fsdp"),
)
add_rules(
    "agentrl.agents.generation:SamplingParams",
    max_new_tokens=at_least(1),
    temperature=at_least(0.0),
    top_p=in_unit_interval,
)
add_rules("agentrl.agents.llm_agent:AgentConfig", history=at_least(0), history_drop=at_least(1))
add_rules("agentrl.agents.models:ModelConfig", dtype=one_of("float32", "bfloat16", "float16"))
add_rules("agentrl.trainer.policy:PolicyConfig", mixed_precision=one_of("no", "bf16", "auto"))
add_rules(
    "agentrl.agents.backends:BackendConfig",
    name=one_of("hf", "openai", "vllm"),
    max_concurrency=at_least(1),
    prefix_cache_mb=at_least(0),
    dtype=lambda v: (
        None
        if v in ("", "auto", "float32", "bfloat16", "float16")
        else "must be one of: auto, float32, bfloat16, float16 (or empty: the model's own dtype)"
    ),
)
# core_algos.AGGREGATIONS and sft.SCHEDULES, spelt out so that checking a config does not import torch (a test
# keeps them equal)
LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean")
SCHEDULES = ("constant", "linear", "cosine")
add_rules(
    "agentrl.trainer.sft:SupervisedConfig",
    schedule=one_of(*SCHEDULES),
    loss_agg=one_of(*LOSS_AGGREGATIONS),
    batch_size=at_least(1),
)
add_rules("agentrl.trainer.pg:PGConfig", loss_agg=one_of(*LOSS_AGGREGATIONS))
add_rules(
    "agentrl.trainer.dagger:DAggerConfig", replay_ratio=at_least(0.0), buffer_turns=at_least(1), epochs=at_least(1)
)
add_rules("agentrl.trainer.warmup:WarmupConfig", episodes=at_least(0), heldout_episodes=at_least(0))
add_rules("agentrl.agents.scripted:ScriptedAgentConfig", kind=one_of("expert", "random"))
add_rules(
    "agentrl.envs.config:EnvConfig",
    id=lambda v: None if v and v != "???" else "must name the env: env=NAME, env=ID or env.id=ID",
    max_episode_steps=at_least(1),
)


def check_values(cfg: object) -> None:
    """Raise ``ValueError`` naming every setting of the composed ``cfg`` that breaks its rule."""
    problems = [f"{name} {what}, got {value!r}" for name, value, what in _broken(cfg, "")]
    if problems:
        raise ValueError("; ".join(problems))


def _broken(obj: Any, prefix: str) -> Iterator[tuple[str, Any, str]]:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        rule = _RULES.get(_class_key(type(obj)), {}).get(f.name)
        what = rule(value) if rule is not None else None
        if what:
            yield name, value, what
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _broken(value, f"{name}.")


# ------------------------------------------------------------------ groups
def group_options(group: str, config_dirs: Sequence[str] = ()) -> list[str]:
    """The options ``group=NAME`` offers: the packaged files of ``configs/<group>``, those of the ``--config-dir``
    folders, and config nodes stored in Hydra's ConfigStore for it (schemas and ``_``-names left out)."""
    names = set()
    packaged = importlib.resources.files("agentrl.configs").joinpath(group)
    if packaged.is_dir():
        names |= {p.name.removesuffix(".yaml") for p in packaged.iterdir() if p.name.endswith(".yaml")}
    for folder in config_dirs:
        names |= {p.stem for p in (Path(folder) / group).glob("*.yaml")}
    stored = ConfigStore.instance().repo.get(group)
    if isinstance(stored, dict):
        names |= {n.removesuffix(".yaml") for n in stored if not n.endswith("_schema.yaml")}
    return sorted(n for n in names if not n.startswith("_"))


def _hidden_option_exists(group: str, name: str, config_dirs: Sequence[str]) -> bool:
    """``_by_id`` and the like: valid to select, not listed."""
    if importlib.resources.files("agentrl.configs").joinpath(group, f"{name}.yaml").is_file():
        return True
    return any((Path(folder) / group / f"{name}.yaml").is_file() for folder in config_dirs)


GROUP_HINTS: dict[str, str] = {
    "algo": "`agentrl algos` describes each",
    "env": "or a registered env id (`agentrl envs` lists them), a gymnasium id or module:Class",
    "model": "or an HF id (org/name) or a local model folder; model.name=NAME takes any name",
}
"""What else a group takes, or where its options are described."""


def config_groups(schema: type, config_dirs: Sequence[str] = ()) -> set[str]:
    """The fields of ``schema`` that are config groups (``env``, ``model``, ``algo``, ``agent``)."""
    return {f.name for f in dataclasses.fields(schema) if group_options(f.name, config_dirs)}


def unknown_option(group: str, value: str, config_dirs: Sequence[str] = (), extra: Sequence[str] = ()) -> ValueError:
    """The error for ``group=value`` when no such option exists: the options there are, the closest first."""
    options = group_options(group, config_dirs)
    close = difflib.get_close_matches(value, [*options, *extra], n=3, cutoff=0.6)
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    hint = GROUP_HINTS.get(group, "")
    return ValueError(
        f"{group}={value}: no such {group}; {guess}choose one of: {', '.join(options)}" + (f"; {hint}" if hint else "")
    )


# --------------------------------------------------------------- overrides
def parse(overrides: Sequence[str]) -> list[Override]:
    """Hydra's parse of ``overrides`` (a syntax error becomes a ``ValueError`` naming the override)."""
    parser = OverridesParser.create()
    parsed = []
    for line in overrides:
        try:
            parsed.extend(parser.parse_overrides([line]))
        except HydraException as err:
            raise ValueError(f"cannot parse the override {line!r}: {str(err).splitlines()[0]}") from err
    return parsed


def is_group_selection(override: Override, groups: set[str]) -> bool:
    """``env=guess``-like: picks an option of a config group."""
    return override.key_or_group in groups and override.package is None and not override.is_delete()


def check_overrides(
    base: DictConfig, overrides: Sequence[Override], groups: set[str], config_dirs: Sequence[str] = ()
) -> None:
    """Check ``overrides`` against ``base`` (the config composed with the group selections alone).

    Group selections must name an option; every other override must name a setting that
    exists (``+KEY`` only inside free-form dicts) and give it a value of its type.

    Raises:
        ValueError: naming the override, what is wrong and what is valid.
    """
    for o in overrides:
        if _is_hydra(o):
            continue
        if is_group_selection(o, groups):
            value = o.value()
            if (
                isinstance(value, str)
                and value not in group_options(o.key_or_group, config_dirs)
                and not _hidden_option_exists(o.key_or_group, value, config_dirs)
            ):
                raise unknown_option(o.key_or_group, value, config_dirs)
    work = copy.deepcopy(base)
    names = list(_dotted_names(base, ""))
    for o in overrides:
        if _is_hydra(o) or is_group_selection(o, groups):
            continue
        _check_key(base, o, names)
        if o.is_delete() or o.is_sweep_override():
            continue
        value = o.value()
        if isinstance(value, str) and "${" in value:
            continue  # an interpolation: resolved (and checked) after composing
        try:
            OmegaConf.update(work, o.key_or_group, value, merge=True, force_add=o.is_add() or o.is_force_add())
        except OmegaConfBaseException as err:
            raise _type_error(base, o, err) from err


def _is_hydra(o: Override) -> bool:
    """Hydra's own settings (``hydra.searchpath``): Hydra checks them."""
    return o.key_or_group == "hydra" or o.key_or_group.startswith("hydra.")


def _check_key(base: DictConfig, o: Override, names: list[str]) -> None:
    """Raise when ``o``'s key names no setting of ``base`` (or adds one where only free-form dicts take new keys)."""
    line, key = o.input_line or o.key_or_group, o.key_or_group
    node: Any = base
    parts = key.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[:i])
        if isinstance(node, ListConfig) or (isinstance(node, DictConfig) and node._is_none()):
            return  # list items and unset nodes: Hydra's own check
        if not isinstance(node, DictConfig):
            raise ValueError(f"{line}: {where} is a single value, it has no setting {part!r}")
        schema = OmegaConf.get_type(node)
        structured = dataclasses.is_dataclass(schema)
        if part in node.keys():  # (`in node` is False for a required value not yet given)
            node = node._get_node(part)
            continue
        if structured:
            adding = " (+KEY=VALUE adds keys only to free-form dicts such as env.kwargs)" if o.is_add() else ""
            raise ValueError(f"{line}: no setting {key}{adding}; " + _suggest(key, node, names))
        if o.is_add() or o.is_force_add() or o.is_delete():
            return  # a new key of a free-form dict (env.kwargs)
        keys = ", ".join(str(k) for k in node) or "none"
        raise ValueError(f"{line}: {where} has no key {part!r} (it has: {keys}); add one with +{key}=...")


def _suggest(key: str, node: DictConfig, names: list[str]) -> str:
    """Did-you-mean for an unknown ``key``, else the settings of the node it was looked up in."""
    last = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.75)
    by_last = {n.rsplit(".", 1)[-1]: n for n in names}
    close += [by_last[m] for m in difflib.get_close_matches(last, list(by_last), n=3, cutoff=0.75)]
    close = [n for n in dict.fromkeys(close) if not key.startswith(f"{n}.")][:3]
    if close:
        return f"did you mean {' or '.join(close)}?"
    here = key.rsplit(".", 1)[0] if "." in key else ""
    fields = ", ".join(str(k) for k in node)
    return f"{here + ' has' if here else 'the settings are'}: {fields}"


def _dotted_names(node: Any, prefix: str) -> Iterator[str]:
    if not isinstance(node, DictConfig) or node._is_none():
        return
    for k in node.keys():
        name = f"{prefix}{k!s}"
        yield name
        yield from _dotted_names(node._get_node(k), f"{name}.")


def _type_error(base: DictConfig, o: Override, err: OmegaConfBaseException) -> ValueError:
    """``train.iterations=abc: train.iterations takes an int, not 'abc'``."""
    from agentrl.cli.help import field_docs, type_name

    key, value = o.key_or_group, o.value()
    parent_key, _, leaf = key.rpartition(".")
    try:
        parent = OmegaConf.select(base, parent_key) if parent_key else base
        schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
    except OmegaConfBaseException:
        schema = None
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        try:
            hint: Any = typing.get_type_hints(schema).get(leaf)
        except Exception:  # an annotation only importable under TYPE_CHECKING
            hint = None
        if hint is not None:
            doc = field_docs(schema).get(leaf, "")
            return ValueError(
                f"{o.input_line}: {key} takes {type_name(hint)}, not {value!r}" + (f" ({key}: {doc})" if doc else "")
            )
    reason = str(err).splitlines()[0]
    return ValueError(f"{o.input_line}: {reason}")


def hydra_message(err: Exception) -> str:
    """A Hydra/OmegaConf error without the config search path, with the reason a merge failed."""
    text = str(err).split("\nConfig search path:")[0].strip()
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause).splitlines()[0] not in text:
        text += f": {str(cause).splitlines()[0]}"
    return text
