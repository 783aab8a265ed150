"""The tasks of the CodeTask env: small, project-written, each with a reference solution and hidden tests.

Each task is a dict with ``task_id``, ``kind`` (``bugfix``: the starting code has a bug;
``implement``: a function body is ``raise NotImplementedError``; ``make-tests-pass``:
the work dir holds a visible ``test_*.py`` that fails until the code is fixed),
``instruction``, ``files`` (path -> starting content), ``solution`` (path -> full content
of every file the reference changes) and ``tests`` (one hidden stdlib ``unittest``
module, run with the work dir on ``sys.path``). ``tests/sandboxes/test_codetask.py``
checks that every reference passes its hidden tests and every starting state fails them.
"""

from __future__ import annotations

from textwrap import dedent
from typing import TypedDict


class CodeTaskSpec(TypedDict):
    """One task (see the module docstring)."""

    task_id: str
    kind: str
    instruction: str
    files: dict[str, str]
    solution: dict[str, str]
    tests: str


def _task(
    task_id: str, kind: str, instruction: str, files: dict[str, str], solution: dict[str, str], tests: str
) -> CodeTaskSpec:
    return {
        "task_id": task_id,
        "kind": kind,
        "instruction": instruction,
        "files": {path: dedent(text).lstrip("\n") for path, text in files.items()},
        "solution": {path: dedent(text).lstrip("\n") for path, text in solution.items()},
        "tests": dedent(tests).lstrip("\n"),
    }


