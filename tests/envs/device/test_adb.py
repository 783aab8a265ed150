"""The adb backend, without a device: the commands it runs and its parsing of uiautomator dumps.

No Android device or emulator can run here, so the backend never runs end to end in these tests:
a fake runner records the commands and answers with canned output, and the dumps are written for
the tests in the layout ``uiautomator dump`` produces.
"""

from __future__ import annotations

import pytest

from agentrl.envs.device.actions import parse_action
from agentrl.envs.device.adb import AdbDevice, escape_input_text, parse_uiautomator, parse_wm_size
from agentrl.envs.device.device import perform

DUMP = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<hierarchy rotation="0">
  <node index="0" text="" resource-id="" class="android.widget.FrameLayout" package="com.android.contacts"
        content-desc="" checkable="false" checked="false" clickable="false" focused="false" scrollable="false"
        long-clickable="false" bounds="[0,0][1080,2400]">
    <node index="0" text="Contacts" resource-id="com.android.contacts:id/title" class="android.widget.TextView"
          package="com.android.contacts" content-desc="" checkable="false" checked="false" clickable="false"
          focused="false" scrollable="false" long-clickable="false" bounds="[42,110][400,190]" />
    <node index="1" text="" resource-id="com.android.contacts:id/add" class="android.widget.ImageButton"
          package="com.android.contacts" content-desc="Add contact" checkable="false" checked="false"
          clickable="true" focused="false" scrollable="false" long-clickable="false" bounds="[900,100][1060,200]" />
    <node index="2" text="" resource-id="com.android.contacts:id/list" class="androidx.recyclerview.widget.RecyclerView"
          package="com.android.contacts" content-desc="" checkable="false" checked="false" clickable="false"
          focused="false" scrollable="true" long-clickable="false" bounds="[0,220][1080,2200]">
      <node index="0" text="Ada  Lovelace" resource-id="com.android.contacts:id/name" class="android.widget.TextView"
            package="com.android.contacts" content-desc="" checkable="false" checked="false" clickable="true"
            focused="false" scrollable="false" long-clickable="true" bounds="[0,220][1080,360]" />
    </node>
    <node index="3" text="" resource-id="com.android.contacts:id/search" class="android.widget.EditText"
          package="com.android.contacts" content-desc="" checkable="false" checked="false" clickable="true"
          focused="true" scrollable="false" long-clickable="false" bounds="[0,2200][1080,2300]" />
    <node index="4" text="Wi-Fi" resource-id="android:id/switch_widget" class="android.widget.Switch"
          package="com.android.settings" content-desc="" checkable="true" checked="true" clickable="true"
          focused="false" scrollable="false" long-clickable="false" bounds="[880,2300][1060,2380]" />
  </node>
</hierarchy>"""


class FakeAdb:
    """Records commands; answers ``wm size``, ``screencap`` and ``cat`` of the dump."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command):
        self.commands.append(list(command))
        if command[-2:] == ["wm", "size"]:
            return b"Physical size: 1080x2400\n"
        if "screencap" in command:
            return b"\x89PNG\r\n\x1a\nfake"
        if command[-2] == "cat":
            return DUMP.encode()
        return b""


def test_uiautomator_dump_parses_to_elements():
    elements = parse_uiautomator(DUMP)
    assert [(e.cls, e.text, e.rid) for e in elements] == [
        ("TextView", "Contacts", "title"),
        ("ImageButton", "Add contact", "add"),
        ("RecyclerView", "", "list"),
        ("TextView", "Ada Lovelace", "name"),
        ("EditText", "", "search"),
        ("Switch", "Wi-Fi", "switch_widget"),
    ]
    add, lst, search, switch = elements[1], elements[2], elements[4], elements[5]
    assert add.clickable and add.bounds == (900.0, 100.0, 1060.0, 200.0)
    assert lst.scrollable and not lst.clickable
    assert search.editable and search.focused and search.checked is None
    assert switch.checked is True
    assert add.centre(1080, 2400) == pytest.approx((150 / 2400, 980 / 1080))
    with pytest.raises(ValueError, match="not a uiautomator dump"):
        parse_uiautomator("<hierarchy><node")


def test_screen_size_prefers_the_override():
    assert parse_wm_size("Physical size: 1080x2400\n") == (1080, 2400)
    assert parse_wm_size("Physical size: 1440x3120\nOverride size: 1080x2340\n") == (1080, 2340)
    with pytest.raises(ValueError, match="cannot read the screen size"):
        parse_wm_size("error: no devices/emulators found")


def test_actions_become_adb_input_commands():
    fake = FakeAdb()
    device = AdbDevice(serial="emulator-5554", run=fake)
    assert (device.width, device.height) == (1080, 2400)
    for text in ("TAP(0.5, 0.25)", "SWIPE(UP)", 'TYPE("Ada\'s $5 & more")', "PRESS_BACK", "PRESS_HOME", "PRESS_ENTER"):
        perform(device, parse_action(text))
    prefix = ["adb", "-s", "emulator-5554", "shell"]
    assert fake.commands[1:] == [
        [*prefix, "input", "tap", "270", "1200"],
        [*prefix, "input", "swipe", "540", "1800", "540", "600", "400"],
        [*prefix, "input", "text", "Ada\\'s%s\\$5%s\\&%smore"],
        [*prefix, "input", "keyevent", "4"],
        [*prefix, "input", "keyevent", "3"],
        [*prefix, "input", "keyevent", "66"],
    ]
    assert device.screenshot().startswith(b"\x89PNG")
    assert [e.rid for e in device.elements()][:2] == ["title", "add"]
    assert fake.commands[-2] == [*prefix, "uiautomator", "dump", "/sdcard/window_dump.xml"]
    assert fake.commands[-1] == ["adb", "-s", "emulator-5554", "exec-out", "cat", "/sdcard/window_dump.xml"]


def test_input_text_escaping_and_its_limits():
    assert escape_input_text("50% off (today)") == "50\\%%soff%s\\(today\\)"
    with pytest.raises(ValueError, match="printable ASCII only"):
        escape_input_text("café")
    assert AdbDevice(run=FakeAdb()).prefix == ["adb"]
