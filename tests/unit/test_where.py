"""``parse_where``: the ``_where`` language on already-parsed JSON values (REST, GraphQL, subscriptions).

``tests/unit/test_params.py`` checks the same language through ``_where=<JSON text>``; here the tree is
passed as Python values, as GraphQL arguments and WebSocket frames arrive.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jsonserve.errors import QueryError
from jsonserve.query import AllOf, AnyOf, Condition, Node, Not, Op, WhereOptions, parse_params, parse_where
from jsonserve.query.evaluate import matches
from jsonserve.query.where import MAX_PATTERNS, MAX_WHERE_DEPTH

VALID_OPS = "eq, ne, lt, lte, gt, gte, in, contains, startsWith, endsWith"


def cond(path: str, op: Op, value: str | tuple[str, ...]) -> Condition:
    return Condition(tuple(path.split(".")), op, value)


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... {"a": 1}}}`` with ``depth`` objects inside the outermost one."""
    tree: dict[str, Any] = {"a": 1}
    for _ in range(depth):
        tree = {"a": tree}
    return tree


# -- each operator ---------------------------------------------------------------------------------

OPERATORS: list[tuple[Op, object, str | tuple[str, ...]]] = [
    (Op.EQ, "x", "x"),
    (Op.NE, 1, "1"),
    (Op.LT, 2.5, "2.5"),
    (Op.LTE, -3, "-3"),
    (Op.GT, 10, "10"),
    (Op.GTE, 1.0, "1"),
    (Op.IN, [1, "3", True, None], ("1", "3", "true", "null")),
    (Op.CONTAINS, "Js", "Js"),
    (Op.STARTS_WITH, "j", "j"),
    (Op.ENDS_WITH, "n", "n"),
    (Op.LIKE, "^a.*z$", "^a.*z$"),
]


@pytest.mark.parametrize(("op", "value", "text"), [pytest.param(o, v, t, id=o.value) for o, v, t in OPERATORS])
def test_each_operator(op: Op, value: object, text: str | tuple[str, ...]) -> None:
    assert parse_where({"f": {op.value: value}}) == cond("f", op, text)


# -- values, paths and nesting ---------------------------------------------------------------------

