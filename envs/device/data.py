"""The phone's seeded starting state: contacts, conversations, a month of events, settings and a shop.

:func:`initial_state` draws everything from one ``random.Random``; tasks then adjust it
for their preconditions (a switch set against the goal, an empty cart) before it is
loaded into the apps.
"""

from __future__ import annotations

import random
from typing import Any

FIRST_NAMES = (
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam",
    "Maya", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wen", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
MESSAGES = (
    "Are we still on for lunch?", "Running ten minutes late", "Can you send me the slides?", "Happy birthday!",
    "The package arrived", "Call me when you can", "See you at the station", "Thanks for yesterday",
    "Did you feed the cat?", "Meeting moved to 3pm", "Got the tickets", "Where did you park?",
)  # fmt: skip
REPLIES = ("On my way", "Sounds good", "Yes, see you then", "Thanks!", "I will call you tonight", "Done")
EVENT_TITLES = (
    "Dentist", "Team standup", "Yoga class", "Book club", "Car service", "Piano lesson", "Project review",
    "Dinner with Sam", "Flight to Lisbon", "Haircut", "Parents evening", "Gym", "Tax deadline", "Concert",
    "Farmers market", "Vet appointment", "Code review", "Birthday party",
)  # fmt: skip
TIMES = ("08:30", "09:00", "10:15", "11:00", "12:30", "14:00", "15:45", "17:00", "18:30", "20:00")
RINGTONES = ("Chime", "Classic bell", "Marimba", "Ocean", "Pixel", "Sunrise", "Twinkle")
PRODUCTS = (
    ("Wireless earbuds", 49.99, "Audio"), ("Bluetooth speaker", 35.5, "Audio"),
    ("Noise cancelling headphones", 129.0, "Audio"), ("USB-C charger", 19.99, "Accessories"),
    ("Phone case", 12.5, "Accessories"), ("Screen protector", 8.99, "Accessories"),
    ("Power bank", 27.0, "Accessories"), ("Smart watch", 89.0, "Wearables"), ("Fitness band", 39.99, "Wearables"),
    ("Running socks", 9.5, "Sports"), ("Yoga mat", 24.0, "Sports"), ("Water bottle", 14.99, "Sports"),
    ("Desk lamp", 32.0, "Home"), ("Coffee mug", 11.0, "Home"), ("Scented candle", 16.5, "Home"),
    ("Plant pot", 13.25, "Home"),
)  # fmt: skip
STREETS = ("Oak Street", "Harbour Road", "Mill Lane", "Station Avenue", "Elm Close", "Bridge Street")
MONTH = "June"


def phone_number(rng: random.Random) -> str:
    return f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"


def address(rng: random.Random) -> str:
    return f"{rng.randint(2, 180)} {rng.choice(STREETS)}"


def initial_state(rng: random.Random) -> dict[str, Any]:
    """A fresh phone: 8 contacts, 5 conversations, 14 events, settings and a shop with an empty cart."""
    names: list[str] = []
    while len(names) < 8:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name.split()[0] not in {n.split()[0] for n in names}:
            names.append(name)
    contacts = [
        {
            "id": i + 1,
            "name": name,
            "phone": phone_number(rng),
            "email": f"{name.split()[0].lower()}@example.com" if rng.random() < 0.5 else "",
            "starred": rng.random() < 0.25,
        }
        for i, name in enumerate(names)
    ]
    threads = [
        {
            "name": name,
            "unread": rng.random() < 0.5,
            "messages": [
                {"me": k % 2 == 1, "text": rng.choice(REPLIES if k % 2 else MESSAGES)} for k in range(rng.randint(1, 3))
            ],
        }
        for name in rng.sample(names, 5)
    ]
    titles = rng.sample(EVENT_TITLES, 14)
    events = [
        {"id": i + 1, "title": title, "day": rng.randint(1, 30), "time": rng.choice(TIMES)}
        for i, title in enumerate(titles)
    ]
    settings = {
        "wifi": rng.random() < 0.5,
        "bluetooth": rng.random() < 0.5,
        "airplane": rng.random() < 0.5,
        "dark_theme": rng.random() < 0.5,
        "dnd": rng.random() < 0.5,
        "brightness": rng.randrange(10, 100, 10),
        "ringtone": rng.choice(RINGTONES),
    }
    products = [{"id": i + 1, "name": n, "price": p, "category": c} for i, (n, p, c) in enumerate(PRODUCTS)]
    shop = {"products": products, "cart": {}, "orders": [], "address": address(rng) if rng.random() < 0.5 else ""}
    return {
        "contacts": contacts,
        "threads": threads,
        "events": events,
        "month": MONTH,
        "settings": settings,
        "ringtones": list(RINGTONES),
        "shop": shop,
    }
