"""The AitW action parser: every action form, its AitW record, and a clear message for each malformed action."""

from __future__ import annotations

import pytest

from agentrl.envs.device.actions import Action, ActionError, parse_action
from agentrl.envs.device.device import Element, format_elements, resolve


@pytest.mark.parametrize(
    ("text", "kind", "touch", "lift"),
    [
        ("TAP(0.5, 0.25)", "tap", (0.5, 0.25), (0.5, 0.25)),
        ("tap( [0.1 , 0.9] )", "tap", (0.1, 0.9), (0.1, 0.9)),
        ("SWIPE(0.1, 0.2, 0.3, 0.4)", "swipe", (0.1, 0.2), (0.3, 0.4)),
        ("swipe(up)", "swipe", (0.75, 0.5), (0.25, 0.5)),
        ("SWIPE(LEFT)", "swipe", (0.5, 0.8), (0.5, 0.2)),
    ],
)
def test_points_parse_as_normalised_yx(text, kind, touch, lift):
    action = parse_action(text)
    assert (action.kind, action.touch, action.lift) == (kind, touch, lift)
    assert parse_action(action.to_text()) == action


def test_type_buttons_and_statuses():
    assert parse_action('TYPE("say \\"hi\\" \\\\ bye")').text == 'say "hi" \\ bye'
    assert parse_action("TYPE(plain words)").text == "plain words"
    for text, kind in [("PRESS_BACK", "back"), ("press_home()", "home"), ("PRESS_ENTER", "enter")]:
        assert parse_action(text).kind == kind
    assert parse_action("STATUS_TASK_COMPLETE").to_aitw()["action_type"] == 10
    assert parse_action("STATUS_TASK_IMPOSSIBLE").to_aitw()["action_type"] == 11
    typed = parse_action('TYPE("a b")')
    assert typed.to_aitw() == {
        "action_type": 3,
        "touch_point": [-1.0, -1.0],
        "lift_point": [-1.0, -1.0],
        "typed_text": "a b",
    }
    assert parse_action(typed.to_text()) == typed
    tap = parse_action("TAP(0.2, 0.3)").to_aitw()
    assert tap == {"action_type": 4, "touch_point": [0.2, 0.3], "lift_point": [0.2, 0.3], "typed_text": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty action"),
        ("TAP(1.5, 0.2)", "normalised [y, x] in [0, 1]"),
        ("TAP(a, b)", "TAP takes numbers"),
        ("TAP(0.3)", "TAP takes 2 numbers"),
        ("TAP", "TAP needs arguments in parentheses"),
        ("SWIPE(0.1, 0.2)", "SWIPE takes 4 numbers"),
        ("SWIPE(SIDEWAYS)", "SWIPE takes UP, DOWN, LEFT, RIGHT or four numbers"),
        ("TYPE()", "TYPE needs the text"),
        ('TYPE("a\nb")', "use PRESS_ENTER"),
        ("PRESS_BACK(3)", "PRESS_BACK takes no arguments"),
        ("FLY(1)", "Unknown action 'FLY'"),
        ("click the button", "Cannot read"),
    ],
)
def test_malformed_actions_say_what_is_wrong(text, message):
    with pytest.raises(ActionError, match=None) as err:
        parse_action(text)
    assert message in str(err.value)
    assert "TAP" in str(err.value) or message in str(err.value)


def test_tap_by_element_index_resolves_to_its_centre_among_the_visible():
    elements = [
        Element("Button", "Hidden", (0, 700, 100, 760), visible=False),
        Element("Button", "Save", (0, 0, 100, 64), rid="x/save", clickable=True),
        Element("EditText", "", (0, 64, 360, 128), hint="Name", editable=True, focused=True),
    ]
    action = resolve(parse_action("TAP(0)"), elements, 360, 640)
    assert action.touch == pytest.approx((0.05, 50 / 360))
    with pytest.raises(ActionError, match=r"no element \[5\] on screen \(they are 0..1\)"):
        resolve(parse_action("TAP(5)"), elements, 360, 640)
    text = format_elements(elements, 360, 640)
    assert text.splitlines() == [
        '[0] Button "Save" id=x/save [0.00,0.00,0.10,0.28]',
        '[1] EditText hint="Name" [0.10,0.00,0.20,1.00] focused',
    ]
    assert resolve(Action("back"), elements, 360, 640) == Action("back")
