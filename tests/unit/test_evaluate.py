"""The reference semantics of a Query (``jsonserve.query.evaluate``), as tables.

docs/compat.md: one typed equality rule (``?id=1`` finds ``1`` and ``"1"``), a missing field never
matches, ``null`` is a value, ``_like`` is RE2 (linear time), ``q`` recurses and never matches falsy
values; json-server.md §3/§4 for ordering, stable multi-key sorts and pages.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from jsonserve._types import Record
from jsonserve.query import matches, run
from jsonserve.query.evaluate import MISSING, equals, lookup, sort_records, window
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Op,
    PageRequest,
    Query,
    Slice,
    SortKey,
    TextSearch,
)

ALL_OPS = list(Op)


def check(stored: Any, op: Op, value: str | tuple[str, ...]) -> bool:
    return matches({"f": stored}, Condition(("f",), op, value))


# -- equality (eq, ne, in) -------------------------------------------------------------------------

EQUALITY: list[tuple[Any, str, bool]] = [
    # numbers compare numerically with the query text
    (1, "1", True),
    (1, "1.0", True),
    (1, " 1 ", True),
    (1, "2", False),
    (1, "abc", False),
    (1, "", False),
    (1, "true", False),
    (0, "0", True),
    (0, "", False),
    (0, "false", False),
    (1.5, "1.5", True),
    (1.5, "1.50", True),
    (1.5, "1", False),
    (-3, "-3", True),
    (10, "1e1", True),
    (1, "NaN", False),
    (1, "Infinity", False),
    (1, "0x1", False),
    (2**53 + 1, str(2**53 + 1), True),
    # strings compare exactly (case-sensitive, no numeric loosening)
    ("1", "1", True),
    ("01", "1", False),
    ("1", "01", False),
    ("1.0", "1", False),
    ("a", "a", True),
    ("a", "A", False),
    ("", "", True),
    ("true", "true", True),
    ("null", "null", True),
    ("café", "café", True),
    # booleans as true/false
    (True, "true", True),
    (False, "false", True),
    (True, "false", False),
    (True, "True", False),
    (True, "1", False),
    (False, "0", False),
    (False, "", False),
    # null is a value: it is "null"
    (None, "null", True),
    (None, "", False),
    (None, "None", False),
    (None, "0", False),
    # objects and arrays never equal a text
    ({"a": 1}, '{"a":1}', False),
    ([1], "1", False),
    ([], "", False),
]


@pytest.mark.parametrize(("stored", "text", "expected"), EQUALITY)
def test_eq(stored: Any, text: str, expected: bool) -> None:
    assert check(stored, Op.EQ, text) is expected


@pytest.mark.parametrize(("stored", "text", "expected"), EQUALITY)
def test_ne_is_not_eq_for_present_fields(stored: Any, text: str, expected: bool) -> None:
    assert check(stored, Op.NE, text) is (not expected)


@pytest.mark.parametrize(("stored", "text", "expected"), EQUALITY)
def test_in_one_value_is_eq(stored: Any, text: str, expected: bool) -> None:
    assert check(stored, Op.IN, (text,)) is expected


@pytest.mark.parametrize(
    ("stored", "values", "expected"),
    [
        (1, ("1", "2"), True),
        (2, ("1", "2"), True),
        (3, ("1", "2"), False),
        ("b", ("a", "b"), True),
        ("2", ("1", "2"), True),
        (True, ("false", "true"), True),
        (None, ("1", "null"), True),
        (1, (), False),
    ],
)
def test_in(stored: Any, values: tuple[str, ...], expected: bool) -> None:
    assert check(stored, Op.IN, values) is expected


def test_numeric_and_string_ids_match_the_same_text() -> None:
    numeric: Record = {"id": 1}
    text: Record = {"id": "1"}
    condition = Condition(("id",), Op.EQ, "1")
    assert matches(numeric, condition) and matches(text, condition)


# -- missing fields --------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("record", [{}, {"g": 1}, {"f": {"x": 1}}, {"f": [1]}], ids=["empty", "other", "dict", "list"])
def test_a_missing_field_never_matches(op: Op, record: Record) -> None:
    value: str | tuple[str, ...] = ("1", "null") if op is Op.IN else "null" if op is Op.EQ else "1"
    assert not matches(record, Condition(("f", "y"), op, value))


@pytest.mark.parametrize("op", ALL_OPS)
def test_missing_never_matches_even_ne(op: Op) -> None:
    value: str | tuple[str, ...] = ("x",) if op is Op.IN else "x"
    assert not matches({}, Condition(("f",), op, value))


def test_null_matches_ne() -> None:
    assert check(None, Op.NE, "x")
    assert not check(None, Op.NE, "null")


# -- paths -----------------------------------------------------------------------------------------

RECORD: Record = {"a": {"b": {"c": 3}}, "tags": ["x", "y"], "n": None, "rows": [{"k": 1}]}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("a", "b", "c"), 3),
        (("a", "b"), {"c": 3}),
        (("tags", "1"), "y"),
        (("tags", "2"), MISSING),
        (("tags", "-1"), MISSING),
        (("tags", "x"), MISSING),
        (("rows", "0", "k"), 1),
        (("n",), None),
        (("n", "x"), MISSING),
        (("a", "z"), MISSING),
        (("a", "b", "c", "d"), MISSING),
        (("zz",), MISSING),
    ],
)
def test_lookup(path: tuple[str, ...], expected: Any) -> None:
    assert lookup(RECORD, path) == expected if expected is not MISSING else lookup(RECORD, path) is MISSING


def test_dotted_condition() -> None:
    assert matches(RECORD, Condition(("a", "b", "c"), Op.EQ, "3"))
    assert matches(RECORD, Condition(("tags", "0"), Op.EQ, "x"))
    assert not matches(RECORD, Condition(("a", "b", "c"), Op.EQ, "4"))


# -- ordering (lt, lte, gt, gte) -------------------------------------------------------------------

ORDERING: list[tuple[Any, Op, str, bool]] = [
    # numbers numerically
    (10, Op.GT, "9", True),
    (10, Op.LT, "9", False),
    (10, Op.GTE, "10", True),
    (10, Op.LTE, "10", True),
    (10, Op.LT, "10", False),
    (10, Op.GT, "10", False),
    (10, Op.LTE, "10.5", True),
    (-1, Op.LT, "0", True),
    (1.5, Op.GT, "1.25", True),
    (10, Op.GT, "abc", False),
    (10, Op.LT, "abc", False),
    (10, Op.GT, "", False),
    # strings by code point
    ("10", Op.LT, "9", True),
    ("b", Op.GT, "a", True),
    ("b", Op.GTE, "b", True),
    ("b", Op.LTE, "b", True),
    ("B", Op.LT, "a", True),
    ("a", Op.LT, "B", False),
    ("2024-01-02", Op.GTE, "2024-01-01", True),
    ("2024-01-02", Op.LT, "2024-01-01", False),
    ("", Op.LT, "a", True),
    # other types never match
    (True, Op.GT, "0", False),
    (True, Op.GTE, "true", False),
    (False, Op.LT, "1", False),
    (None, Op.LT, "1", False),
    (None, Op.GTE, "null", False),
    ({"a": 1}, Op.GT, "0", False),
    ([1], Op.GT, "0", False),
]


@pytest.mark.parametrize(("stored", "op", "text", "expected"), ORDERING)
def test_ordering(stored: Any, op: Op, text: str, expected: bool) -> None:
    assert check(stored, op, text) is expected


# -- contains / startsWith / endsWith --------------------------------------------------------------

STRING_TESTS: list[tuple[Any, Op, str, bool]] = [
    ("Hello World", Op.CONTAINS, "lo wo", True),
    ("Hello World", Op.CONTAINS, "LO WO", True),
    ("Hello World", Op.CONTAINS, "", True),
    ("Hello World", Op.CONTAINS, "xyz", False),
    ("Hello World", Op.STARTS_WITH, "hello", True),
    ("Hello World", Op.STARTS_WITH, "world", False),
    ("Hello World", Op.ENDS_WITH, "WORLD", True),
    ("Hello World", Op.ENDS_WITH, "hello", False),
    ("ÉCOLE", Op.STARTS_WITH, "éc", True),
    ("a.b", Op.CONTAINS, ".", True),
    ("a.b", Op.CONTAINS, "a*", False),
    # strings only
    (123, Op.CONTAINS, "2", False),
    (123, Op.STARTS_WITH, "1", False),
    (123, Op.ENDS_WITH, "3", False),
    (True, Op.CONTAINS, "true", False),
    (None, Op.CONTAINS, "null", False),
    (["abc"], Op.CONTAINS, "abc", False),
    ({"k": "abc"}, Op.CONTAINS, "abc", False),
]


@pytest.mark.parametrize(("stored", "op", "text", "expected"), STRING_TESTS)
def test_string_ops(stored: Any, op: Op, text: str, expected: bool) -> None:
    assert check(stored, op, text) is expected


# -- like (RE2) ------------------------------------------------------------------------------------

LIKE: list[tuple[Any, str, bool]] = [
    ("json-server", "server", True),
    ("json-server", "^json", True),
    ("json-server", "^server", False),
    ("json-server", "SERVER$", True),
    ("json-server", "j.n", False),
    ("json-server", "j.*r", True),
    ("json-server", "s[aeiou]rv", True),
    ("json-server", "^(json|yaml)-", True),
    ("json-server", "", True),
    ("Ünïcode", "ünï", True),
    ("line1\nline2", "line2", True),
    # scalars are matched as their text
    (123, "^12", True),
    (123, "^23", False),
    (1.5, r"^1\.5$", True),
    (True, "^true$", True),
    (False, "fal", True),
    # null and objects never match
    (None, "null", False),
    (None, "", False),
    ({"a": "x"}, "x", False),
    # an array matches when one of its strings, numbers or booleans does (issue 13; 0.17 tested "x,y")
    (["x"], "x", True),
    (["x", "y"], "^y$", True),
    (["x", "y"], "^x,y$", False),
    (["react", "vue"], "^VUE$", True),
    ([1, 2.5], r"^2\.5$", True),
    ([True], "^true$", True),
    ([], "", False),
    ([None], "null", False),
    ([None], "", False),
    ([["x"]], "x", False),
    ([{"a": "x"}], "x", False),
    ([None, {"a": "x"}, "x"], "^x$", True),
]


@pytest.mark.parametrize(("stored", "pattern", "expected"), LIKE)
def test_like(stored: Any, pattern: str, expected: bool) -> None:
    assert check(stored, Op.LIKE, pattern) is expected


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(.*a){12}"])
def test_like_catastrophic_pattern_is_linear(pattern: str) -> None:
    # A backtracking engine (JavaScript, Python's re) takes exponential time on these.
    subject = "a" * 50_000 + "!"
    started = time.perf_counter()
    result = check(subject, Op.LIKE, pattern)
    elapsed = time.perf_counter() - started
    assert result is (pattern == "(.*a){12}")
    assert elapsed < 1.0


# -- q (full-text) ---------------------------------------------------------------------------------

Q: list[tuple[Record, str, bool]] = [
    ({"title": "Hello World"}, "world", True),
    ({"title": "Hello World"}, "WORLD", True),
    ({"title": "Hello World"}, "lo wo", True),
    ({"title": "Hello"}, "title", False),  # keys are not searched
    ({"views": 250}, "25", True),
    ({"views": 1.5}, "1.5", True),
    ({"done": True}, "true", True),
    ({"done": True}, "tru", True),
    ({"meta": {"lang": "FR"}}, "fr", True),
    ({"meta": {"deep": {"deeper": ["x", {"y": "Needle"}]}}}, "needle", True),
    ({"tags": ["a", "bcd"]}, "BC", True),
    ({"a": "x", "b": "y"}, "xy", False),  # no match across values
    # falsy values never match
    ({"n": 0}, "0", False),
    ({"n": 0.0}, "0", False),
    ({"b": False}, "false", False),
    ({"b": False}, "f", False),
    ({"s": ""}, "", False),
    ({"x": None}, "null", False),
    ({"x": None}, "nu", False),
    ({"x": [0, False, None, ""]}, "0", False),
    ({"x": {"y": 0}}, "0", False),
    ({"n": 10}, "0", True),  # 10 is truthy and contains "0"
    ({}, "", False),
    ({"s": "a"}, "", True),
]


@pytest.mark.parametrize(("record", "text", "expected"), Q)
def test_q(record: Record, text: str, expected: bool) -> None:
    assert matches(record, TextSearch(text)) is expected


# -- combinators ---------------------------------------------------------------------------------


def test_all_of_and_any_of() -> None:
    record: Record = {"a": 1, "b": 2}
    yes, no = Condition(("a",), Op.EQ, "1"), Condition(("b",), Op.EQ, "3")
    assert matches(record, AllOf())
    assert not matches(record, AnyOf())
    assert matches(record, AllOf((yes,)))
    assert not matches(record, AllOf((yes, no)))
    assert matches(record, AnyOf((no, yes)))
    assert not matches(record, AnyOf((no, no)))
    assert matches(record, AllOf((AnyOf((no, yes)), yes)))


# -- sort ------------------------------------------------------------------------------------------

MIXED: list[Record] = [
    {"id": "missing"},
    {"id": "null", "v": None},
    {"id": "obj", "v": {"a": 1}},
    {"id": "true", "v": True},
    {"id": "false", "v": False},
    {"id": "str-b", "v": "b"},
    {"id": "str-B", "v": "B"},
    {"id": "str-10", "v": "10"},
    {"id": "num-10", "v": 10},
    {"id": "num-2.5", "v": 2.5},
    {"id": "num--1", "v": -1},
]
MIXED_ASC = ["num--1", "num-2.5", "num-10", "str-10", "str-B", "str-b", "false", "true", "obj", "null", "missing"]


def ids(records: list[Record]) -> list[Any]:
    return [record["id"] for record in records]


def test_sort_order_across_types() -> None:
    assert ids(sort_records(MIXED, [SortKey(("v",))])) == MIXED_ASC


def test_sort_descending_reverses_and_puts_missing_first() -> None:
    assert ids(sort_records(MIXED, [SortKey(("v",), True)])) == MIXED_ASC[::-1]


def test_sort_does_not_mutate_its_input() -> None:
    before = list(MIXED)
    sort_records(MIXED, [SortKey(("v",))])
    assert before == MIXED


ROWS: list[Record] = [
    {"id": 1, "g": "b", "n": 2, "m": {"k": 3}},
    {"id": 2, "g": "a", "n": 2, "m": {"k": 1}},
    {"id": 3, "g": "b", "n": 1, "m": {"k": 2}},
    {"id": 4, "g": "a", "n": 1},
    {"id": 5, "g": "b", "n": 2, "m": {"k": 3}},
]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([], [1, 2, 3, 4, 5]),
        ([SortKey(("g",))], [2, 4, 1, 3, 5]),  # stable: ties keep their order
        ([SortKey(("g",), True)], [1, 3, 5, 2, 4]),  # stable when descending too
        ([SortKey(("n",))], [3, 4, 1, 2, 5]),
        ([SortKey(("g",)), SortKey(("n",))], [4, 2, 3, 1, 5]),
        ([SortKey(("g",)), SortKey(("n",), True)], [2, 4, 1, 5, 3]),
        ([SortKey(("n",), True), SortKey(("g",))], [2, 1, 5, 4, 3]),
        ([SortKey(("m", "k"))], [2, 3, 1, 5, 4]),
        ([SortKey(("m", "k"), True)], [4, 1, 5, 3, 2]),
        ([SortKey(("nope",))], [1, 2, 3, 4, 5]),
    ],
)
def test_stable_multi_key_sort(keys: list[SortKey], expected: list[int]) -> None:
    assert ids(sort_records(ROWS, keys)) == expected


# -- windows and pages -----------------------------------------------------------------------------

TEN: list[Record] = [{"id": i} for i in range(1, 11)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, list(range(1, 11))),
        (Slice(), list(range(1, 11))),
        (Slice(0, 3), [1, 2, 3]),
        (Slice(2, 5), [3, 4, 5]),
        (Slice(8), [9, 10]),
        (Slice(8, 100), [9, 10]),
        (Slice(20), []),
        (Slice(5, 2), []),
        (Slice(0, 0), []),
        (PageRequest(1, 3), [1, 2, 3]),
        (PageRequest(2, 3), [4, 5, 6]),
        (PageRequest(4, 3), [10]),
        (PageRequest(1, 10), list(range(1, 11))),
        (PageRequest(2, 5), [6, 7, 8, 9, 10]),
    ],
)
def test_window(spec: Slice | PageRequest | None, expected: list[int]) -> None:
    assert ids(window(TEN, spec)) == expected


def test_run_filters_sorts_then_windows_and_counts_before_the_window() -> None:
    query = Query(
        "t",
        where=Condition(("id",), Op.GT, "2"),
        sort=(SortKey(("id",), True),),
        window=Slice(1, 3),
    )
    page = run(TEN, query)
    assert (ids(page.items), page.total) == ([9, 8], 8)


@pytest.mark.parametrize(
    ("number", "size", "clamp", "expected"),
    [
        (1, 4, False, [1, 2, 3, 4]),
        (3, 4, False, [9, 10]),
        # json-server 0.17 (plain array): a page past the end is empty (json-server.md §3)
        (4, 4, False, []),
        (99, 4, False, []),
        # json-server 1.x (the envelope's pages): the page is clamped to 1..pages (json-server.md §4)
        (4, 4, True, [9, 10]),
        (99, 4, True, [9, 10]),
        (2, 4, True, [5, 6, 7, 8]),
    ],
)
def test_run_pages(number: int, size: int, clamp: bool, expected: list[int]) -> None:
    page = run(TEN, Query("t", window=PageRequest(number, size, clamp)))
    assert (ids(page.items), page.total) == (expected, 10)


def test_run_on_nothing() -> None:
    page = run([], Query("t", window=PageRequest(1, 5, clamp=True)))
    assert (page.items, page.total) == ([], 0)


# -- long lists: `in`, and `ne` of a list (repeated `_ne` keys) --------------------------------------

LONG_TEXTS = ("1", "2.0", "1e20", "x", "true", "null", "-0", "9223372036854775807", *map(str, range(100, 140)))


@pytest.mark.parametrize(
    "stored",
    [1, 1.0, 2, 2.0, 1e20, 10**20, "x", "1", "2", True, False, None, 0, -0.0, 2**63 - 1, 120, "120", [1], {"x": 1}],
)
def test_a_long_list_is_tested_like_each_of_its_texts(stored: Any) -> None:
    """Past a few texts, `in` hashes the list: the same answers as `equals` one text at a time."""
    one_by_one = any(equals(stored, text) for text in LONG_TEXTS)
    assert check(stored, Op.IN, LONG_TEXTS) is one_by_one
    assert check(stored, Op.NE, LONG_TEXTS) is not one_by_one
    assert check(stored, Op.NE, LONG_TEXTS[:2]) is not any(equals(stored, text) for text in LONG_TEXTS[:2])


def test_ne_of_a_list_never_matches_a_missing_field() -> None:
    assert not matches({"id": 1}, Condition(("views",), Op.NE, ("1", "2")))
