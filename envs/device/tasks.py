"""The Device env's tasks: seeded parameters, a success checker that reads app state, an expert.

Each :class:`Task` has ``setup(rng, state) -> (instruction, params)``, which draws the
task's parameters and adjusts the starting state for its preconditions;
``check(initial, final, params) -> bool``, which reads the apps' state after the episode
(AndroidWorld's way: the outcome, not the path); and ``plan(view, params) -> action``,
the expert's next move toward the goal. The env's expert declares
``STATUS_TASK_COMPLETE`` once the checker passes, and ``STATUS_TASK_IMPOSSIBLE`` at once on
an infeasible task (whose checker asks that nothing changed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentrl.envs.device.data import MONTH, REPLIES, TIMES, address, phone_number
from agentrl.envs.device.view import View

State = dict[str, Any]
Params = dict[str, Any]


@dataclass(frozen=True)
class Task:
    """One task template."""

    name: str
    app: str
    setup: Callable[[random.Random, State], tuple[str, Params]]
    check: Callable[[State, State, Params], bool]
    plan: Callable[[View, Params], str | None]
    feasible: bool = True


TASKS: dict[str, Task] = {}


def _task(name: str, app: str, feasible: bool = True) -> Callable[[Any], Any]:
    def register(cls: Any) -> Any:
        TASKS[name] = Task(name, app, cls.setup, cls.check, cls.plan, feasible)
        return cls

    return register


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# ------------------------------------------------------------------ settings
SWITCH_NAMES = {"wifi": "Wi-Fi", "bluetooth": "Bluetooth", "airplane": "airplane mode", "dark_theme": "dark theme",
                "dnd": "do not disturb"}  # fmt: skip


def _switch_task(key: str) -> None:
    class Switch:
        @staticmethod
        def setup(rng: random.Random, state: State) -> tuple[str, Params]:
            target = rng.random() < 0.5
            state["settings"][key] = not target
            return f"Turn {'on' if target else 'off'} {SWITCH_NAMES[key]}.", {"target": target}

        @staticmethod
        def check(initial: State, final: State, p: Params) -> bool:
            return bool(final["settings"][key] == p["target"])

        @staticmethod
        def plan(v: View, p: Params) -> str | None:
            return v.open("settings") or (v.tap(f"settings/{key}") if v.screen == "main" else "PRESS_BACK")

    _task(f"settings_{key}", "settings")(Switch)


for _key in SWITCH_NAMES:
    _switch_task(_key)


@_task("settings_brightness", "settings")
class Brightness:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        level = rng.choice([b for b in range(0, 101, 10) if b != state["settings"]["brightness"]])
        return f"Set the screen brightness to {level}%.", {"level": level}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return bool(final["settings"]["brightness"] == p["level"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("settings"):
            return v.open("settings")
        if v.screen == "main":
            return v.tap("settings/display")
        if v.screen != "display":
            return "PRESS_BACK"
        up = v.state["settings"]["brightness"] < p["level"]
        return v.tap("settings/brightness_up" if up else "settings/brightness_down")


@_task("settings_ringtone", "settings")
class Ringtone:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        tone = rng.choice([t for t in state["ringtones"] if t != state["settings"]["ringtone"]])
        return f"Change the ringtone to {tone}.", {"tone": tone}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return bool(final["settings"]["ringtone"] == p["tone"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("settings"):
            return v.open("settings")
        if v.screen == "main":
            return v.tap("settings/sound")
        return v.tap("settings/ringtone", p["tone"]) if v.screen == "sound" else "PRESS_BACK"


# ------------------------------------------------------------------ contacts
def _contact(state: State, name: str) -> dict[str, Any] | None:
    return next((c for c in state["contacts"] if c["name"].lower() == name.lower()), None)


def _new_name(rng: random.Random, state: State) -> str:
    from agentrl.envs.device.data import FIRST_NAMES, LAST_NAMES

    taken = {c["name"].split()[0] for c in state["contacts"]}
    return f"{rng.choice([f for f in FIRST_NAMES if f not in taken])} {rng.choice(LAST_NAMES)}"


def _edit_contact(v: View, fields: list[tuple[str, str]]) -> str | None:
    for rid, value in fields:
        action = v.fill(rid, value)
        if action:
            return action
    return v.tap("contacts/save")


def _to_contact(v: View, name: str) -> str | None:
    """Open ``name``'s page from wherever the contacts app is; None once there."""
    if v.open("contacts"):
        return v.open("contacts")
    here = v.screen == "detail" and (_by_id(v.state["contacts"], v.params.get("id")) or {}).get("name") == name
    if here:
        return None
    return v.tap("contacts/item", name) if v.screen == "list" else "PRESS_BACK"


