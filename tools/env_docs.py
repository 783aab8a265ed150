"""Write ``docs/envs/<name>.md`` for every env of ``configs/env/`` from the env's own code and config.

    python tools/env_docs.py            # (re)write the pages
    python tools/env_docs.py --check    # exit 1, naming the stale pages, if a page is not what the code says

A page is put together from what already documents the env, so that it cannot drift:

* ``configs/env/<name>.yaml``: the id, the constructor arguments, the episode and agent
  settings, and the command on its first line (the example);
* the registration (``agentrl envs``): the one-line description;
* the env class: its module docstring (what the env is), ``instructions`` (its actions,
  as the agent is told them), its constructor's signature and ``Args:`` docstring (the
  settings; a dataclass argument such as ``sandbox`` is expanded field by field);
* the field docs of ``EnvConfig`` and ``AgentDefaults``;
* ``docs/envs/about.yaml``: the hand-written lines the code cannot give (reward, score
  unit and range, won, expert, a longer page);
* for cheap, deterministic envs (``start: true``), the first observation of seed 0.

``tests/test_env_docs.py`` regenerates every page in memory and compares it to the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "env"
OUT = ROOT / "docs" / "envs"
ABOUT = OUT / "about.yaml"
ABOUT_KEYS = {"reward", "score", "won", "expert", "start", "more"}
SKIPPED_ARGS = {"self", "render_mode"}

_ROLE = re.compile(r":[a-z:]+:`~?([^`<]+?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")


_TAG = re.compile(r"<(/?[A-Za-z][^<>]*)>")
_CODE_SPAN = re.compile(r"(`[^`]*`)")


def markdown(doc: str) -> str:
    """A reST-flavoured docstring as Markdown (roles and double backticks simplified)."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", inspect.cleandoc(doc))
    return escape_tags(_LITERAL.sub(r"`\1`", text))


def escape_tags(text: str) -> str:
    """``text`` with what a Markdown renderer would take for HTML (``<action>``) escaped, code left alone."""
    lines = []
    for line in text.split("\n"):
        if not line.startswith("    "):  # an indented line is a code block
            parts = _CODE_SPAN.split(line)
            line = "".join(part if part.startswith("`") else _TAG.sub(r"&lt;\1&gt;", part) for part in parts)
        lines.append(line)
    return "\n".join(lines)


def env_names() -> list[str]:
    """The short names of the shipped env configs (``_by_id`` stands for third-party envs: no page)."""
    return sorted(path.stem for path in CONFIGS.glob("*.yaml") if not path.stem.startswith("_"))


def load_about() -> dict[str, dict[str, Any]]:
    """``docs/envs/about.yaml``, checked: every env has an entry with its required keys, and nothing else."""
    about = yaml.safe_load(ABOUT.read_text())
    names = env_names()
    problems = [f"no entry for {name!r}" for name in names if name not in about]
    problems += [f"entry {name!r} has no env config" for name in about if name not in names]
    for name, entry in about.items():
        problems += [f"{name}: unknown key {key!r}" for key in sorted(set(entry) - ABOUT_KEYS)]
        problems += [f"{name}: missing {key!r}" for key in ("reward", "score", "won", "expert") if key not in entry]
    if problems:
        raise ValueError(f"{ABOUT.relative_to(ROOT)}: " + "; ".join(problems))
    return about


def _title(env_id: str) -> str:
    return re.sub(r"-v\d+$", "", env_id.rsplit("/", 1)[-1])


def _value(value: Any) -> str:
    """A setting's value as it is written in an override or a YAML file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return escape_tags(text).replace("|", "\\|").replace("\n", " ")


def fenced(text: str, language: str = "text") -> list[str]:
    """``text`` as a fenced block, its fence longer than any run of backticks inside."""
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence + language, text, fence]


def _code(value: str) -> str:
    return f"`{value}`" if value else ""


def args_docs(doc: str | None) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: argument -> its text on one line."""
    docs: dict[str, str] = {}
    current, inside = None, False
    for line in inspect.cleandoc(doc or "").splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            inside = True
        elif inside and line.strip() and not line.startswith(" "):
            break  # the next section
        elif inside and line.strip():
            match = re.match(r"^ {2,8}\**(\w+)(?: \([^)]*\))?: ?(.*)$", line)
            if match and (current is None or len(line) - len(line.lstrip()) <= 4):
                current = match.group(1)
                docs[current] = match.group(2)
            elif current is not None:
                docs[current] += " " + line.strip()
    return {name: markdown(text) for name, text in docs.items()}


def _config_dataclass(hint: Any) -> type | None:
    """The dataclass of an argument typed ``SomeConfig | dict[...]`` (settable field by field from a config file)."""
    options = typing.get_args(hint)
    if not any(option is dict or typing.get_origin(option) is dict for option in options):
        return None
    for option in options:
        if isinstance(option, type) and dataclasses.is_dataclass(option):
            return option
    return None


def _field_docs(cls: type) -> dict[str, str]:
    from agentrl.cli.help import clean_doc, field_docs

    return {name: clean_doc(doc) for name, doc in field_docs(cls).items()}


