"""docs/envs/ is exactly what tools/env_docs.py makes of the envs' code and configs, so the pages cannot drift."""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path

import pytest

from agentrl.envs.registration import registered

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("env_docs", ROOT / "tools" / "env_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(tool):
    return tool.generate()


def test_the_env_pages_are_up_to_date(tool, pages):
    stale = tool.stale(pages)
    if stale:
        first = stale[0]
        old = first.read_text().splitlines() if first.exists() else []
        diff = "\n".join(list(difflib.unified_diff(old, pages.get(first, "").splitlines(), lineterm=""))[:40])
        names = [str(path.relative_to(ROOT)) for path in stale]
        pytest.fail(f"out of date: {names}; run `python tools/env_docs.py`. First difference:\n{diff}")


def test_every_built_in_env_has_a_page_with_every_section(tool, pages):
    page_ids = {}
    for path, text in pages.items():
        if path.name == "README.md":
            continue
        page_ids[re.search(r"^`(agentrl/[\w-]+)`", text, re.M).group(1)] = path.name
        for section in ("## What it is", "## Actions", "## Reward, score and success", "## Expert", "## Settings"):
            assert section in text, (path.name, section)
        assert "## Examples" in text and "agentrl play " in text, path.name
        assert "| `expert` | `bool` |" in text, path.name  # the constructor's arguments are listed
    built_in = {entry.id for entry in registered() if entry.id.startswith("agentrl/")}
    assert built_in <= set(page_ids), f"envs without a page: {sorted(built_in - set(page_ids))}"
    index = pages[tool.OUT / "README.md"]
    assert all(f"({name})" in index for name in page_ids.values())


def test_single_agent_pages_show_eval_and_train(pages):
    sokoban = next(text for path, text in pages.items() if path.name == "sokoban.md")
    assert "agentrl train env=sokoban" in sokoban and "agentrl eval env=sokoban agent=expert" in sokoban
    assert "10.7" in sokoban  # the score's unit is stated
    tictactoe = next(text for path, text in pages.items() if path.name == "tictactoe.md")
    assert "agentrl train" not in tictactoe and "seats=[player_x]" in tictactoe


def test_args_docs_and_tag_escaping(tool):
    doc = """Thing.

    Args:
        size: Side of the lake,
            in cells.
        *kwargs: Extra.

    Attributes:
        engine: Not an argument.
    """
    assert tool.args_docs(doc) == {"size": "Side of the lake, in cells.", "kwargs": "Extra."}
    assert tool.escape_tags("inside <action>x</action>, `<kept>`") == "inside &lt;action&gt;x&lt;/action&gt;, `<kept>`"
    assert tool.fenced("a ``` b") == ["````text", "a ``` b", "````"]


def test_the_readme_and_the_docs_link_the_pages():
    assert "docs/envs/README.md" in (ROOT / "README.md").read_text()
    assert "envs/README.md" in (ROOT / "docs" / "design.md").read_text()