TASKS: list[CodeTaskSpec] = [
    # ---------------------------------------------------------------- bug fixes
    _task(
        "bugfix-01",
        "bugfix",
        "stats.py: median(values) returns the wrong value for lists of even length. It must return the mean of the "
        "two middle values of the sorted list (a float), and raise ValueError on an empty list.",
        {
            "stats.py": """
            def median(values):
                if not values:
                    raise ValueError("median of empty list")
                ordered = sorted(values)
                mid = len(ordered) // 2
                if len(ordered) % 2:
                    return ordered[mid]
                return ordered[mid]
            """
        },
        {
            "stats.py": """
            def median(values):
                if not values:
                    raise ValueError("median of empty list")
                ordered = sorted(values)
                mid = len(ordered) // 2
                if len(ordered) % 2:
                    return ordered[mid]
                return (ordered[mid - 1] + ordered[mid]) / 2
            """
        },
        """
        import unittest
        from stats import median

        class T(unittest.TestCase):
            def test_odd(self):
                self.assertEqual(median([3, 1, 2]), 2)
            def test_even(self):
                self.assertEqual(median([4, 1, 3, 2]), 2.5)
            def test_even_two(self):
                self.assertEqual(median([10, 20]), 15)
            def test_empty(self):
                with self.assertRaises(ValueError):
                    median([])
        """,
    ),
    _task(
        "bugfix-02",
        "bugfix",
        "search.py: binary_search(items, target) must return the index of target in the sorted list items, or -1 "
        "when it is absent. It misses some elements that are in the list; fix it.",
        {
            "search.py": """
            def binary_search(items, target):
                lo, hi = 0, len(items) - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if items[mid] == target:
                        return mid
                    if items[mid] < target:
                        lo = mid + 1
                    else:
                        hi = mid - 1
                return -1
            """
        },
        {
            "search.py": """
            def binary_search(items, target):
                lo, hi = 0, len(items) - 1
                while lo <= hi:
                    mid = (lo + hi) // 2
                    if items[mid] == target:
                        return mid
                    if items[mid] < target:
                        lo = mid + 1
                    else:
                        hi = mid - 1
                return -1
            """
        },
        """
        import unittest
        from search import binary_search

        class T(unittest.TestCase):
            def test_found_everywhere(self):
                items = [1, 3, 5, 7, 9, 11]
                for i, x in enumerate(items):
                    self.assertEqual(binary_search(items, x), i)
            def test_missing(self):
                self.assertEqual(binary_search([1, 3, 5], 4), -1)
                self.assertEqual(binary_search([1, 3, 5], 6), -1)
            def test_empty(self):
                self.assertEqual(binary_search([], 1), -1)
            def test_single(self):
                self.assertEqual(binary_search([2], 2), 0)
        """,
    ),
    _task(
        "bugfix-03",
        "bugfix",
        "cart.py: add_item(item, cart=None) appends item to cart and returns it; called without a cart it must "
        "return a new list each time. Today separate calls share one list. Fix it.",
        {
            "cart.py": """
            def add_item(item, cart=[]):
                cart.append(item)
                return cart
            """
        },
        {
            "cart.py": """
            def add_item(item, cart=None):
                if cart is None:
                    cart = []
                cart.append(item)
                return cart
            """
        },
        """
        import unittest
        from cart import add_item

        class T(unittest.TestCase):
            def test_fresh_lists(self):
                self.assertEqual(add_item("a"), ["a"])
                self.assertEqual(add_item("b"), ["b"])
            def test_given_cart(self):
                cart = ["x"]
                self.assertIs(add_item("y", cart), cart)
                self.assertEqual(cart, ["x", "y"])
            def test_empty_given_cart_is_used(self):
                cart = []
                add_item(1, cart)
                self.assertEqual(cart, [1])
        """,
    ),
    _task(
        "bugfix-04",
        "bugfix",
        "grades.py: average(scores) must return the arithmetic mean as a float (e.g. 2.5 for [2, 3]) and 0.0 for "
        "an empty list. Fix the bugs.",
        {
            "grades.py": """
            def average(scores):
                return sum(scores) // len(scores)
            """
        },
        {
            "grades.py": """
            def average(scores):
                if not scores:
                    return 0.0
                return sum(scores) / len(scores)
            """
        },
        """
        import unittest
        from grades import average

        class T(unittest.TestCase):
            def test_fraction(self):
                self.assertAlmostEqual(average([2, 3]), 2.5)
            def test_whole(self):
                self.assertAlmostEqual(average([4, 4, 4]), 4.0)
            def test_empty(self):
                self.assertEqual(average([]), 0.0)
            def test_negative(self):
                self.assertAlmostEqual(average([-1, -2]), -1.5)
        """,
    ),
    _task(
        "bugfix-05",
        "bugfix",
        "ranking.py: top_players(scores, n) gets a dict name -> score and must return the n names with the highest "
        "scores, highest first; ties are broken by name in alphabetical order. Fix it.",
        {
            "ranking.py": """
            def top_players(scores, n):
                ordered = sorted(scores.items(), key=lambda item: item[1])
                return [name for name, _ in ordered[:n]]
            """
        },
        {
            "ranking.py": """
            def top_players(scores, n):
                ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
                return [name for name, _ in ordered[:n]]
            """
        },
        """
        import unittest
        from ranking import top_players

        class T(unittest.TestCase):
            def test_order(self):
                self.assertEqual(top_players({"a": 1, "b": 5, "c": 3}, 2), ["b", "c"])
            def test_ties(self):
                self.assertEqual(top_players({"zed": 4, "amy": 4, "bob": 1}, 2), ["amy", "zed"])
            def test_n_larger(self):
                self.assertEqual(top_players({"a": 1}, 3), ["a"])
        """,
    ),
    _task(
        "bugfix-06",
        "bugfix",
        "rle.py: encode(text) run-length encodes a string ('aaabcc' -> 'a3b1c2'); the last run is lost. Fix it; "
        "the empty string encodes to ''.",
        {
            "rle.py": """
            def encode(text):
                out = []
                prev, count = None, 0
                for ch in text:
                    if ch == prev:
                        count += 1
                    else:
                        if prev is not None:
                            out.append(f"{prev}{count}")
                        prev, count = ch, 1
                return "".join(out)
            """
        },
        {
            "rle.py": """
            def encode(text):
                out = []
                prev, count = None, 0
                for ch in text:
                    if ch == prev:
                        count += 1
                    else:
                        if prev is not None:
                            out.append(f"{prev}{count}")
                        prev, count = ch, 1
                if prev is not None:
                    out.append(f"{prev}{count}")
                return "".join(out)
            """
        },
        """
        import unittest
        from rle import encode

        class T(unittest.TestCase):
            def test_basic(self):
                self.assertEqual(encode("aaabcc"), "a3b1c2")
            def test_single(self):
                self.assertEqual(encode("x"), "x1")
            def test_empty(self):
                self.assertEqual(encode(""), "")
            def test_long_run(self):
                self.assertEqual(encode("zzzzzzzzzzzz"), "z12")
        """,
    ),
    _task(
        "bugfix-07",
        "bugfix",
        "words.py: word_counts(text) must count words case-insensitively, ignoring the punctuation .,!? around "
        "them, and return a dict word -> count. 'Hi, hi!' gives {'hi': 2}. Fix it.",
        {
            "words.py": """
            def word_counts(text):
                counts = {}
                for word in text.split():
                    counts[word] = counts.get(word, 0) + 1
                return counts
            """
        },
        {
            "words.py": """
            def word_counts(text):
                counts = {}
                for raw in text.split():
                    word = raw.strip(".,!?").lower()
                    if word:
                        counts[word] = counts.get(word, 0) + 1
                return counts
            """
        },
        """
        import unittest
        from words import word_counts

        class T(unittest.TestCase):
            def test_case_and_punctuation(self):
                self.assertEqual(word_counts("Hi, hi!"), {"hi": 2})
            def test_sentence(self):
                self.assertEqual(word_counts("The cat. The dog?"), {"the": 2, "cat": 1, "dog": 1})
            def test_lone_punctuation(self):
                self.assertEqual(word_counts("a ! b"), {"a": 1, "b": 1})
            def test_empty(self):
                self.assertEqual(word_counts(""), {})
        """,
    ),
    _task(
        "bugfix-08",
        "bugfix",
        "temperature.py: to_fahrenheit(celsius) and to_celsius(fahrenheit) convert temperatures; both are wrong for "
        "some inputs (100 C is 212 F, -40 is the same on both scales). Fix them.",
        {
            "temperature.py": """
            def to_fahrenheit(celsius):
                return celsius * 9 / 5 + 23


            def to_celsius(fahrenheit):
                return fahrenheit - 32 * 5 / 9
            """
        },
        {
            "temperature.py": """
            def to_fahrenheit(celsius):
                return celsius * 9 / 5 + 32


            def to_celsius(fahrenheit):
                return (fahrenheit - 32) * 5 / 9
            """
        },
        """
        import unittest
        from temperature import to_celsius, to_fahrenheit

        class T(unittest.TestCase):
            def test_boiling(self):
                self.assertAlmostEqual(to_fahrenheit(100), 212)
                self.assertAlmostEqual(to_celsius(212), 100)
            def test_minus_forty(self):
                self.assertAlmostEqual(to_fahrenheit(-40), -40)
                self.assertAlmostEqual(to_celsius(-40), -40)
            def test_round_trip(self):
                self.assertAlmostEqual(to_celsius(to_fahrenheit(37.5)), 37.5)
        """,
    ),
    _task(
        "bugfix-09",
        "bugfix",
        "chunks.py: chunk(items, size) must split a list into consecutive chunks of length size (the last may be "
        "shorter) and raise ValueError when size < 1. It drops the final partial chunk today. Fix it.",
        {
            "chunks.py": """
            def chunk(items, size):
                if size < 1:
                    raise ValueError("size must be at least 1")
                return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]
            """
        },
        {
            "chunks.py": """
            def chunk(items, size):
                if size < 1:
                    raise ValueError("size must be at least 1")
                return [items[i : i + size] for i in range(0, len(items), size)]
            """
        },
        """
        import unittest
        from chunks import chunk

        class T(unittest.TestCase):
            def test_even(self):
                self.assertEqual(chunk([1, 2, 3, 4], 2), [[1, 2], [3, 4]])
            def test_partial(self):
                self.assertEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
            def test_larger_size(self):
                self.assertEqual(chunk([1, 2], 5), [[1, 2]])
            def test_bad_size(self):
                with self.assertRaises(ValueError):
                    chunk([1], 0)
        """,
    ),
    _task(
        "bugfix-10",
        "bugfix",
        "account.py: BankAccount.withdraw(amount) must raise ValueError for a non-positive amount or when the "
        "balance is too small (leaving the balance unchanged), and otherwise subtract the amount. Fix it.",
        {
            "account.py": """
            class BankAccount:
                def __init__(self, balance=0):
                    self.balance = balance

                def deposit(self, amount):
                    if amount <= 0:
                        raise ValueError("deposit must be positive")
                    self.balance += amount

                def withdraw(self, amount):
                    self.balance -= amount
                    if self.balance < 0:
                        raise ValueError("insufficient funds")
            """
        },
        {
            "account.py": """
            class BankAccount:
                def __init__(self, balance=0):
                    self.balance = balance

                def deposit(self, amount):
                    if amount <= 0:
                        raise ValueError("deposit must be positive")
                    self.balance += amount

                def withdraw(self, amount):
                    if amount <= 0:
                        raise ValueError("withdrawal must be positive")
                    if amount > self.balance:
                        raise ValueError("insufficient funds")
                    self.balance -= amount
            """
        },
        """
        import unittest
        from account import BankAccount

        class T(unittest.TestCase):
            def test_withdraw(self):
                acct = BankAccount(10)
                acct.withdraw(4)
                self.assertEqual(acct.balance, 6)
            def test_overdraw_keeps_balance(self):
                acct = BankAccount(5)
                with self.assertRaises(ValueError):
                    acct.withdraw(6)
                self.assertEqual(acct.balance, 5)
            def test_negative(self):
                acct = BankAccount(5)
                with self.assertRaises(ValueError):
                    acct.withdraw(-1)
                self.assertEqual(acct.balance, 5)
            def test_exact(self):
                acct = BankAccount(3)
                acct.withdraw(3)
                self.assertEqual(acct.balance, 0)
        """,
    ),
    _task(
        "bugfix-11",
        "bugfix",
        "flatten.py: flatten(nested) must flatten arbitrarily nested lists and tuples into one flat list, keeping "
        "strings whole ('ab' stays 'ab'). It only flattens one level today. Fix it.",
        {
            "flatten.py": """
            def flatten(nested):
                out = []
                for item in nested:
                    if isinstance(item, (list, tuple)):
                        out.extend(item)
                    else:
                        out.append(item)
                return out
            """
        },
        {
            "flatten.py": """
            def flatten(nested):
                out = []
                for item in nested:
                    if isinstance(item, (list, tuple)):
                        out.extend(flatten(item))
                    else:
                        out.append(item)
                return out
            """
        },
        """
        import unittest
        from flatten import flatten

        class T(unittest.TestCase):
            def test_deep(self):
                self.assertEqual(flatten([1, [2, [3, [4]]], 5]), [1, 2, 3, 4, 5])
            def test_tuples(self):
                self.assertEqual(flatten([(1, 2), [3, (4,)]]), [1, 2, 3, 4])
            def test_strings_whole(self):
                self.assertEqual(flatten(["ab", ["cd"]]), ["ab", "cd"])
            def test_empty(self):
                self.assertEqual(flatten([[], [[]]]), [])
        """,
    ),
    _task(
        "bugfix-12",
        "bugfix",
        "intervals.py: merge(intervals) gets a list of [start, end] pairs in any order and must return the merged, "
        "sorted list of non-overlapping intervals; touching intervals ([1, 2] and [2, 3]) merge. Fix it.",
        {
            "intervals.py": """
            def merge(intervals):
                out = []
                for start, end in intervals:
                    if out and start < out[-1][1]:
                        out[-1][1] = max(out[-1][1], end)
                    else:
                        out.append([start, end])
                return out
            """
        },
        {
            "intervals.py": """
            def merge(intervals):
                out = []
                for start, end in sorted(intervals):
                    if out and start <= out[-1][1]:
                        out[-1][1] = max(out[-1][1], end)
                    else:
                        out.append([start, end])
                return out
            """
        },
        """
        import unittest
        from intervals import merge

        class T(unittest.TestCase):
            def test_unsorted(self):
                self.assertEqual(merge([[8, 10], [1, 3], [2, 6]]), [[1, 6], [8, 10]])
            def test_touching(self):
                self.assertEqual(merge([[1, 2], [2, 3]]), [[1, 3]])
            def test_contained(self):
                self.assertEqual(merge([[1, 10], [2, 3]]), [[1, 10]])
            def test_empty(self):
                self.assertEqual(merge([]), [])
        """,
    ),
    # ---------------------------------------------------------------- implement
    _task(
        "implement-01",
        "implement",
        "roman.py: implement to_roman(n) for 1 <= n <= 3999 using subtractive notation (4 -> 'IV', 1994 -> "
        "'MCMXCIV'); raise ValueError outside that range.",
        {
            "roman.py": """
            def to_roman(n):
                raise NotImplementedError
            """
        },
        {
            "roman.py": """
            NUMERALS = [
                (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
            ]


            def to_roman(n):
                if not 1 <= n <= 3999:
                    raise ValueError("out of range")
                out = []
                for value, symbol in NUMERALS:
                    while n >= value:
                        out.append(symbol)
                        n -= value
                return "".join(out)
            """
        },
        """
        import unittest
        from roman import to_roman

        class T(unittest.TestCase):
            def test_small(self):
                self.assertEqual([to_roman(i) for i in (1, 4, 9, 14, 40)], ["I", "IV", "IX", "XIV", "XL"])
            def test_large(self):
                self.assertEqual(to_roman(1994), "MCMXCIV")
                self.assertEqual(to_roman(3999), "MMMCMXCIX")
            def test_range(self):
                for bad in (0, 4000, -3):
                    with self.assertRaises(ValueError):
                        to_roman(bad)
        """,
    ),
    _task(
        "implement-02",
        "implement",
        "durations.py: implement parse_duration(text) that turns strings like '1h30m', '45s', '2h5s', '1h2m3s' into "
        "a number of seconds (int). Units h, m, s appear at most once, in that order; raise ValueError for anything "
        "else, including the empty string.",
        {
            "durations.py": """
            def parse_duration(text):
                raise NotImplementedError
            """
        },
        {
            "durations.py": """
            import re

            PATTERN = re.compile(r"(?:(\\d+)h)?(?:(\\d+)m)?(?:(\\d+)s)?")


            def parse_duration(text):
                match = PATTERN.fullmatch(text)
                if not text or match is None:
                    raise ValueError(f"bad duration {text!r}")
                hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
                return hours * 3600 + minutes * 60 + seconds
            """
        },
        """
        import unittest
        from durations import parse_duration

        class T(unittest.TestCase):
            def test_examples(self):
                self.assertEqual(parse_duration("1h30m"), 5400)
                self.assertEqual(parse_duration("45s"), 45)
                self.assertEqual(parse_duration("2h5s"), 7205)
                self.assertEqual(parse_duration("1h2m3s"), 3723)
            def test_bad(self):
                for bad in ("", "5", "1m1h", "h", "1d", "1h 2m"):
                    with self.assertRaises(ValueError):
                        parse_duration(bad)
            def test_zero(self):
                self.assertEqual(parse_duration("0s"), 0)
        """,
    ),
    _task(
        "implement-03",
        "implement",
        "lru.py: implement the LRUCache class: LRUCache(capacity), get(key) returns the value or None and marks the "
        "key as recently used, put(key, value) inserts or updates and, when over capacity, evicts the least "
        "recently used key. len(cache) gives the number of keys.",
        {
            "lru.py": """
            class LRUCache:
                def __init__(self, capacity):
                    raise NotImplementedError

                def get(self, key):
                    raise NotImplementedError

                def put(self, key, value):
                    raise NotImplementedError

                def __len__(self):
                    raise NotImplementedError
            """
        },
        {
            "lru.py": """
            from collections import OrderedDict


            class LRUCache:
                def __init__(self, capacity):
                    self.capacity = capacity
                    self.data = OrderedDict()

                def get(self, key):
                    if key not in self.data:
                        return None
                    self.data.move_to_end(key)
                    return self.data[key]

                def put(self, key, value):
                    self.data[key] = value
                    self.data.move_to_end(key)
                    while len(self.data) > self.capacity:
                        self.data.popitem(last=False)

                def __len__(self):
                    return len(self.data)
            """
        },
        """
        import unittest
        from lru import LRUCache

        class T(unittest.TestCase):
            def test_evicts_least_recent(self):
                c = LRUCache(2)
                c.put("a", 1)
                c.put("b", 2)
                c.get("a")
                c.put("c", 3)
                self.assertIsNone(c.get("b"))
                self.assertEqual((c.get("a"), c.get("c")), (1, 3))
            def test_update(self):
                c = LRUCache(2)
                c.put("a", 1)
                c.put("a", 5)
                self.assertEqual((c.get("a"), len(c)), (5, 1))
            def test_update_refreshes(self):
                c = LRUCache(2)
                c.put("a", 1)
                c.put("b", 2)
                c.put("a", 3)
                c.put("c", 4)
                self.assertIsNone(c.get("b"))
            def test_missing(self):
                self.assertIsNone(LRUCache(1).get("x"))
        """,
    ),
    _task(
        "implement-04",
        "implement",
        "toposort.py: implement topo_sort(graph) where graph maps each node to the list of nodes it depends on; "
        "return a list in which every node comes after its dependencies (nodes only named as dependencies "
        "included), ties broken alphabetically; raise ValueError on a cycle.",
        {
            "toposort.py": """
            def topo_sort(graph):
                raise NotImplementedError
            """
        },
        {
            "toposort.py": """
            import heapq


            def topo_sort(graph):
                nodes = set(graph)
                for deps in graph.values():
                    nodes.update(deps)
                remaining = {n: set(graph.get(n, ())) for n in nodes}
                users = {n: set() for n in nodes}
                for node, deps in remaining.items():
                    for dep in deps:
                        users[dep].add(node)
                ready = [n for n, deps in remaining.items() if not deps]
                heapq.heapify(ready)
                order = []
                while ready:
                    node = heapq.heappop(ready)
                    order.append(node)
                    for user in users[node]:
                        remaining[user].discard(node)
                        if not remaining[user]:
                            heapq.heappush(ready, user)
                if len(order) != len(nodes):
                    raise ValueError("cycle")
                return order
            """
        },
        """
        import unittest
        from toposort import topo_sort

        class T(unittest.TestCase):
            def test_chain(self):
                self.assertEqual(topo_sort({"c": ["b"], "b": ["a"]}), ["a", "b", "c"])
            def test_alphabetical_ties(self):
                self.assertEqual(topo_sort({"d": ["b", "a"], "c": []}), ["a", "b", "c", "d"])
            def test_cycle(self):
                with self.assertRaises(ValueError):
                    topo_sort({"a": ["b"], "b": ["a"]})
            def test_order_valid(self):
                graph = {"app": ["lib", "log"], "lib": ["core"], "log": ["core"], "core": []}
                order = topo_sort(graph)
                for node, deps in graph.items():
                    for dep in deps:
                        self.assertLess(order.index(dep), order.index(node))
        """,
    ),
    _task(
        "implement-05",
        "implement",
        "textutil/slug.py: implement slugify(title): lower-case, turn every run of characters that are not a-z or "
        "0-9 into a single '-', and strip '-' from both ends ('Hello, World!' -> 'hello-world').",
        {
            "textutil/__init__.py": "",
            "textutil/slug.py": """
            def slugify(title):
                raise NotImplementedError
            """,
        },
        {
            "textutil/slug.py": """
            import re


            def slugify(title):
                return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            """
        },
        """
        import unittest
        from textutil.slug import slugify

        class T(unittest.TestCase):
            def test_basic(self):
                self.assertEqual(slugify("Hello, World!"), "hello-world")
            def test_runs(self):
                self.assertEqual(slugify("  a -- b__c  "), "a-b-c")
            def test_digits(self):
                self.assertEqual(slugify("Top 10 Tips"), "top-10-tips")
            def test_empty(self):
                self.assertEqual(slugify("!!!"), "")
        """,
    ),
    _task(
        "implement-06",
        "implement",
        "matrix.py: implement matmul(a, b) for matrices given as lists of rows (raise ValueError when the inner "
        "dimensions differ) and transpose(m).",
        {
            "matrix.py": """
            def matmul(a, b):
                raise NotImplementedError


            def transpose(m):
                raise NotImplementedError
            """
        },
        {
            "matrix.py": """
            def matmul(a, b):
                if not a or not b or len(a[0]) != len(b):
                    raise ValueError("inner dimensions differ")
                return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]


            def transpose(m):
                return [list(col) for col in zip(*m)]
            """
        },
        """
        import unittest
        from matrix import matmul, transpose

        class T(unittest.TestCase):
            def test_square(self):
                self.assertEqual(matmul([[1, 2], [3, 4]], [[5, 6], [7, 8]]), [[19, 22], [43, 50]])
            def test_rect(self):
                self.assertEqual(matmul([[1, 2, 3]], [[1], [2], [3]]), [[14]])
            def test_mismatch(self):
                with self.assertRaises(ValueError):
                    matmul([[1, 2]], [[1, 2]])
            def test_transpose(self):
                self.assertEqual(transpose([[1, 2, 3], [4, 5, 6]]), [[1, 4], [2, 5], [3, 6]])
        """,
    ),
    _task(
        "implement-07",
        "implement",
        "paths.py: implement shortest_path(graph, start, goal) for a dict graph node -> {neighbour: weight} with "
        "non-negative weights; return (cost, [start, ..., goal]) of a cheapest path, or None when goal is "
        "unreachable. start == goal gives (0, [start]).",
        {
            "paths.py": """
            def shortest_path(graph, start, goal):
                raise NotImplementedError
            """
        },
        {
            "paths.py": """
            import heapq


            def shortest_path(graph, start, goal):
                queue = [(0, start, [start])]
                done = set()
                while queue:
                    cost, node, path = heapq.heappop(queue)
                    if node == goal:
                        return cost, path
                    if node in done:
                        continue
                    done.add(node)
                    for nxt, weight in graph.get(node, {}).items():
                        if nxt not in done:
                            heapq.heappush(queue, (cost + weight, nxt, path + [nxt]))
                return None
            """
        },
        """
        import unittest
        from paths import shortest_path

        G = {"a": {"b": 1, "c": 4}, "b": {"c": 1, "d": 5}, "c": {"d": 1}, "d": {}}

        class T(unittest.TestCase):
            def test_cheapest(self):
                self.assertEqual(shortest_path(G, "a", "d"), (3, ["a", "b", "c", "d"]))
            def test_same(self):
                self.assertEqual(shortest_path(G, "b", "b"), (0, ["b"]))
            def test_unreachable(self):
                self.assertIsNone(shortest_path(G, "d", "a"))
            def test_direct(self):
                self.assertEqual(shortest_path({"x": {"y": 2}}, "x", "y"), (2, ["x", "y"]))
        """,
    ),
    _task(
        "implement-08",
        "implement",
        "trie.py: implement Trie with insert(word), contains(word) (whole words only) and starts_with(prefix) "
        "returning the sorted list of inserted words that begin with prefix.",
        {
            "trie.py": """
            class Trie:
                def insert(self, word):
                    raise NotImplementedError

                def contains(self, word):
                    raise NotImplementedError

                def starts_with(self, prefix):
                    raise NotImplementedError
            """
        },
        {
            "trie.py": """
            class Trie:
                def __init__(self):
                    self.root = {}

                def insert(self, word):
                    node = self.root
                    for ch in word:
                        node = node.setdefault(ch, {})
                    node["$"] = True

                def _node(self, prefix):
                    node = self.root
                    for ch in prefix:
                        if ch not in node:
                            return None
                        node = node[ch]
                    return node

                def contains(self, word):
                    node = self._node(word)
                    return bool(node and node.get("$"))

                def starts_with(self, prefix):
                    node = self._node(prefix)
                    out = []

                    def walk(n, acc):
                        for key, child in n.items():
                            if key == "$":
                                out.append(acc)
                            else:
                                walk(child, acc + key)

                    if node is not None:
                        walk(node, prefix)
                    return sorted(out)
            """
        },
        """
        import unittest
        from trie import Trie

        class T(unittest.TestCase):
            def setUp(self):
                self.t = Trie()
                for w in ("car", "cart", "care", "dog"):
                    self.t.insert(w)
            def test_contains(self):
                self.assertTrue(self.t.contains("car"))
                self.assertFalse(self.t.contains("ca"))
                self.assertFalse(self.t.contains("cat"))
            def test_prefix(self):
                self.assertEqual(self.t.starts_with("car"), ["car", "care", "cart"])
                self.assertEqual(self.t.starts_with("d"), ["dog"])
            def test_no_prefix(self):
                self.assertEqual(self.t.starts_with("x"), [])
        """,
    ),
    _task(
        "implement-09",
        "implement",
        "csvline.py: implement parse_line(line) that splits one CSV line on commas, honouring double-quoted fields "
        "(which may contain commas, and two double quotes for a literal quote). Return the list of field strings; "
        "an empty line gives [''].",
        {
            "csvline.py": """
            def parse_line(line):
                raise NotImplementedError
            """
        },
        {
            "csvline.py": """
            def parse_line(line):
                fields, current, quoted, i = [], [], False, 0
                while i < len(line):
                    ch = line[i]
                    if quoted:
                        if ch == '"' and i + 1 < len(line) and line[i + 1] == '"':
                            current.append('"')
                            i += 1
                        elif ch == '"':
                            quoted = False
                        else:
                            current.append(ch)
                    elif ch == '"':
                        quoted = True
                    elif ch == ",":
                        fields.append("".join(current))
                        current = []
                    else:
                        current.append(ch)
                    i += 1
                fields.append("".join(current))
                return fields
            """
        },
        '''
        import unittest
        from csvline import parse_line

        class T(unittest.TestCase):
            def test_plain(self):
                self.assertEqual(parse_line("a,b,c"), ["a", "b", "c"])
            def test_quoted_comma(self):
                self.assertEqual(parse_line('x,"a, b",y'), ["x", "a, b", "y"])
            def test_escaped_quote(self):
                self.assertEqual(parse_line('"say ""hi""",2'), ['say "hi"', "2"])
            def test_empty_fields(self):
                self.assertEqual(parse_line(",,"), ["", "", ""])
                self.assertEqual(parse_line(""), [""])
        ''',
    ),
    _task(
        "implement-10",
        "implement",
        "wrap.py: implement wrap(text, width) that greedily packs the words of text into lines of at most width "
        "characters (words separated by single spaces); a word longer than width goes on its own line. Return the "
        "list of lines ([] for text without words).",
        {
            "wrap.py": """
            def wrap(text, width):
                raise NotImplementedError
            """
        },
        {
            "wrap.py": """
            def wrap(text, width):
                lines, current = [], ""
                for word in text.split():
                    if not current:
                        current = word
                    elif len(current) + 1 + len(word) <= width:
                        current += " " + word
                    else:
                        lines.append(current)
                        current = word
                if current:
                    lines.append(current)
                return lines
            """
        },
        """
        import unittest
        from wrap import wrap

        class T(unittest.TestCase):
            def test_basic(self):
                self.assertEqual(wrap("the quick brown fox", 10), ["the quick", "brown fox"])
            def test_exact(self):
                self.assertEqual(wrap("aa bb", 5), ["aa bb"])
            def test_long_word(self):
                self.assertEqual(wrap("a incomprehensible b", 5), ["a", "incomprehensible", "b"])
            def test_empty(self):
                self.assertEqual(wrap("   ", 4), [])
        """,
    ),
    _task(
        "implement-11",
        "implement",
        "inventory.py: implement Inventory with add(item, qty), remove(item, qty) (ValueError when there is not "
        "enough; an item whose count reaches 0 disappears), count(item) (0 when absent) and items() returning "
        "sorted (item, count) pairs.",
        {
            "inventory.py": """
            class Inventory:
                def add(self, item, qty):
                    raise NotImplementedError

                def remove(self, item, qty):
                    raise NotImplementedError

                def count(self, item):
                    raise NotImplementedError

                def items(self):
                    raise NotImplementedError
            """
        },
        {
            "inventory.py": """
            class Inventory:
                def __init__(self):
                    self.stock = {}

                def add(self, item, qty):
                    if qty <= 0:
                        raise ValueError("quantity must be positive")
                    self.stock[item] = self.stock.get(item, 0) + qty

                def remove(self, item, qty):
                    have = self.stock.get(item, 0)
                    if qty <= 0 or qty > have:
                        raise ValueError("not enough stock")
                    if qty == have:
                        del self.stock[item]
                    else:
                        self.stock[item] = have - qty

                def count(self, item):
                    return self.stock.get(item, 0)

                def items(self):
                    return sorted(self.stock.items())
            """
        },
        """
        import unittest
        from inventory import Inventory

        class T(unittest.TestCase):
            def test_add_remove(self):
                inv = Inventory()
                inv.add("apple", 3)
                inv.add("apple", 2)
                inv.remove("apple", 4)
                self.assertEqual(inv.count("apple"), 1)
            def test_disappears(self):
                inv = Inventory()
                inv.add("pear", 1)
                inv.remove("pear", 1)
                self.assertEqual(inv.items(), [])
            def test_not_enough(self):
                inv = Inventory()
                inv.add("fig", 1)
                with self.assertRaises(ValueError):
                    inv.remove("fig", 2)
                self.assertEqual(inv.count("fig"), 1)
            def test_sorted_items(self):
                inv = Inventory()
                inv.add("b", 1)
                inv.add("a", 2)
                self.assertEqual(inv.items(), [("a", 2), ("b", 1)])
        """,
    ),
    _task(
        "implement-12",
        "implement",
        "ini.py: implement parse_ini(text) returning {section: {key: value}} for INI text: '[name]' starts a "
        "section, 'key = value' lines (whitespace around key and value stripped) belong to the current section, "
        "blank lines and lines starting with ';' or '#' are ignored, and a key before any section raises "
        "ValueError.",
        {
            "ini.py": """
            def parse_ini(text):
                raise NotImplementedError
            """
        },
        {
            "ini.py": """
            def parse_ini(text):
                result, section = {}, None
                for raw in text.splitlines():
                    line = raw.strip()
                    if not line or line.startswith((";", "#")):
                        continue
                    if line.startswith("[") and line.endswith("]"):
                        section = line[1:-1].strip()
                        result.setdefault(section, {})
                        continue
                    if section is None or "=" not in line:
                        raise ValueError(f"bad line {raw!r}")
                    key, value = line.split("=", 1)
                    result[section][key.strip()] = value.strip()
                return result
            """
        },
        """
        import unittest
        from ini import parse_ini

        class T(unittest.TestCase):
            def test_sections(self):
                text = "[a]\\nx = 1\\n\\n; note\\n[b]\\ny=two words \\n"
                self.assertEqual(parse_ini(text), {"a": {"x": "1"}, "b": {"y": "two words"}})
            def test_value_with_equals(self):
                self.assertEqual(parse_ini("[s]\\nurl = a=b"), {"s": {"url": "a=b"}})
            def test_key_before_section(self):
                with self.assertRaises(ValueError):
                    parse_ini("x = 1")
            def test_comments(self):
                self.assertEqual(parse_ini("# c\\n[s]\\n# k = v\\n"), {"s": {}})
        """,
    ),
    # ---------------------------------------------------------------- make the failing tests pass
    _task(
        "tests-01",
        "make-tests-pass",
        "The tests in test_stack.py fail. Change stack.py (not the tests) so they pass: pop() and peek() on an "
        "empty Stack must raise IndexError, and len() must give the number of items.",
        {
            "stack.py": """
            class Stack:
                def __init__(self):
                    self.items = []

                def push(self, item):
                    self.items.append(item)

                def pop(self):
                    return self.items.pop(0)

                def peek(self):
                    return self.items[0]
            """,
            "test_stack.py": """
            import unittest
            from stack import Stack


            class TestStack(unittest.TestCase):
                def test_lifo(self):
                    s = Stack()
                    s.push(1)
                    s.push(2)
                    self.assertEqual(s.pop(), 2)
                    self.assertEqual(len(s), 1)
            """,
        },
        {
            "stack.py": """
            class Stack:
                def __init__(self):
                    self.items = []

                def push(self, item):
                    self.items.append(item)

                def pop(self):
                    if not self.items:
                        raise IndexError("pop from empty stack")
                    return self.items.pop()

                def peek(self):
                    if not self.items:
                        raise IndexError("peek at empty stack")
                    return self.items[-1]

                def __len__(self):
                    return len(self.items)
            """
        },
        """
        import unittest
        from stack import Stack

        class T(unittest.TestCase):
            def test_lifo(self):
                s = Stack()
                for i in range(3):
                    s.push(i)
                self.assertEqual([s.pop(), s.pop(), s.pop()], [2, 1, 0])
            def test_peek(self):
                s = Stack()
                s.push("a")
                s.push("b")
                self.assertEqual((s.peek(), len(s)), ("b", 2))
            def test_empty(self):
                with self.assertRaises(IndexError):
                    Stack().pop()
                with self.assertRaises(IndexError):
                    Stack().peek()
        """,
    ),
    _task(
        "tests-02",
        "make-tests-pass",
        "test_fizzbuzz.py fails. Fix fizzbuzz.py so that fizzbuzz(n) returns the list of strings for 1..n: 'Fizz' "
        "for multiples of 3, 'Buzz' for multiples of 5, 'FizzBuzz' for multiples of both, else the number.",
        {
            "fizzbuzz.py": """
            def fizzbuzz(n):
                out = []
                for i in range(1, n):
                    if i % 3 == 0:
                        out.append("Fizz")
                    elif i % 5 == 0:
                        out.append("Buzz")
                    elif i % 15 == 0:
                        out.append("FizzBuzz")
                    else:
                        out.append(str(i))
                return out
            """,
            "test_fizzbuzz.py": """
            import unittest
            from fizzbuzz import fizzbuzz


            class TestFizzBuzz(unittest.TestCase):
                def test_fifteen(self):
                    self.assertEqual(fizzbuzz(15)[-1], "FizzBuzz")
                    self.assertEqual(len(fizzbuzz(15)), 15)
            """,
        },
        {
            "fizzbuzz.py": """
            def fizzbuzz(n):
                out = []
                for i in range(1, n + 1):
                    if i % 15 == 0:
                        out.append("FizzBuzz")
                    elif i % 3 == 0:
                        out.append("Fizz")
                    elif i % 5 == 0:
                        out.append("Buzz")
                    else:
                        out.append(str(i))
                return out
            """
        },
        """
        import unittest
        from fizzbuzz import fizzbuzz

        class T(unittest.TestCase):
            def test_prefix(self):
                self.assertEqual(fizzbuzz(5), ["1", "2", "Fizz", "4", "Buzz"])
            def test_fifteen(self):
                self.assertEqual(fizzbuzz(15)[14], "FizzBuzz")
                self.assertEqual(fizzbuzz(30)[29], "FizzBuzz")
            def test_zero(self):
                self.assertEqual(fizzbuzz(0), [])
        """,
    ),
    _task(
        "tests-03",
        "make-tests-pass",
        "test_palindrome.py fails. Fix palindrome.py: is_palindrome(text) must ignore case and every character "
        "that is not a letter or digit ('A man, a plan, a canal: Panama' is a palindrome).",
        {
            "palindrome.py": """
            def is_palindrome(text):
                return text == text[::-1]
            """,
            "test_palindrome.py": """
            import unittest
            from palindrome import is_palindrome


            class TestPalindrome(unittest.TestCase):
                def test_sentence(self):
                    self.assertTrue(is_palindrome("A man, a plan, a canal: Panama"))

                def test_not(self):
                    self.assertFalse(is_palindrome("hello"))
            """,
        },
        {
            "palindrome.py": """
            def is_palindrome(text):
                kept = [ch.lower() for ch in text if ch.isalnum()]
                return kept == kept[::-1]
            """
        },
        """
        import unittest
        from palindrome import is_palindrome

        class T(unittest.TestCase):
            def test_sentence(self):
                self.assertTrue(is_palindrome("A man, a plan, a canal: Panama"))
            def test_case(self):
                self.assertTrue(is_palindrome("RaceCar"))
            def test_digits(self):
                self.assertTrue(is_palindrome("1a2 2A1"))
                self.assertFalse(is_palindrome("12a"))
            def test_empty(self):
                self.assertTrue(is_palindrome(""))
                self.assertTrue(is_palindrome("!!"))
        """,
    ),
    _task(
        "tests-04",
        "make-tests-pass",
        "test_money.py fails. Fix money.py: format_cents(cents) formats an integer number of cents as dollars with "
        "thousands separators and two decimals, negative amounts with a leading '-' (123456 -> '$1,234.56', -5 -> "
        "'-$0.05').",
        {
            "money.py": """
            def format_cents(cents):
                return "$" + str(cents / 100)
            """,
            "test_money.py": """
            import unittest
            from money import format_cents


            class TestMoney(unittest.TestCase):
                def test_thousands(self):
                    self.assertEqual(format_cents(123456), "$1,234.56")

                def test_small(self):
                    self.assertEqual(format_cents(5), "$0.05")
            """,
        },
        {
            "money.py": """
            def format_cents(cents):
                sign = "-" if cents < 0 else ""
                dollars, rest = divmod(abs(cents), 100)
                return f"{sign}${dollars:,}.{rest:02d}"
            """
        },
        """
        import unittest
        from money import format_cents

        class T(unittest.TestCase):
            def test_thousands(self):
                self.assertEqual(format_cents(123456), "$1,234.56")
                self.assertEqual(format_cents(100000000), "$1,000,000.00")
            def test_small(self):
                self.assertEqual(format_cents(5), "$0.05")
                self.assertEqual(format_cents(0), "$0.00")
            def test_negative(self):
                self.assertEqual(format_cents(-5), "-$0.05")
                self.assertEqual(format_cents(-250075), "-$2,500.75")
        """,
    ),
    _task(
        "tests-05",
        "make-tests-pass",
        "test_queue.py fails. Fix pqueue.py: TaskQueue.pop() must return the task with the LOWEST priority number "
        "first, and tasks with equal priority in the order they were pushed; pop() on an empty queue raises "
        "IndexError.",
        {
            "pqueue.py": """
            import heapq


            class TaskQueue:
                def __init__(self):
                    self.heap = []

                def push(self, priority, task):
                    heapq.heappush(self.heap, (-priority, task))

                def pop(self):
                    return heapq.heappop(self.heap)[1]

                def __len__(self):
                    return len(self.heap)
            """,
            "test_queue.py": """
            import unittest
            from pqueue import TaskQueue


            class TestQueue(unittest.TestCase):
                def test_lowest_first(self):
                    q = TaskQueue()
                    q.push(5, "late")
                    q.push(1, "urgent")
                    self.assertEqual(q.pop(), "urgent")
            """,
        },
        {
            "pqueue.py": """
            import heapq
            import itertools


            class TaskQueue:
                def __init__(self):
                    self.heap = []
                    self.counter = itertools.count()

                def push(self, priority, task):
                    heapq.heappush(self.heap, (priority, next(self.counter), task))

                def pop(self):
                    if not self.heap:
                        raise IndexError("pop from empty queue")
                    return heapq.heappop(self.heap)[2]

                def __len__(self):
                    return len(self.heap)
            """
        },
        """
        import unittest
        from pqueue import TaskQueue

        class T(unittest.TestCase):
            def test_lowest_first(self):
                q = TaskQueue()
                for p, t in ((5, "e"), (1, "a"), (3, "c")):
                    q.push(p, t)
                self.assertEqual([q.pop() for _ in range(3)], ["a", "c", "e"])
            def test_fifo_ties(self):
                q = TaskQueue()
                for t in ("x", "y", "z"):
                    q.push(2, t)
                self.assertEqual([q.pop() for _ in range(3)], ["x", "y", "z"])
            def test_unorderable_tasks(self):
                q = TaskQueue()
                q.push(1, {"a": 1})
                q.push(1, {"b": 2})
                self.assertEqual(q.pop(), {"a": 1})
            def test_empty(self):
                with self.assertRaises(IndexError):
                    TaskQueue().pop()
        """,
    ),
    _task(
        "tests-06",
        "make-tests-pass",
        "test_anagram.py fails. Fix anagram.py: group_anagrams(words) returns groups of words that are anagrams "
        "of each other (case-sensitive), each group sorted, groups ordered by their first word.",
        {
            "anagram.py": """
            def group_anagrams(words):
                groups = {}
                for word in words:
                    groups.setdefault(len(word), []).append(word)
                return list(groups.values())
            """,
            "test_anagram.py": """
            import unittest
            from anagram import group_anagrams


            class TestAnagram(unittest.TestCase):
                def test_groups(self):
                    self.assertEqual(group_anagrams(["tea", "eat", "ant"]), [["ant"], ["eat", "tea"]])
            """,
        },
        {
            "anagram.py": """
            def group_anagrams(words):
                groups = {}
                for word in words:
                    groups.setdefault("".join(sorted(word)), []).append(word)
                return sorted(sorted(group) for group in groups.values())
            """
        },
        """
        import unittest
        from anagram import group_anagrams

        class T(unittest.TestCase):
            def test_groups(self):
                self.assertEqual(group_anagrams(["tea", "eat", "ant"]), [["ant"], ["eat", "tea"]])
            def test_same_length_not_anagram(self):
                self.assertEqual(group_anagrams(["abc", "abd"]), [["abc"], ["abd"]])
            def test_duplicates(self):
                self.assertEqual(group_anagrams(["ab", "ba", "ab"]), [["ab", "ab", "ba"]])
            def test_empty(self):
                self.assertEqual(group_anagrams([]), [])
        """,
    ),
    _task(
        "tests-07",
        "make-tests-pass",
        "test_primes.py fails. Fix primes.py: primes_up_to(n) returns all primes <= n in increasing order (a sieve "
        "is fine); n < 2 gives [].",
        {
            "primes.py": """
            def primes_up_to(n):
                sieve = [True] * n
                out = []
                for i in range(2, n):
                    if sieve[i]:
                        out.append(i)
                        for j in range(i * i, n, i):
                            sieve[j] = False
                return out
            """,
            "test_primes.py": """
            import unittest
            from primes import primes_up_to


            class TestPrimes(unittest.TestCase):
                def test_includes_n(self):
                    self.assertEqual(primes_up_to(13), [2, 3, 5, 7, 11, 13])
            """,
        },
        {
            "primes.py": """
            def primes_up_to(n):
                if n < 2:
                    return []
                sieve = [True] * (n + 1)
                out = []
                for i in range(2, n + 1):
                    if sieve[i]:
                        out.append(i)
                        for j in range(i * i, n + 1, i):
                            sieve[j] = False
                return out
            """
        },
        """
        import unittest
        from primes import primes_up_to

        class T(unittest.TestCase):
            def test_includes_n(self):
                self.assertEqual(primes_up_to(13), [2, 3, 5, 7, 11, 13])
            def test_small(self):
                self.assertEqual(primes_up_to(2), [2])
                self.assertEqual(primes_up_to(1), [])
                self.assertEqual(primes_up_to(-5), [])
            def test_count(self):
                self.assertEqual(len(primes_up_to(100)), 25)
        """,
    ),
    _task(
        "tests-08",
        "make-tests-pass",
        "test_table.py fails. Fix table.py: format_table(rows) gets a list of equal-length rows (the first is the "
        "header) and returns the lines of a text table: columns left-aligned and padded to their widest cell, "
        "joined by ' | ', with a separator line of '-' and '-+-' under the header. No trailing spaces.",
        {
            "table.py": """
            def format_table(rows):
                return [" | ".join(str(cell) for cell in row) for row in rows]
            """,
            "test_table.py": """
            import unittest
            from table import format_table


            class TestTable(unittest.TestCase):
                def test_simple(self):
                    lines = format_table([["name", "n"], ["ab", 10]])
                    self.assertEqual(lines, ["name | n", "-----+---", "ab   | 10"])
            """,
        },
        {
            "table.py": """
            def format_table(rows):
                cells = [[str(cell) for cell in row] for row in rows]
                widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

                def line(row):
                    return " | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

                separator = "-+-".join("-" * width for width in widths)
                return [line(cells[0]), separator] + [line(row) for row in cells[1:]]
            """
        },
        """
        import unittest
        from table import format_table

        class T(unittest.TestCase):
            def test_simple(self):
                self.assertEqual(format_table([["name", "n"], ["ab", 10]]), ["name | n", "-----+---", "ab   | 10"])
            def test_header_only(self):
                self.assertEqual(format_table([["a", "bb"]]), ["a | bb", "--+---"])
            def test_no_trailing_spaces(self):
                for line in format_table([["x", "y"], ["long", ""], ["", "z"]]):
                    self.assertEqual(line, line.rstrip())
            def test_three_columns(self):
                lines = format_table([["a", "b", "c"], ["1", "22", "333"]])
                self.assertEqual(lines[2], "1 | 22 | 333")
        """,
    ),
    _task(
        "tests-09",
        "make-tests-pass",
        "test_vector.py fails. Fix vector.py so Vector supports + and - with another Vector, * with a number "
        "(on either side), == comparison and abs() (the Euclidean length).",
        {
            "vector.py": """
            class Vector:
                def __init__(self, x, y):
                    self.x, self.y = x, y

                def __add__(self, other):
                    return Vector(self.x + other.x, self.y + other.x)

                def __repr__(self):
                    return f"Vector({self.x}, {self.y})"
            """,
            "test_vector.py": """
            import unittest
            from vector import Vector


            class TestVector(unittest.TestCase):
                def test_add(self):
                    self.assertEqual(Vector(1, 2) + Vector(3, 4), Vector(4, 6))

                def test_scale(self):
                    self.assertEqual(2 * Vector(1, 2), Vector(2, 4))
            """,
        },
        {
            "vector.py": """
            import math


            class Vector:
                def __init__(self, x, y):
                    self.x, self.y = x, y

                def __add__(self, other):
                    return Vector(self.x + other.x, self.y + other.y)

                def __sub__(self, other):
                    return Vector(self.x - other.x, self.y - other.y)

                def __mul__(self, k):
                    return Vector(self.x * k, self.y * k)

                __rmul__ = __mul__

                def __eq__(self, other):
                    return isinstance(other, Vector) and (self.x, self.y) == (other.x, other.y)

                def __hash__(self):
                    return hash((self.x, self.y))

                def __abs__(self):
                    return math.hypot(self.x, self.y)

                def __repr__(self):
                    return f"Vector({self.x}, {self.y})"
            """
        },
        """
        import unittest
        from vector import Vector

        class T(unittest.TestCase):
            def test_add_sub(self):
                self.assertEqual(Vector(1, 2) + Vector(3, 4), Vector(4, 6))
                self.assertEqual(Vector(1, 2) - Vector(3, 5), Vector(-2, -3))
            def test_scale(self):
                self.assertEqual(2 * Vector(1, 2), Vector(2, 4))
                self.assertEqual(Vector(1, 2) * 3, Vector(3, 6))
            def test_abs(self):
                self.assertAlmostEqual(abs(Vector(3, 4)), 5.0)
            def test_eq(self):
                self.assertNotEqual(Vector(1, 2), Vector(2, 1))
                self.assertNotEqual(Vector(1, 2), (1, 2))
        """,
    ),
    _task(
        "tests-10",
        "make-tests-pass",
        "test_version.py fails. Fix version.py: compare_versions(a, b) compares dotted version strings numerically "
        "('1.10' > '1.9'; missing parts count as 0, so '1.0' == '1') and returns -1, 0 or 1.",
        {
            "version.py": """
            def compare_versions(a, b):
                if a == b:
                    return 0
                return 1 if a > b else -1
            """,
            "test_version.py": """
            import unittest
            from version import compare_versions


            class TestVersion(unittest.TestCase):
                def test_numeric(self):
                    self.assertEqual(compare_versions("1.10", "1.9"), 1)

                def test_padding(self):
                    self.assertEqual(compare_versions("1.0", "1"), 0)
            """,
        },
        {
            "version.py": """
            def compare_versions(a, b):
                left = [int(part) for part in a.split(".")]
                right = [int(part) for part in b.split(".")]
                size = max(len(left), len(right))
                left += [0] * (size - len(left))
                right += [0] * (size - len(right))
                return (left > right) - (left < right)
            """
        },
        """
        import unittest
        from version import compare_versions

        class T(unittest.TestCase):
            def test_numeric(self):
                self.assertEqual(compare_versions("1.10", "1.9"), 1)
                self.assertEqual(compare_versions("1.9", "1.10"), -1)
            def test_padding(self):
                self.assertEqual(compare_versions("1.0", "1"), 0)
                self.assertEqual(compare_versions("1.0.1", "1"), 1)
            def test_major(self):
                self.assertEqual(compare_versions("2", "10"), -1)
        """,
    ),
    _task(
        "tests-11",
        "make-tests-pass",
        "test_bracket.py fails. Fix brackets.py: balanced(text) is True when every (, [ and { in text is closed by "
        "the matching bracket in the right order; other characters are ignored.",
        {
            "brackets.py": """
            def balanced(text):
                return text.count("(") == text.count(")") and text.count("[") == text.count("]")
            """,
            "test_bracket.py": """
            import unittest
            from brackets import balanced


            class TestBalanced(unittest.TestCase):
                def test_order(self):
                    self.assertFalse(balanced(")("))

                def test_nested(self):
                    self.assertTrue(balanced("{[()]}"))
            """,
        },
        {
            "brackets.py": """
            PAIRS = {")": "(", "]": "[", "}": "{"}


            def balanced(text):
                stack = []
                for ch in text:
                    if ch in "([{":
                        stack.append(ch)
                    elif ch in PAIRS:
                        if not stack or stack.pop() != PAIRS[ch]:
                            return False
                return not stack
            """
        },
        """
        import unittest
        from brackets import balanced

        class T(unittest.TestCase):
            def test_order(self):
                self.assertFalse(balanced(")("))
            def test_nested(self):
                self.assertTrue(balanced("{[()]}"))
                self.assertTrue(balanced("f(a[1], {b: 2})"))
            def test_mismatch(self):
                self.assertFalse(balanced("(]"))
                self.assertFalse(balanced("{"))
                self.assertFalse(balanced("([)]"))
            def test_empty(self):
                self.assertTrue(balanced(""))
        """,
    ),
    _task(
        "tests-12",
        "make-tests-pass",
        "test_dedupe.py fails. Fix dedupe.py: dedupe(items, key=None) removes duplicates while keeping the first "
        "occurrence and the original order; with key, two items are duplicates when key(item) is equal. Items may "
        "be unhashable (dicts) when a key is given.",
        {
            "dedupe.py": """
            def dedupe(items, key=None):
                return list(set(items))
            """,
            "test_dedupe.py": """
            import unittest
            from dedupe import dedupe


            class TestDedupe(unittest.TestCase):
                def test_order(self):
                    self.assertEqual(dedupe([3, 1, 3, 2, 1]), [3, 1, 2])
            """,
        },
        {
            "dedupe.py": """
            def dedupe(items, key=None):
                seen = set()
                out = []
                for item in items:
                    marker = item if key is None else key(item)
                    if marker not in seen:
                        seen.add(marker)
                        out.append(item)
                return out
            """
        },
        """
        import unittest
        from dedupe import dedupe

        class T(unittest.TestCase):
            def test_order(self):
                self.assertEqual(dedupe([3, 1, 3, 2, 1]), [3, 1, 2])
            def test_key(self):
                rows = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 1, "v": "c"}]
                self.assertEqual(dedupe(rows, key=lambda r: r["id"]), rows[:2])
            def test_strings_case(self):
                self.assertEqual(dedupe(["A", "a", "B"], key=str.lower), ["A", "B"])
            def test_empty(self):
                self.assertEqual(dedupe([]), [])
        """,
    ),
]
