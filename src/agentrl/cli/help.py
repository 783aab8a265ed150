"""Settings help from config dataclasses: every field's docstring becomes a line of ``--help``.

A config field is documented by the string literal right after it in the class body::

    @dataclass
    class LoopConfig:
        iterations: int = 20
        \"\"\"Collect-and-update iterations.\"\"\"

:func:`field_docs` reads those strings from the source (:mod:`ast`), :func:`config_docs`
walks a schema into dotted names (``train.iterations``, ``algo.pg.lr``) and
:func:`settings_help` renders name, type, default and doc for the terminal. A field typed
``Any`` is a config group (``algo``) whose schema depends on the option picked; pass it in
``groups`` (``{"algo": GRPOConfig}``) to document it, or pass a composed config instance,
whose group fields are walked as they are.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import importlib.resources
import inspect
import logging
import re
import shutil
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

_MAX_DEFAULT = 60
"""Longest default shown in full (longer ones are cut with an ellipsis)."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One entry of a schema walk: a leaf setting, or the header of a nested config (``section``)."""

    name: str
    """Dotted name, as given on the command line (``algo.pg.lr``)."""
    type: str
    """Short type (``int``, ``float | None``, ``list[str]``, ``dict``, or the config class of a section)."""
    default: str
    """The default (or the given instance's value), as text; ``???`` when required."""
    doc: str
    """The field's docstring on one line ('' when undocumented)."""
    section: bool = False
    """A nested config: its leaves follow it."""
    note: str = ""
    """For a config group: which option is documented and how to pick another."""


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring of each field of ``cls`` and its base classes, cleaned to one line.

    Read from the source with :mod:`ast` (the string literal right after an annotated
    assignment in the class body); a class without readable source has no docs.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        docs.update(_own_field_docs(klass))
    return docs


@functools.cache
def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError) as err:  # built in a REPL, generated, or a C type
        logger.debug("no source for %s: %s", cls.__qualname__, err)
        return {}
    tree = ast.parse(source)
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    if node is None:
        return {}
    docs: dict[str, str] = {}
    for stmt, after in zip(node.body, [*node.body[1:], None], strict=True):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[stmt.target.id] = clean_doc(after.value.value)
    return docs


_LITERAL = re.compile(r"``(.+?)``")
_ROLE = re.compile(r":[a-z:]+:`~?([^`<]+?)(?:\s*<[^>]*>)?`")


def clean_doc(doc: str) -> str:
    """A docstring as one plain line: dedented, joined, reST roles and double backticks simplified."""
    text = " ".join(inspect.cleandoc(doc).split())
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return _LITERAL.sub(r"`\1`", text)


def config_docs(schema: type | object, *, groups: Mapping[str, type] | None = None, prefix: str = "") -> dict[str, str]:
    """Dotted name -> one-line doc of every leaf setting of ``schema`` ('' where undocumented).

    Args:
        schema: A config dataclass, or an instance of one (then group fields holding a
            config are walked too).
        groups: Schemas to document under fields that cannot be walked statically, by
            dotted field name (``{"algo": GRPOConfig}``); also replaces a field's own type.
        prefix: Prepended to every name (``"algo"`` gives ``algo.pg.lr``).
    """
    return {s.name: s.doc for s in walk(schema, groups=groups, prefix=prefix) if not s.section}


def walk(schema: type | object, *, groups: Mapping[str, type] | None = None, prefix: str = "") -> Iterator[Setting]:
    """Every section and leaf setting of ``schema``, depth first, in field order (see :func:`config_docs`)."""
    if isinstance(schema, type):
        cls, obj = schema, None
    else:
        cls, obj = type(schema), schema
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"{cls.__qualname__} is not a dataclass: give a config schema (e.g. TrainRunConfig)")
    yield from _walk(cls, obj, dict(groups or {}), prefix)