def _by_id(items: list[dict[str, Any]], id: Any) -> dict[str, Any] | None:
    return next((x for x in items if x["id"] == id), None)


@_task("contacts_add", "contacts")
class AddContact:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, phone = _new_name(rng, state), phone_number(rng)
        return f"Add a contact named {name} with phone number {phone}.", {"name": name, "phone": phone}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        c = _contact(final, p["name"])
        return c is not None and _digits(c["phone"]) == _digits(p["phone"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("contacts"):
            return v.open("contacts")
        if v.screen == "list":
            return v.tap("contacts/add")
        if v.screen == "edit" and not v.params.get("id"):
            return _edit_contact(v, [("contacts/name", p["name"]), ("contacts/phone", p["phone"])])
        return "PRESS_BACK"


@_task("contacts_add_email", "contacts")
class AddContactEmail:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, phone = _new_name(rng, state), phone_number(rng)
        email = f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.org"
        text = f"Save a new contact: {name}, phone {phone}, email {email}."
        return text, {"name": name, "phone": phone, "email": email}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        c = _contact(final, p["name"])
        return c is not None and _digits(c["phone"]) == _digits(p["phone"]) and c["email"] == p["email"]

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("contacts"):
            return v.open("contacts")
        if v.screen == "list":
            return v.tap("contacts/add")
        if v.screen == "edit" and not v.params.get("id"):
            fields = [("contacts/name", p["name"]), ("contacts/phone", p["phone"]), ("contacts/email", p["email"])]
            return _edit_contact(v, fields)
        return "PRESS_BACK"


@_task("contacts_delete", "contacts")
class DeleteContact:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name = rng.choice(state["contacts"])["name"]
        return f"Delete the contact {name}.", {"name": name}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _contact(final, p["name"]) is None and len(final["contacts"]) == len(initial["contacts"]) - 1

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.app == "contacts" and v.screen == "confirm":
            return v.tap("contacts/confirm")
        return _to_contact(v, p["name"]) or v.tap("contacts/delete")


@_task("contacts_delete_missing", "contacts", feasible=False)
class DeleteMissingContact:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name = _new_name(rng, state)
        return f"Delete the contact {name}.", {"name": name}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return bool(final["contacts"] == initial["contacts"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return "STATUS_TASK_IMPOSSIBLE"


@_task("contacts_edit_phone", "contacts")
class EditPhone:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, phone = rng.choice(state["contacts"])["name"], phone_number(rng)
        return f"{name} has a new phone number: {phone}. Update the contact.", {"name": name, "phone": phone}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        c = _contact(final, p["name"])
        return c is not None and _digits(c["phone"]) == _digits(p["phone"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.app == "contacts" and v.screen == "edit" and v.params.get("id"):
            return _edit_contact(v, [("contacts/phone", p["phone"])])
        return _to_contact(v, p["name"]) or v.tap("contacts/edit")


@_task("contacts_star", "contacts")
class StarContact:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        c = rng.choice(state["contacts"])
        c["starred"] = False
        return f"Add {c['name']} to your favourites (star the contact).", {"name": c["name"]}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        c = _contact(final, p["name"])
        return c is not None and bool(c["starred"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _to_contact(v, p["name"]) or v.tap("contacts/star")


# ------------------------------------------------------------------ messages
def _thread(state: State, name: str) -> dict[str, Any] | None:
    return next((t for t in state["threads"] if t["name"].lower() == name.lower()), None)


def _sent(state: State, name: str, text: str) -> bool:
    t = _thread(state, name)
    return t is not None and any(m["me"] and m["text"].strip().lower() == text.lower() for m in t["messages"])


def _send(v: View, name: str, text: str) -> str | None:
    """Send ``text`` to ``name``: in their conversation when there is one, else from a new message."""
    if v.open("messages"):
        return v.open("messages")
    in_thread = v.screen == "thread" and v.params.get("name", "").lower() == name.lower()
    if in_thread:
        return v.fill("messages/text", text) or v.tap("messages/send")
    if v.screen == "compose":
        return v.fill("messages/to", name) or v.fill("messages/text", text) or v.tap("messages/send")
    if v.screen == "list":
        return v.tap("messages/thread", name) if _thread(v.state, name) else v.tap("messages/new")
    return "PRESS_BACK"


@_task("messages_reply", "messages")
class Reply:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, text = rng.choice(state["threads"])["name"], rng.choice(REPLIES)
        return f'Reply "{text}" to {name}.', {"name": name, "text": text}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        t = _thread(final, p["name"])
        return t is not None and t["messages"][-1]["me"] and t["messages"][-1]["text"].lower() == p["text"].lower()

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _send(v, p["name"], p["text"])


@_task("messages_new", "messages")
class NewMessage:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        names = [c["name"] for c in state["contacts"] if _thread(state, c["name"]) is None]
        name, text = rng.choice(names), rng.choice(REPLIES)
        return f'Send a text message to {name} saying "{text}".', {"name": name, "text": text}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _sent(final, p["name"], p["text"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _send(v, p["name"], p["text"])


@_task("messages_delete", "messages")
class DeleteThread:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name = rng.choice(state["threads"])["name"]
        return f"Delete the conversation with {name}.", {"name": name}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _thread(final, p["name"]) is None and len(final["threads"]) == len(initial["threads"]) - 1

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("messages"):
            return v.open("messages")
        if v.screen == "confirm":
            return v.tap("messages/confirm")
        if v.screen == "thread" and v.params.get("name") == p["name"]:
            return v.tap("messages/delete")
        return v.tap("messages/thread", p["name"]) if v.screen == "list" else "PRESS_BACK"


@_task("messages_forward", "messages")
class Forward:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        source = rng.choice(state["threads"])
        text = rng.choice([m for m in state["threads"][0]["messages"] if not m["me"]])["text"]
        source["messages"].append({"me": False, "text": text})
        target = rng.choice([c["name"] for c in state["contacts"] if c["name"] != source["name"]])
        return f"Forward the last message {source['name']} sent you to {target}.", {
            "source": source["name"],
            "target": target,
            "text": text,
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _sent(final, p["target"], p["text"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _send(v, p["target"], p["text"])


@_task("messages_share_phone", "messages")
class SharePhone:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        who, to = rng.sample(state["contacts"], 2)
        return f"Text {to['name']} the phone number of {who['name']}.", {
            "target": to["name"],
            "phone": who["phone"],
            "who": who["name"],
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        t = _thread(final, p["target"])
        return t is not None and any(m["me"] and _digits(p["phone"]) in _digits(m["text"]) for m in t["messages"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        # Look the number up first (a demonstration should show where it comes from), then send it.
        if not p.get("_looked") and not (v.app == "messages" and v.screen in ("thread", "compose")):
            if v.app == "contacts" and v.screen == "detail" and v.has("contacts/name_view", p["who"]):
                p["_looked"] = True
                return "PRESS_HOME"
            return _to_contact(v, p["who"]) or "PRESS_HOME"
        return _send(v, p["target"], p["phone"])


# ------------------------------------------------------------------ calendar
def _event(state: State, title: str) -> dict[str, Any] | None:
    return next((e for e in state["events"] if e["title"].lower() == title.lower()), None)


def _to_event(v: View, title: str) -> str | None:
    if v.open("calendar"):
        return v.open("calendar")
    if v.screen == "detail" and (_by_id(v.state["events"], v.params.get("id")) or {}).get("title") == title:
        return None
    return v.tap("calendar/event", title) if v.screen == "agenda" else "PRESS_BACK"


def _edit_event(v: View, title: str, fields: list[tuple[str, str]]) -> str | None:
    if v.app == "calendar" and v.screen == "edit" and v.params.get("id"):
        for rid, value in fields:
            action = v.fill(rid, value)
            if action:
                return action
        return v.tap("calendar/save")
    return _to_event(v, title) or v.tap("calendar/edit")


@_task("calendar_create", "calendar")
class CreateEvent:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        title = rng.choice(["Lunch with Ana", "Call the bank", "Museum visit", "Study group", "Bike repair"])
        day, time = rng.randint(1, 30), rng.choice(TIMES)
        return f'Create a calendar event "{title}" on {MONTH} {day} at {time}.', {
            "title": title,
            "day": day,
            "time": time,
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        e = _event(final, p["title"])
        return e is not None and e["day"] == p["day"] and e["time"] == p["time"]

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("calendar"):
            return v.open("calendar")
        if v.screen == "agenda":
            return v.tap("calendar/new")
        if v.screen == "edit" and not v.params.get("id"):
            for rid, value in (
                ("calendar/title", p["title"]),
                ("calendar/day", str(p["day"])),
                ("calendar/time", p["time"]),
            ):
                action = v.fill(rid, value)
                if action:
                    return action
            return v.tap("calendar/save")
        return "PRESS_BACK"


@_task("calendar_delete", "calendar")
class DeleteEvent:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        title = rng.choice(state["events"])["title"]
        return f'Delete the event "{title}" from the calendar.', {"title": title}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _event(final, p["title"]) is None and len(final["events"]) == len(initial["events"]) - 1

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _to_event(v, p["title"]) or v.tap("calendar/delete")


@_task("calendar_rename", "calendar")
class RenameEvent:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        title = rng.choice(state["events"])["title"]
        new = f"{title} (rescheduled)" if rng.random() < 0.5 else f"Cancelled: {title}"
        return f'Rename the event "{title}" to "{new}".', {"title": title, "new": new}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        old, e = _event(initial, p["title"]), _event(final, p["new"])
        return e is not None and old is not None and e["id"] == old["id"] and _event(final, p["title"]) is None

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _edit_event(v, p["title"], [("calendar/title", p["new"])])


@_task("calendar_move", "calendar")
class MoveEvent:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        e = rng.choice(state["events"])
        day = rng.choice([d for d in range(1, 31) if d != e["day"]])
        return f'Move "{e["title"]}" to {MONTH} {day}, keeping its time.', {
            "title": e["title"],
            "day": day,
            "time": e["time"],
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        e = _event(final, p["title"])
        return e is not None and e["day"] == p["day"] and e["time"] == p["time"]

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _edit_event(v, p["title"], [("calendar/day", str(p["day"]))])


@_task("calendar_retime", "calendar")
class RetimeEvent:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        e = rng.choice(state["events"])
        time = rng.choice([t for t in TIMES if t != e["time"]])
        return f'Change the time of "{e["title"]}" to {time}.', {"title": e["title"], "time": time, "day": e["day"]}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        e = _event(final, p["title"])
        return e is not None and e["time"] == p["time"] and e["day"] == p["day"]

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _edit_event(v, p["title"], [("calendar/time", p["time"])])


@_task("calendar_clear_day", "calendar")
class ClearDay:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        day = rng.randint(1, 30)
        for e in rng.sample(state["events"], 2):
            e["day"] = day
        return f"Delete every event on {MONTH} {day}.", {"day": day}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        kept = [e for e in initial["events"] if e["day"] != p["day"]]
        return sorted(e["id"] for e in final["events"]) == sorted(e["id"] for e in kept)

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        left = sorted((e for e in v.state["events"] if e["day"] == p["day"]), key=lambda e: e["time"])
        return _to_event(v, left[0]["title"]) or v.tap("calendar/delete")


# ------------------------------------------------------------------ shop
def _product(state: State, name: str) -> dict[str, Any]:
    return next(x for x in state["shop"]["products"] if x["name"] == name)


def _in_cart(state: State, name: str) -> int:
    return int(state["shop"]["cart"].get(str(_product(state, name)["id"]), 0))


def _shop_product(v: View, name: str, qty: int) -> str | None:
    """Put ``qty`` of ``name`` in the cart (from the catalogue, searching for it)."""
    if v.open("shop"):
        return v.open("shop")
    if v.screen == "product" and (_by_id(v.state["shop"]["products"], v.params.get("id")) or {}).get("name") == name:
        if v.params.get("added"):
            return "PRESS_BACK"
        if v.params.get("qty", 1) != qty:
            return v.tap("shop/qty_up" if v.params.get("qty", 1) < qty else "shop/qty_down")
        return v.tap("shop/add")
    if v.screen == "catalogue":
        if v.has("shop/product", name) and (v.params.get("q") or v.find("shop/product", name).full):  # type: ignore[union-attr]
            return v.tap("shop/product", name)
        return v.fill("shop/search", name) or "PRESS_ENTER"
    return "PRESS_BACK"


def _checkout(v: View, address: str) -> str | None:
    if v.open("shop"):
        return v.open("shop")
    if v.screen == "checkout":
        return v.fill("shop/address", address) or v.tap("shop/place")
    if v.screen == "cart":
        return v.tap("shop/checkout")
    return v.tap("shop/cart") if v.screen == "catalogue" else "PRESS_BACK"


def _ordered(final: State, initial: State, items: dict[str, int], address: str | None) -> bool:
    new = final["shop"]["orders"][len(initial["shop"]["orders"]) :]
    return len(new) == 1 and new[0]["items"] == items and (address is None or new[0]["address"] == address)


@_task("shop_add", "shop")
class AddToCart:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name = rng.choice(state["shop"]["products"])["name"]
        return f"Add a {name.lower()} to the shopping cart.", {"name": name}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _in_cart(final, p["name"]) == 1 and len(final["shop"]["cart"]) == 1

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _shop_product(v, p["name"], 1)


@_task("shop_add_quantity", "shop")
class AddQuantity:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, qty = rng.choice(state["shop"]["products"])["name"], rng.randint(2, 5)
        return f"Put {qty} of the {name.lower()} in the cart.", {"name": name, "qty": qty}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _in_cart(final, p["name"]) == p["qty"]

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return _shop_product(v, p["name"], p["qty"])


@_task("shop_buy", "shop")
class Buy:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, where = rng.choice(state["shop"]["products"])["name"], address(rng)
        return f"Buy one {name.lower()} and have it shipped to {where}.", {"name": name, "address": where}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _ordered(final, initial, {str(_product(final, p["name"])["id"]): 1}, p["address"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if _in_cart(v.state, p["name"]) < 1:
            return _shop_product(v, p["name"], 1)
        return _checkout(v, p["address"])


@_task("shop_remove", "shop")
class RemoveFromCart:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        drop, keep = rng.sample(state["shop"]["products"], 2)
        state["shop"]["cart"] = {str(drop["id"]): rng.randint(1, 3), str(keep["id"]): 1}
        return f"Remove the {drop['name'].lower()} from the cart and keep the rest.", {
            "name": drop["name"],
            "keep": keep["name"],
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _in_cart(final, p["name"]) == 0 and _in_cart(final, p["keep"]) == 1

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if v.open("shop"):
            return v.open("shop")
        if v.screen == "cart":
            rows = [e for e in v.elements if e.rid == "shop/remove"]
            names = [k for k in v.state["shop"]["cart"]]
            index = names.index(str(_product(v.state, p["name"])["id"]))
            e = rows[index]
            y, x = e.centre(v.width, v.height)
            return f"TAP({y:.3f}, {x:.3f})"
        return v.tap("shop/cart") if v.screen == "catalogue" else "PRESS_BACK"


@_task("shop_cheapest", "shop")
class BuyCheapest:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        category = rng.choice(sorted({x["category"] for x in state["shop"]["products"]}))
        state["shop"]["address"] = state["shop"]["address"] or address(rng)
        cheapest = min((x for x in state["shop"]["products"] if x["category"] == category), key=lambda x: x["price"])
        return f"Order the cheapest item in the {category} category (ship to the saved address).", {
            "name": cheapest["name"],
            "address": state["shop"]["address"],
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _ordered(final, initial, {str(_product(final, p["name"])["id"]): 1}, p["address"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return Buy.plan(v, p)


@_task("shop_order_quantity", "shop")
class OrderQuantity:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        name, qty, where = rng.choice(state["shop"]["products"])["name"], rng.randint(2, 4), address(rng)
        return f"Order {qty} units of the {name.lower()}, delivered to {where}.", {
            "name": name,
            "qty": qty,
            "address": where,
        }

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return _ordered(final, initial, {str(_product(final, p["name"])["id"]): p["qty"]}, p["address"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        if _in_cart(v.state, p["name"]) < p["qty"]:
            return _shop_product(v, p["name"], p["qty"])
        return _checkout(v, p["address"])


@_task("shop_buy_missing", "shop", feasible=False)
class BuyMissing:
    @staticmethod
    def setup(rng: random.Random, state: State) -> tuple[str, Params]:
        item = rng.choice(["a garden hose", "an electric kettle", "a tennis racket", "a winter jacket"])
        return f"Buy {item} from the shop.", {"item": item}

    @staticmethod
    def check(initial: State, final: State, p: Params) -> bool:
        return bool(final["shop"]["orders"] == initial["shop"]["orders"])

    @staticmethod
    def plan(v: View, p: Params) -> str | None:
        return "STATUS_TASK_IMPOSSIBLE"


TASK_NAMES: tuple[str, ...] = tuple(TASKS)
