"""CodeTask edits: a SEARCH text must be whole lines found in one place; else the candidates are shown."""

from __future__ import annotations

import pytest

from agentrl.sandboxes.codetask import CodeTaskEnv, find_search_text
from tests.sandboxes.conftest import backend_or_skip

# bugfix-01's starting stats.py: the two `return ordered[mid]` lines are the trap the issue describes.
STATS = """def median(values):
    if not values:
        raise ValueError("median of empty list")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return ordered[mid]
"""
BRANCHES = "def sign(x):\n    if x > 0:\n        return 1\n    if x < 0:\n        return 1\n    return 0\n"


def _edit(path: str, *blocks: tuple[str, str]) -> str:
    body = "".join(f"<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n" for old, new in blocks)
    return f"edit {path}\n{body}"


def test_a_unique_whole_line_match_is_found():
    start = STATS.rindex("    return ordered[mid]\n")  # the last line, not the tail of the line above
    assert find_search_text(STATS, "    return ordered[mid]") == (start, start + len("    return ordered[mid]"))
    assert find_search_text(STATS, "    if len(ordered) % 2:\n        return ordered[mid]\n")[0] == STATS.index(
        "    if len("
    )


def test_several_whole_line_matches_are_ambiguous_and_list_the_candidates():
    message = find_search_text(BRANCHES, "        return 1", "sign.py")
    assert isinstance(message, str) and message.startswith("matches 2 places in sign.py; nothing was changed")
    assert "line 3:" in message and "line 5:" in message
    assert ">    3 |         return 1" in message and ">    5 |         return 1" in message
    assert "     2 |     if x > 0:" in message and "     4 |     if x < 0:" in message  # context lines


def test_a_match_inside_a_line_is_partial_and_lists_where():
    message = find_search_text(STATS, "return ordered[mid]", "stats.py")
    assert isinstance(message, str) and "matches only part of a line in stats.py" in message
    assert ">    7 |         return ordered[mid]" in message and ">    8 |     return ordered[mid]" in message
    assert isinstance(find_search_text(STATS, "ordered = sorted(values)"), str)  # indentation left out
    assert isinstance(find_search_text(STATS, "def median(values):\n    if"), str)  # ends mid-line


def test_text_not_in_the_file_says_so():
    assert find_search_text(STATS, "return 42", "stats.py") == "is not in stats.py; nothing was changed."


@pytest.fixture(scope="module")
def env():
    backend_or_skip("bubblewrap")
    env = CodeTaskEnv(task_ids=["bugfix-01"], command_timeout_s=5)
    yield env
    env.close()


def test_ambiguous_and_partial_edits_change_nothing_and_show_candidates(env):
    env.reset(seed=0)
    env.step(f"write sign.py\n{BRANCHES}")
    obs, reward, terminated, _, info = env.step(_edit("sign.py", ("        return 1", "        return -1")))
    assert "Edit failed: the SEARCH text of block 1 matches 2 places in sign.py" in obs
    assert ">    3 |" in obs and ">    5 |" in obs
    assert reward == 0.0 and not terminated and not info["invalid_action"]  # a failed edit is a valid action
    assert env.sandbox.get_file("sign.py").decode() == BRANCHES

    obs, *_, info = env.step(_edit("stats.py", ("return ordered[mid]", "return (ordered[mid - 1] + ordered[mid]) / 2")))
    assert "matches only part of a line in stats.py" in obs and ">    7 |" in obs and ">    8 |" in obs
    assert not info["invalid_action"]
    assert env.sandbox.get_file("stats.py").decode() == STATS


def test_a_failing_block_leaves_the_earlier_blocks_unapplied(env):
    env.reset(seed=0)
    obs, *_ = env.step(_edit("stats.py", ("    mid = len(ordered) // 2", "    mid = 0"), ("ordered[mid]", "x")))
    assert "block 2 matches only part of a line" in obs
    assert env.sandbox.get_file("stats.py").decode() == STATS


def test_whole_lines_pick_the_branch_and_fix_the_task(env):
    env.reset(seed=0)
    fix = ("    return ordered[mid]", "    return (ordered[mid - 1] + ordered[mid]) / 2")
    obs, *_ = env.step(_edit("stats.py", fix))
    assert "Edited stats.py: 1 replacement(s)." in obs
    head, _, tail = STATS.rpartition("    return ordered[mid]\n")
    assert env.sandbox.get_file("stats.py").decode() == head + fix[1] + "\n" + tail
    _, reward, terminated, _, info = env.step("submit")
    assert terminated and reward == 1.0 and info["won"]