TREES: list[tuple[str, dict[str, Any], Node]] = [
    ("plain value means eq", {"title": "x"}, cond("title", Op.EQ, "x")),
    ("integer text", {"views": 100}, cond("views", Op.EQ, "100")),
    ("whole float has no .0", {"views": 100.0}, cond("views", Op.EQ, "100")),
    ("float without exponent", {"x": 1e-7}, cond("x", Op.EQ, "0.0000001")),
    ("true", {"done": True}, cond("done", Op.EQ, "true")),
    ("false", {"done": False}, cond("done", Op.EQ, "false")),
    ("null", {"x": None}, cond("x", Op.EQ, "null")),
    ("in one scalar", {"id": {"in": 2}}, cond("id", Op.IN, ("2",))),
    ("in empty list", {"id": {"in": []}}, cond("id", Op.IN, ())),
    (
        "two ops on a field are AND",
        {"v": {"gte": 1, "lte": 5}},
        AllOf((cond("v", Op.GTE, "1"), cond("v", Op.LTE, "5"))),
    ),
    ("several fields are AND", {"a": 1, "b": 2}, AllOf((cond("a", Op.EQ, "1"), cond("b", Op.EQ, "2")))),
    ("nested field, plain value", {"meta": {"lang": "fr"}}, cond("meta.lang", Op.EQ, "fr")),
    ("nested field with op", {"meta": {"lang": {"ne": "fr"}}}, cond("meta.lang", Op.NE, "fr")),
    ("deeply nested", {"a": {"b": {"c": {"lt": 1}}}}, cond("a.b.c", Op.LT, "1")),
    ("nested siblings", {"m": {"a": 1, "b": 2}}, AllOf((cond("m.a", Op.EQ, "1"), cond("m.b", Op.EQ, "2")))),
    ("a dotted key stays one segment", {"a.b": 1}, Condition(("a.b",), Op.EQ, "1")),
    ("empty nested object matches everything", {"meta": {}}, AllOf()),
    ("empty object matches everything", {}, AllOf()),
    ("or", {"or": [{"id": 1}, {"id": 3}]}, AnyOf((cond("id", Op.EQ, "1"), cond("id", Op.EQ, "3")))),
    ("and", {"and": [{"a": 1}, {"b": {"gt": 2}}]}, AllOf((cond("a", Op.EQ, "1"), cond("b", Op.GT, "2")))),
    ("empty or matches nothing", {"or": []}, AnyOf()),
    ("empty and matches everything", {"and": []}, AllOf()),
    (
        "or beside a field",
        {"a": 1, "or": [{"b": 2}, {"c": 3}]},
        AllOf((cond("a", Op.EQ, "1"), AnyOf((cond("b", Op.EQ, "2"), cond("c", Op.EQ, "3"))))),
    ),
    (
        "and inside or",
        {"or": [{"and": [{"a": 1}, {"b": 2}]}, {"c": {"in": [3]}}]},
        AnyOf((AllOf((cond("a", Op.EQ, "1"), cond("b", Op.EQ, "2"))), cond("c", Op.IN, ("3",)))),
    ),
    ("not", {"not": {"a": {"gt": 1}}}, Not(cond("a", Op.GT, "1"))),
    ("not beside a field", {"b": 2, "not": {"a": 1}}, AllOf((cond("b", Op.EQ, "2"), Not(cond("a", Op.EQ, "1"))))),
    ("not inside or", {"or": [{"not": {"a": 1}}]}, AnyOf((Not(cond("a", Op.EQ, "1")),))),
    ("not of nothing", {"not": {}}, Not(AllOf())),
    ("below the top, not is a field name", {"meta": {"not": 1}}, cond("meta.not", Op.EQ, "1")),
    ("below the top, or is a field name", {"meta": {"or": "x"}}, cond("meta.or", Op.EQ, "x")),
    ("a field named like an op", {"like": "x"}, cond("like", Op.EQ, "x")),
]


@pytest.mark.parametrize(("tree", "where"), [pytest.param(t, w, id=i) for i, t, w in TREES])
def test_trees(tree: dict[str, Any], where: Node) -> None:
    assert parse_where(tree) == where


def test_not_matches_what_its_tree_does_not_and_records_lacking_the_field() -> None:
    where = parse_where({"not": {"views": {"gt": 10}}})
    records: list[dict[str, Any]] = [{"views": 5}, {"views": 50}, {}, {"views": True}]
    assert [matches(record, where) for record in records] == [True, False, True, True]


def test_depth_limit_is_inclusive() -> None:
    assert parse_where(nested(MAX_WHERE_DEPTH)) == cond(".".join("a" * (MAX_WHERE_DEPTH + 1)), Op.EQ, "1")
    assert parse_where(nested(3), WhereOptions(max_depth=3)) == cond("a.a.a.a", Op.EQ, "1")


def test_pattern_limit_is_inclusive() -> None:
    tree = {"or": [{"t": {"like": f"p{i}"}} for i in range(MAX_PATTERNS)]}
    node = parse_where(tree)
    assert isinstance(node, AnyOf) and len(node.items) == MAX_PATTERNS
    repeated = {"or": [{"t": {"like": "p"}} for _ in range(MAX_PATTERNS * 2)]}  # one pattern, many times
    parse_where(repeated)


# -- errors ----------------------------------------------------------------------------------------

TOO_MANY_PATTERNS = {"or": [{"t": {"like": f"p{i}"}} for i in range(MAX_PATTERNS + 1)]}