def _settings_rows(cls: type, given: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, type, default, doc) of every constructor argument; ``given`` (the env file's kwargs) wins."""
    init = next(vars(klass)["__init__"] for klass in cls.__mro__ if "__init__" in vars(klass))
    signature = inspect.signature(init)
    docs = args_docs(cls.__doc__) or args_docs(init.__doc__)
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that names something not importable here: show the text
        hints = {}
    rows = []
    for name, param in signature.parameters.items():
        if name in SKIPPED_ARGS or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.annotation is param.empty:
            annotation = ""
        elif isinstance(param.annotation, str):  # `from __future__ import annotations`: the text as written
            annotation = param.annotation
        else:
            annotation = inspect.formatannotation(param.annotation)
        nested = _config_dataclass(hints.get(name))
        if nested is not None:
            rows.append((name, annotation, "", docs.get(name, "")))
            inner = {**getattr(cls, f"{name}_defaults", {}), **(given.get(name) or {})}
            inner_docs = _field_docs(nested)
            inner_hints = typing.get_type_hints(nested)
            for f in dataclasses.fields(nested):
                default = inner.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
                kind = inspect.formatannotation(inner_hints.get(f.name, f.type))
                rows.append((f"{name}.{f.name}", kind, _value(default), inner_docs.get(f.name, "")))
            continue
        if name in given:
            default = _value(given[name])
        else:
            default = "required" if param.default is param.empty else _value(param.default)
        rows.append((name, annotation, default, docs.get(name, "")))
    known = set(signature.parameters)
    rows += [(name, "", _value(value), "") for name, value in given.items() if name not in known]
    return rows


def _env_class(entry_point: Any) -> type:
    if not isinstance(entry_point, str):
        return entry_point if inspect.isclass(entry_point) else type(entry_point)
    module, _, attr = entry_point.partition(":")
    return getattr(importlib.import_module(module), attr)


def _start(name: str, multi_agent: bool) -> list[str]:
    """The first observation of seed 0, with its admissible and expert actions."""
    import agentrl

    env = agentrl.make(name)
    try:
        if multi_agent:
            env.reset(seed=0)
            seat = env.agent_selection
            observation, _, _, _, info = env.last()
            who = f" (seat `{seat}`, to move)"
        else:
            observation, info = env.reset(seed=0)
            who = ""
    finally:
        env.close()
    lines = [f'`agentrl.make("{name}").reset(seed=0)`{who}:', ""]
    if info.get("task"):
        lines += [f"Task: {info['task']}", ""]
    lines += [*fenced(str(observation).rstrip()), ""]
    actions = info.get("admissible_actions")
    if actions:
        lines.append("Admissible actions: " + ", ".join(f"`{a}`" for a in actions) + ".")
    expert = info.get("expert_action")
    lines.append(f"The expert's action: `{expert}`." if expert else "The expert has no action here.")
    return lines


def render_page(name: str, about: dict[str, Any]) -> str:
    """The Markdown page of the env of ``configs/env/<name>.yaml``."""
    from agentrl.envs.config import AgentDefaults, EnvConfig
    from agentrl.envs.registration import spec

    text = (CONFIGS / f"{name}.yaml").read_text()
    config = yaml.safe_load(text) or {}
    entry = spec(config["id"])
    cls = _env_class(entry.entry_point)
    module = sys.modules[cls.__module__]
    kwargs = dict(config.get("kwargs") or {})
    title = _title(entry.id)

    out = [
        f"<!-- Generated by tools/env_docs.py from {cls.__module__}, configs/env/{name}.yaml and "
        "docs/envs/about.yaml: edit those and rerun it, not this page. -->",
        "",
        f"# {title}",
        "",
        f"`{entry.id}`, short name `{name}`{' (multi-agent: a PettingZoo AEC env)' if entry.multi_agent else ''}: "
        f"{entry.description}.",
    ]
    if about.get("more"):
        out += ["", f"More: [{Path(about['more']).name}]({about['more']})."]
    out += ["", "## What it is", "", markdown(module.__doc__ or cls.__doc__ or "")]

    out += ["", "## Actions", ""]
    instructions = str(getattr(cls, "instructions", "") or "").strip()
    if instructions:
        out += ['What the agent is told (`info["instructions"]` at reset):', "", *fenced(instructions)]
    else:
        out.append("The env gives no instructions: the task and the observation say what to do.")
    invalid = getattr(cls, "invalid_action_reward", None)
    out += [
        "",
        "An action the env cannot parse never reaches the engine: the env answers with what went wrong and the "
        'valid forms, `info["invalid_action"]` is true'
        + (f", the reward is {invalid:g}" if isinstance(invalid, (int, float)) else "")
        + " and the episode goes on.",
    ]

    out += [
        "",
        "## Reward, score and success",
        "",
        f"- **Reward**: {about['reward']}",
        f'- **Score** (`info["score"]`): {about["score"]}',
        f'- **Won** (`info["won"]`, the success rate): {about["won"]}',
        "",
        "Scores are each env's own: compare them within an env, never across envs.",
        "",
        "## Expert",
        "",
        f'`info["expert_action"]`: {about["expert"]} `agentrl play {name} --agent expert` watches it; '
        + (
            f"`agentrl eval env={name} agent=expert` measures it."
            if not entry.multi_agent
            else "in `agentrl play` it plays the seats you leave to it."
        ),
    ]

    out += [
        "",
        "## Settings",
        "",
        f'Constructor arguments: `env.kwargs.NAME=VALUE` on the command line, `agentrl.make("{name}", NAME=VALUE)` '
        f"in Python. Defaults are `configs/env/{name}.yaml`'s where it sets them.",
        "",
        "| setting | type | default | what |",
        "|---|---|---|---|",
    ]
    for setting, kind, default, doc in _settings_rows(cls, kwargs):
        out.append(f"| `{setting}` | {_cell(_code(kind))} | {_cell(_code(default))} | {_cell(doc)} |")

    env_docs, agent_docs = _field_docs(EnvConfig), _field_docs(AgentDefaults)
    agent = {f.name: getattr(AgentDefaults(), f.name) for f in dataclasses.fields(AgentDefaults)}
    agent.update(config.get("agent") or {})
    out += ["", "Episode and agent settings (`env.NAME=VALUE`):", "", "| setting | value | what |", "|---|---|---|"]
    if not entry.multi_agent:
        steps = config.get("max_episode_steps", entry.max_episode_steps)
        out.append(f"| `max_episode_steps` | `{_value(steps)}` | {_cell(env_docs['max_episode_steps'])} |")
        split = config.get("held_out_split")
        out.append(f"| `held_out_split` | `{_value(split)}` | {_cell(env_docs['held_out_split'])} |")
    for key, value in agent.items():
        out.append(f"| `agent.{key}` | `{_value(value)}` | {_cell(agent_docs.get(key, ''))} |")

    first = text.splitlines()[0].removeprefix("#").strip()
    command, _, variants = first.partition("(")
    out += ["", "## Examples", "", "```bash", f"{command.strip():<50}# you play; type help for the commands"]
    out += [f"# {variant.strip()}" for variant in variants.rstrip(")").split(";") if variant.strip()]
    out.append(f"{f'agentrl play {name} --agent expert':<50}# watch the expert")
    if not entry.multi_agent:
        out += [
            f"{f'agentrl eval env={name} agent=expert':<50}# the expert's success and score on the evaluation seeds",
            f"{f'agentrl train env={name}':<50}# train the default model on it",
        ]
    out += ["```", "", "```python", "import agentrl", "", f'env = agentrl.make("{name}")  # or "{entry.id}"']
    if entry.multi_agent:
        out += ["env.reset(seed=0)", "observation, reward, terminated, truncated, info = env.last()"]
    else:
        out.append("observation, info = env.reset(seed=0)")
    out += ['env.step(info["expert_action"])', "```"]
    if about.get("start"):
        out += ["", "## An episode's start", "", *_start(name, entry.multi_agent)]
    return "\n".join(out).rstrip() + "\n"


def render_index(about: dict[str, dict[str, Any]]) -> str:
    """``docs/envs/README.md``: every env's page, and what its score means."""
    from agentrl.envs.registration import spec

    out = [
        "<!-- Generated by tools/env_docs.py: edit the envs, configs/env/ or docs/envs/about.yaml and rerun it. -->",
        "",
        "# Environments",
        "",
        "One page per env of `agentrl envs`: what it is, its actions, reward, score, expert, settings and an "
        "example. Each env's `info[\"score\"]` is in its own unit (Sokoban's is reward points, about 10.7 for a "
        "solved room; WebShop's runs to 100): compare scores within an env, and success rates across envs.",
        "",
        "| env | id | score |",
        "|---|---|---|",
    ]
    for name in env_names():
        env_id = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["id"]
        out.append(f"| [{name}]({name}.md) | `{spec(env_id).id}` | {_cell(about[name]['score'])} |")
    out += [
        "",
        "Longer guides: [WebShop](../webshop.md), [TextWorld, ALFWorld and ScienceWorld](../textworlds.md), "
        "[sandboxes and the sandboxed task envs](../sandboxes.md).",
    ]
    return "\n".join(out) + "\n"


def generate() -> dict[Path, str]:
    """Every page, by path: what ``docs/envs/`` must hold."""
    about = load_about()
    pages = {OUT / f"{name}.md": render_page(name, about[name]) for name in env_names()}
    pages[OUT / "README.md"] = render_index(about)
    return pages


def stale(pages: dict[Path, str]) -> list[Path]:
    """The pages whose file differs from ``pages``, and generated-looking files no env has any more."""
    changed = [path for path, text in pages.items() if not path.exists() or path.read_text() != text]
    orphans = [p for p in OUT.glob("*.md") if p not in pages and "Generated by tools/env_docs.py" in p.read_text()]
    return sorted(changed + orphans)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    pages = generate()
    outdated = stale(pages)
    if args.check:
        for path in outdated:
            print(f"out of date: {path.relative_to(ROOT)} (run python tools/env_docs.py)")
        return 1 if outdated else 0
    for path in outdated:
        if path in pages:
            path.write_text(pages[path])
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
