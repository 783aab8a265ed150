"""Text spaces hold any bounded string; action tables normalise utterances."""

from __future__ import annotations

from agentrl.envs.actions import ActionTable, describe_invalid, normalize
from agentrl.envs.info import info_type_errors
from agentrl.envs.spaces import TextSpace


def test_text_space_contains_any_unicode_up_to_max_length():
    space = TextSpace(20)
    for text in ["", "hello world", "héllo wörld 中文", "\x00\n\t", "🙂" * 20]:
        assert space.contains(text)
    assert not space.contains("x" * 21)
    assert not space.contains(b"bytes")
    assert not space.contains(None)
    assert not TextSpace(10, min_length=1).contains("")


def test_text_space_samples_are_members_and_seeded():
    a, b = TextSpace(30, seed=3), TextSpace(30, seed=3)
    samples = [a.sample() for _ in range(50)]
    assert samples == [b.sample() for _ in range(50)]
    assert all(a.contains(s) and s for s in samples)
    assert any(" " in s for s in samples)


def test_action_table_normalises_and_rejects():
    table = ActionTable({"go forward": 2, "turn left": 0}, aliases={"forward": "go forward"})
    for text in ["go forward", "Go Forward.", "  go   forward ", '"go forward"', "FORWARD!"]:
        assert table.match(text) == 2, text
    for text in ["go", "", "go forward now", "x" * 10_000, "turn\x00left"]:
        assert table.match(text) is None, text
    assert normalize("  Turn LEFT. ") == "turn left"


def test_describe_invalid_is_safe_and_short():
    assert describe_invalid("") == "Invalid action: an empty action."
    long = describe_invalid("y" * 10_000, ["a", "b"])
    assert len(long) < 120 and long.endswith("Valid actions: a, b.")
    assert "not text" in describe_invalid(None)


def test_describe_invalid_bounds_a_long_list_of_valid_actions():
    # ALFWorld's longest lists (about 60 commands) are shown whole.
    commands = [f"put object {i} in/on receptacle {i}" for i in range(60)]
    assert describe_invalid("x", commands).endswith(", ".join(commands) + ".")
    # An env with 100,000 admissible actions: the feedback (kept in every later prompt) stays a few kB and says
    # how many it left out.
    many = [f"say {i}" for i in range(100_000)]
    message = describe_invalid("x", many)
    assert len(message) < 4200
    shown = message.split("Valid actions: ")[1].split(", and ")[0].split(", ")
    assert shown == many[: len(shown)]
    assert message.endswith(f", and {len(many) - len(shown)} more.")
    assert describe_invalid("x", ["y" * 5000, "z"]).endswith("Valid actions: 2, too long to list.")


def test_info_type_errors_names_the_problem():
    good = {
        "task": "t",
        "admissible_actions": None,
        "won": False,
        "score": 0.0,
        "invalid_action": False,
        "expert_action": None,
    }
    assert info_type_errors(good) == []
    assert info_type_errors({**good, "score": True}) == ["info['score'] must be a float, got bool: True"]
    assert "lacks the key 'task'" in info_type_errors({k: v for k, v in good.items() if k != "task"})[0]