def _walk(cls: type, obj: Any, groups: dict[str, type], prefix: str) -> Iterator[Setting]:
    docs = field_docs(cls)
    hints = _type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}.{f.name}" if prefix else f.name
        hint = hints.get(f.name, f.type)
        value = getattr(obj, f.name) if obj is not None and hasattr(obj, f.name) else _default(f)
        doc = docs.get(f.name, "")
        group = groups.get(name)
        if group is not None:
            child: type | None = group
            child_obj = value if isinstance(value, group) else None
            note = _group_note(name, group, child_obj)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            child, child_obj = type(value), value
            note = _group_note(name, child, value) if hint is Any else ""
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            child, child_obj, note = hint, None, ""
        else:
            child = None
        if child is None:
            if hint is Any and value is None:
                options = group_options(name)
                note = f"a config group: pick one with {name}=NAME" + (f" ({', '.join(options)})" if options else "")
                yield Setting(name, "Any", "None", doc, note=note)
            else:
                yield Setting(name, type_name(hint), _show(value), doc)
            continue
        yield Setting(name, child.__name__, "", doc, section=True, note=note)
        yield from _walk(child, child_obj, groups, name)


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as err:  # a name imported only under TYPE_CHECKING: fall back to the annotation text
        logger.debug("cannot resolve the annotations of %s: %s", cls.__qualname__, err)
        return {}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _group_note(name: str, schema: type, obj: Any) -> str:
    """Which option of the group ``name`` is documented, and the others that ``name=OPTION`` picks."""
    options = group_options(name)
    option = getattr(obj, "name", None) if obj is not None else None
    if option is None:
        field = next((f for f in dataclasses.fields(schema) if f.name == "name"), None)
        option = field.default if field is not None and isinstance(field.default, str) else None
    # Without a `name` field: the options whose files extend this schema.
    shown_as = [option] if option else [o for o in options if schema in _option_schemas(name, o)]
    shown = f"{' or '.join(f'{name}={o}' for o in shown_as)} ({schema.__name__})" if shown_as else schema.__name__
    others = [o for o in options if o not in shown_as]
    if not others:
        return f"shown: {shown}"
    return f"shown: {shown}; others: {', '.join(others)} (pick with {name}=NAME)"


def group_options(name: str) -> list[str]:
    """The options of the config group ``name`` (``algo`` -> the files of ``configs/algo``)."""
    folder = importlib.resources.files("agentrl.configs").joinpath(*name.split("."))
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removesuffix(".yaml")
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("_")
    )


def _option_schemas(group: str, option: str) -> list[type]:
    """The schemas (stored in Hydra's ConfigStore) that ``configs/<group>/<option>.yaml`` extends."""
    import yaml
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    path = importlib.resources.files("agentrl.configs").joinpath(*group.split("."), f"{option}.yaml")
    try:
        defaults = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("defaults", [])
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    repo: Any = ConfigStore.instance().repo
    for part in group.split("."):
        repo = repo.get(part, {}) if isinstance(repo, dict) else {}
    found = []
    for entry in defaults if isinstance(defaults, list) else []:
        node = repo.get(f"{entry}.yaml") if isinstance(entry, str) else None
        if node is not None:
            found.append(OmegaConf.get_type(node.node))
    return [t for t in found if isinstance(t, type)]


def type_name(hint: Any) -> str:
    """A type hint as ``--help`` shows it: ``int``, ``float | None``, ``list[str]``, ``dict``."""
    if isinstance(hint, str):  # unresolved annotation text
        return re.sub(r"\bdict\[.*\]", "dict", hint.replace("typing.", "").replace("Optional[", "None | ")).strip()
    if hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is dict or hint is dict:
        return "dict"
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join('...' if a is Ellipsis else type_name(a) for a in args)}]" if args else base
    return getattr(hint, "__name__", str(hint))


def _show(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "???"
    text = value.name if isinstance(value, enum.Enum) else repr(value)
    return text if len(text) <= _MAX_DEFAULT else text[: _MAX_DEFAULT - 3] + "..."


def settings_help(
    schema: type | object,
    *,
    title: str = "settings",
    groups: Mapping[str, type] | None = None,
    prefix: str = "",
    width: int | None = None,
) -> str:
    """The help text of every setting of ``schema``: dotted name, type, default and doc.

    Args:
        schema: A config dataclass, or a composed instance of one (its values are shown as
            the defaults, and its group fields are walked as they are).
        title: The first line (``"settings of agentrl train"``).
        groups: Schemas to document under ``Any``-typed group fields, by dotted field name
            (``{"algo": GRPOConfig}``); a line says which option that is and names the others.
        prefix: Prepended to every name (``"algo"`` documents an algorithm config as ``algo.pg.lr``).
        width: Wrap width (default: the terminal's, at most 120).

    Returns:
        Text ending in a newline; settings are given as Hydra overrides ``NAME=VALUE``.
    """
    if width is None:
        width = min(shutil.get_terminal_size((100, 24)).columns, 120)
    width = max(width, 40)
    lines = [f"{title} (set any as NAME=VALUE):"]
    for s in walk(schema, groups=groups, prefix=prefix):
        depth = s.name.count(".") - (prefix.count(".") + 1 if prefix else 0)
        if s.section:
            head = f"{s.name} ({s.type})" + (f": {s.doc}" if s.doc else "")
            if depth == 0:
                lines.append("")
            lines += _wrap(head, width, "  ", "      ")
        else:
            lines += _wrap(f"{s.name}: {s.type} = {s.default}", width, "  ", "      ")
            if s.doc:
                lines += _wrap(s.doc, width, "      ", "      ")
        if s.note:
            lines += _wrap(s.note, width, "      ", "        ")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    # Hyphens stay put: names such as `token-mean` and `serve-model` must not break.
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)