ERRORS: list[tuple[str, object, str, tuple[tuple[str, str], ...]]] = [
    ("a list", [1], "`_where` must be a JSON object", (("_where", "invalid_where"),)),
    ("a string", "{}", "`_where` must be a JSON object", (("_where", "invalid_where"),)),
    ("null", None, "`_where` must be a JSON object", (("_where", "invalid_where"),)),
    ("a number", 1, "`_where` must be a JSON object", (("_where", "invalid_where"),)),
    (
        "unknown operator",
        {"a": {"b": {"gt": 1, "foo": 2}}},
        f"unknown operator 'foo' in `_where` for 'a.b'; valid: {VALID_OPS}, like",
        (("_where", "unknown_operator"),),
    ),
    ("or not a list", {"or": {"a": 1}}, "`_where` 'or' must be a list of objects", ()),
    ("not of a list", {"not": [{"a": 1}]}, "`_where` 'not' must be an object", ()),
    ("or of scalars", {"or": [1]}, "`_where` 'or' must be a list of objects", ()),
    ("and of lists", {"and": [[{"a": 1}]]}, "`_where` 'and' must be a list of objects", ()),
    ("list value", {"a": [1]}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("op on a list", {"a": {"gt": [1]}}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("op on an object", {"a": {"eq": {"b": 1}}}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("in of objects", {"a": {"in": [{}]}}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("in of lists", {"a": {"in": [[1]]}}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("not a JSON value", {"a": (1, 2)}, "`_where` values must be strings, numbers, booleans or null", ()),
    ("a key that is not a string", {1: "x"}, "`_where` keys must be strings", ()),
    ("too deep", nested(MAX_WHERE_DEPTH + 1), "`_where` is nested too deeply", ()),
    ("too deep through or", {"or": [nested(MAX_WHERE_DEPTH)]}, "`_where` is nested too deeply", ()),
    (
        "invalid like",
        {"t": {"like": "("}},
        "`_where` is not a valid regular expression",
        (("_where", "invalid_pattern"),),
    ),
    (
        "like too long",
        {"t": {"like": "a" * 257}},
        "`_where` pattern is longer than 256 characters",
        (("_where", "pattern_too_long"),),
    ),
    (
        "NUL in a value",
        {"t": "a\x00"},
        "`_where` contains a NUL character (U+0000)",
        (("_where", "invalid_character"),),
    ),
    ("NUL in a key", {"t\x00": 1}, "`_where` contains a NUL character (U+0000)", (("_where", "invalid_character"),)),
    (
        "NUL in an in list",
        {"t": {"in": ["a", "\x00"]}},
        "`_where` contains a NUL character (U+0000)",
        (("_where", "invalid_character"),),
    ),
    ("too many patterns", TOO_MANY_PATTERNS, f"at most {MAX_PATTERNS} different `_like` patterns in one query", ()),
]


@pytest.mark.parametrize(("tree", "detail", "errors"), [pytest.param(t, d, e, id=i) for i, t, d, e in ERRORS])
def test_errors(tree: object, detail: str, errors: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(QueryError) as caught:
        parse_where(tree)
    assert caught.value.code == "invalid_query"
    assert caught.value.detail.startswith(detail)
    assert tuple((error.path, error.code) for error in caught.value.errors) == errors


def test_options_tighten_the_bounds() -> None:
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_where(nested(3), WhereOptions(max_depth=2))
    with pytest.raises(QueryError, match="at most 1 different"):
        parse_where({"a": {"like": "x"}, "b": {"like": "y"}}, WhereOptions(max_patterns=1))


def test_depth_is_checked_before_nul() -> None:
    # A tree too deep is refused before it is walked again for NUL characters.
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_where({"x\x00": 1, **nested(MAX_WHERE_DEPTH + 1)})


def test_rest_and_parse_where_agree() -> None:
    tree = {"or": [{"views": {"gt": 1, "lt": 9}}, {"meta": {"lang": "fr"}}], "id": {"in": [1, 2]}}
    assert parse_params("posts", [("_where", orjson.dumps(tree).decode())]).where == parse_where(tree)
