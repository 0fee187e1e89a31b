"""``parse_params``: every json-server 0.17 and 1.x parameter form -> the expected :class:`Query`.

json-server.md §3 (0.17) and §4 (1.x); docs/compat.md for where we deliberately differ (400s instead
of silent drops, repeated keys as OR, ``_where`` ANDed with the other filters, clamping to 1000).
"""

from __future__ import annotations

import json

import pytest

from jsonserve.errors import QueryError
from jsonserve.query import ParseOptions, WhereOptions, parse_dependents, parse_params, parse_where
from jsonserve.query.limits import MAX_CONDITIONS, MAX_PATH_SEGMENTS, MAX_SORT_KEYS, MAX_VALUES
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Node,
    Op,
    PageRequest,
    Query,
    Slice,
    SortKey,
    TextSearch,
)
from jsonserve.query.params import MAX_OFFSET, MAX_PAGE

Pairs = list[tuple[str, str]]
VALID_OPS = "eq, ne, lt, lte, gt, gte, in, contains, startsWith, endsWith"


def parse(pairs: Pairs, compat: str = "0.17") -> Query:
    return parse_params("posts", pairs, ParseOptions(compat=compat))


def cond(path: str, op: Op, value: str | tuple[str, ...]) -> Condition:
    return Condition(tuple(path.split(".")), op, value)


# -- filters -------------------------------------------------------------------------------------

FILTERS: list[tuple[str, Pairs, Node]] = [
    # 0.17
    ("eq", [("title", "a")], cond("title", Op.EQ, "a")),
    ("eq keeps the raw text", [("views", "0100")], cond("views", Op.EQ, "0100")),
    ("empty value", [("title", "")], cond("title", Op.EQ, "")),
    ("dotted path", [("author.name", "x")], cond("author.name", Op.EQ, "x")),
    ("array index path", [("tags.0", "a")], cond("tags.0", Op.EQ, "a")),
    # A repeated key is an OR (0.17): of equalities, one `in`, so that a long list is one condition.
    ("repeated key is OR", [("id", "1"), ("id", "2")], cond("id", Op.IN, ("1", "2"))),
    ("repeated :eq is OR", [("id:eq", "1"), ("id:eq", "1")], cond("id", Op.IN, ("1", "1"))),
    ("repeated :in is one list", [("id:in", "1,2"), ("id:in", "3")], cond("id", Op.IN, ("1", "2", "3"))),
    ("_gte", [("views_gte", "10")], cond("views", Op.GTE, "10")),
    ("_lte", [("views_lte", "10")], cond("views", Op.LTE, "10")),
    ("_ne", [("views_ne", "10")], cond("views", Op.NE, "10")),
    ("repeated _ne is AND: none of", [("a_ne", "1"), ("a_ne", "2")], cond("a", Op.NE, ("1", "2"))),
    ("_like", [("title_like", "^js.*n$")], cond("title", Op.LIKE, "^js.*n$")),
    ("_like on a dotted path", [("meta.lang_like", "f")], cond("meta.lang", Op.LIKE, "f")),
    (
        "two different keys are AND",
        [("views_gte", "1"), ("views_lte", "9")],
        AllOf((cond("views", Op.GTE, "1"), cond("views", Op.LTE, "9"))),
    ),
    ("q", [("q", "foo")], TextSearch("foo")),
    ("only the first q is used", [("q", "a"), ("q", "b")], TextSearch("a")),
    ("filter and q", [("title", "a"), ("q", "x")], AllOf((cond("title", Op.EQ, "a"), TextSearch("x")))),
    ("cache buster _ is ignored", [("_", "123")], AllOf()),
    ("_dependent is not a filter", [("_dependent", "comments")], AllOf()),
    # 1.x operators
    ("field:eq", [("views:eq", "1")], cond("views", Op.EQ, "1")),
    ("field:ne", [("views:ne", "1")], cond("views", Op.NE, "1")),
    ("field:lt", [("views:lt", "1")], cond("views", Op.LT, "1")),
    ("field:lte", [("views:lte", "1")], cond("views", Op.LTE, "1")),
    ("field:gt", [("views:gt", "1")], cond("views", Op.GT, "1")),
    ("field:gte", [("views:gte", "1")], cond("views", Op.GTE, "1")),
    ("field:in", [("id:in", "1,2,x")], cond("id", Op.IN, ("1", "2", "x"))),
    ("field:in one value", [("id:in", "7")], cond("id", Op.IN, ("7",))),
    ("field:contains", [("title:contains", "Js")], cond("title", Op.CONTAINS, "Js")),
    ("field:startsWith", [("title:startsWith", "j")], cond("title", Op.STARTS_WITH, "j")),
    ("field:endsWith", [("title:endsWith", "t")], cond("title", Op.ENDS_WITH, "t")),
    ("field:like", [("title:like", "^a")], cond("title", Op.LIKE, "^a")),
    ("dotted path with op", [("meta.lang:eq", "fr")], cond("meta.lang", Op.EQ, "fr")),
    (
        "two ops on one field are AND",
        [("views:gt", "10"), ("views:lt", "50")],
        AllOf((cond("views", Op.GT, "10"), cond("views", Op.LT, "50"))),
    ),
    (
        "repeated 1.x key is OR",
        [("views:gt", "10"), ("views:gt", "50")],
        AnyOf((cond("views", Op.GT, "10"), cond("views", Op.GT, "50"))),
    ),
    # legacy suffixes for the 1.x op names
    ("_lt suffix", [("views_lt", "5")], cond("views", Op.LT, "5")),
    ("_gt suffix", [("views_gt", "5")], cond("views", Op.GT, "5")),
    ("_eq suffix", [("views_eq", "5")], cond("views", Op.EQ, "5")),
    ("_in suffix", [("id_in", "1,2")], cond("id", Op.IN, ("1", "2"))),
    ("_contains suffix", [("title_contains", "x")], cond("title", Op.CONTAINS, "x")),
    ("_startsWith suffix", [("title_startsWith", "x")], cond("title", Op.STARTS_WITH, "x")),
    ("_endsWith suffix", [("title_endsWith", "x")], cond("title", Op.ENDS_WITH, "x")),
    ("a field named like an op", [("like", "x")], cond("like", Op.EQ, "x")),
]


@pytest.mark.parametrize("compat", ["0.17", "1"])
@pytest.mark.parametrize(("pairs", "where"), [pytest.param(p, w, id=i) for i, p, w in FILTERS])
def test_filters(pairs: Pairs, where: Node, compat: str) -> None:
    # Both grammars are accepted on every request, whatever the compat line.
    assert parse(pairs, compat) == Query("posts", where=where)


# -- _where ----------------------------------------------------------------------------------------

WHERE: list[tuple[str, str, Node]] = [
    ("op", '{"views":{"gt":10}}', cond("views", Op.GT, "10")),
    ("every op", '{"a":{"lte":1.5}}', cond("a", Op.LTE, "1.5")),
    ("two ops on a field", '{"v":{"gte":1,"lte":5}}', AllOf((cond("v", Op.GTE, "1"), cond("v", Op.LTE, "5")))),
    ("plain value means eq", '{"title":"x"}', cond("title", Op.EQ, "x")),
    ("true", '{"done":true}', cond("done", Op.EQ, "true")),
    ("null", '{"x":null}', cond("x", Op.EQ, "null")),
    ("nested field with op", '{"meta":{"lang":{"eq":"fr"}}}', cond("meta.lang", Op.EQ, "fr")),
    ("nested field, plain value", '{"meta":{"lang":"fr"}}', cond("meta.lang", Op.EQ, "fr")),
    ("deeply nested", '{"a":{"b":{"c":{"ne":1}}}}', cond("a.b.c", Op.NE, "1")),
    ("in list", '{"id":{"in":[1,"3",true]}}', cond("id", Op.IN, ("1", "3", "true"))),
    ("in scalar", '{"id":{"in":2}}', cond("id", Op.IN, ("2",))),
    ("like", '{"title":{"like":"^a"}}', cond("title", Op.LIKE, "^a")),
    ("contains", '{"title":{"contains":"A"}}', cond("title", Op.CONTAINS, "A")),
    ("several fields are AND", '{"a":1,"b":2}', AllOf((cond("a", Op.EQ, "1"), cond("b", Op.EQ, "2")))),
    ("or", '{"or":[{"id":1},{"id":3}]}', AnyOf((cond("id", Op.EQ, "1"), cond("id", Op.EQ, "3")))),
    (
        "or of ops",
        '{"or":[{"title":{"startsWith":"j"}},{"views":{"lt":10}}]}',
        AnyOf((cond("title", Op.STARTS_WITH, "j"), cond("views", Op.LT, "10"))),
    ),
    (
        "or and a field",
        '{"a":1,"or":[{"b":2},{"c":3}]}',
        AllOf((cond("a", Op.EQ, "1"), AnyOf((cond("b", Op.EQ, "2"), cond("c", Op.EQ, "3"))))),
    ),
    ("and", '{"and":[{"a":1},{"b":2}]}', AllOf((cond("a", Op.EQ, "1"), cond("b", Op.EQ, "2")))),
    ("empty or matches nothing", '{"or":[]}', AnyOf()),
    ("empty object matches everything", "{}", AllOf()),
]


@pytest.mark.parametrize(("raw", "where"), [pytest.param(r, w, id=i) for i, r, w in WHERE])
def test_where(raw: str, where: Node) -> None:
    assert parse([("_where", raw)], "1").where == where


def test_where_is_anded_with_the_other_filters() -> None:
    query = parse([("author", "a"), ("_where", '{"views":{"lt":50}}')])
    assert query.where == AllOf((cond("author", Op.EQ, "a"), cond("views", Op.LT, "50")))


def test_last_where_wins() -> None:
    assert parse([("_where", '{"a":1}'), ("_where", '{"b":2}')]).where == cond("b", Op.EQ, "2")


# -- sort ------------------------------------------------------------------------------------------

SORTS: list[tuple[str, Pairs, tuple[SortKey, ...]]] = [
    ("none", [], ()),
    ("one", [("_sort", "views")], (SortKey(("views",)),)),
    ("desc", [("_sort", "views"), ("_order", "desc")], (SortKey(("views",), True),)),
    ("DESC any case", [("_sort", "views"), ("_order", "DESC")], (SortKey(("views",), True),)),
    ("asc", [("_sort", "views"), ("_order", "asc")], (SortKey(("views",)),)),
    (
        "two keys two orders",
        [("_sort", "a,b"), ("_order", "desc,asc")],
        (SortKey(("a",), True), SortKey(("b",))),
    ),
    ("fewer orders than keys", [("_sort", "a,b"), ("_order", "desc")], (SortKey(("a",), True), SortKey(("b",)))),
    ("repeated _sort keys add up", [("_sort", "a"), ("_sort", "b")], (SortKey(("a",)), SortKey(("b",)))),
    ("dotted", [("_sort", "meta.lang")], (SortKey(("meta", "lang")),)),
    ("1.x minus", [("_sort", "-views")], (SortKey(("views",), True),)),
    ("1.x -a,b", [("_sort", "-a,b")], (SortKey(("a",), True), SortKey(("b",)))),
    ("1.x a,-b", [("_sort", "a,-b")], (SortKey(("a",)), SortKey(("b",), True))),
    ("empty parts skipped", [("_sort", "a,,b,")], (SortKey(("a",)), SortKey(("b",)))),
]


@pytest.mark.parametrize(("pairs", "sort"), [pytest.param(p, s, id=i) for i, p, s in SORTS])
def test_sort(pairs: Pairs, sort: tuple[SortKey, ...]) -> None:
    assert parse(pairs).sort == sort


# -- windows -------------------------------------------------------------------------------------

WINDOWS: list[tuple[str, str, Pairs, Slice | PageRequest | None]] = [
    # 1.x pages (`_per_page`, or `_page` with --compat 1) are clamped: past the end they serve the last page.
    ("no window", "0.17", [], None),
    ("_page", "0.17", [("_page", "2")], PageRequest(2, 10)),
    ("_page + _limit", "0.17", [("_page", "3"), ("_limit", "5")], PageRequest(3, 5)),
    ("_page + huge _limit", "0.17", [("_page", "1"), ("_limit", "5000")], PageRequest(1, 1000)),
    ("_limit", "0.17", [("_limit", "5")], Slice(0, 5)),
    ("_limit=0", "0.17", [("_limit", "0")], Slice(0, 0)),
    ("_limit clamped", "0.17", [("_limit", "5000")], Slice(0, 1000)),
    ("_start + _limit", "0.17", [("_start", "2"), ("_limit", "3")], Slice(2, 5)),
    ("_start + _end", "0.17", [("_start", "2"), ("_end", "4")], Slice(2, 4)),
    ("_end alone", "0.17", [("_end", "4")], Slice(0, 4)),
    ("_start alone", "0.17", [("_start", "2")], Slice(2, None)),
    ("_start=0", "0.17", [("_start", "0")], Slice(0, None)),
    ("last _page wins", "0.17", [("_page", "1"), ("_page", "3")], PageRequest(3, 10)),
    ("_per_page alone", "0.17", [("_per_page", "5")], PageRequest(1, 5, clamp=True)),
    ("_page + _per_page", "0.17", [("_page", "2"), ("_per_page", "5")], PageRequest(2, 5, clamp=True)),
    ("_per_page clamped", "0.17", [("_per_page", "5000")], PageRequest(1, 1000, clamp=True)),
    # Any whole number is read (the OpenAPI document states no maximum): a huge one as the largest.
    ("huge _page", "0.17", [("_page", "9" * 30)], PageRequest(MAX_PAGE, 10)),
    ("huge _per_page", "0.17", [("_per_page", "9" * 4000)], PageRequest(1, 1000, clamp=True)),
    ("huge _limit", "0.17", [("_limit", "0" * 30 + "5")], Slice(0, 5)),  # leading zeros are no size
    ("huge _start and _end", "0.17", [("_start", "9" * 19), ("_end", "9" * 40)], Slice(MAX_OFFSET, MAX_OFFSET)),
    (
        "_per_page over _limit",
        "0.17",
        [("_page", "2"), ("_per_page", "3"), ("_limit", "7")],
        PageRequest(2, 3, clamp=True),
    ),
    ("compat 1 _page alone", "1", [("_page", "2")], PageRequest(2, 10, clamp=True)),
    ("compat 1 _page + _limit", "1", [("_page", "2"), ("_limit", "4")], PageRequest(2, 4, clamp=True)),
    ("compat 1 _per_page", "1", [("_page", "2"), ("_per_page", "4")], PageRequest(2, 4, clamp=True)),
    ("compat 1 _limit", "1", [("_limit", "4")], Slice(0, 4)),
    (
        "_page wins over _start/_end",
        "0.17",
        [("_page", "2"), ("_start", "1"), ("_end", "3")],
        PageRequest(2, 10),
    ),
]


@pytest.mark.parametrize(("compat", "pairs", "window"), [pytest.param(c, p, w, id=i) for i, c, p, w in WINDOWS])
def test_window(compat: str, pairs: Pairs, window: Slice | PageRequest | None) -> None:
    assert parse(pairs, compat).window == window


def test_max_page_size_is_configurable() -> None:
    options = ParseOptions(max_page_size=50)
    assert parse_params("posts", [("_limit", "70")], options).window == Slice(0, 50)
    assert parse_params("posts", [("_per_page", "70")], options).window == PageRequest(1, 50, clamp=True)


# -- joins -----------------------------------------------------------------------------------------


def test_embed_and_expand_names() -> None:
    query = parse([("_embed", "comments,likes"), ("_embed", "comments"), ("_expand", "user"), ("_expand", "a,b")])
    assert query.embed == ("comments", "likes")
    assert query.expand == ("user", "a", "b")


def test_delay_is_no_filter() -> None:
    # `_delay` is reserved: the web layer reads it (tests/web/test_presentation.py); the query ignores it.
    assert parse([("_delay", "250")]) == parse([]) == Query("posts")


def test_a_full_query() -> None:
    query = parse([("views:gt", "10"), ("_sort", "-views"), ("_page", "2"), ("_per_page", "5"), ("_embed", "c")])
    assert query == Query(
        "posts",
        where=cond("views", Op.GT, "10"),
        sort=(SortKey(("views",), True),),
        window=PageRequest(2, 5, clamp=True),
        embed=("c",),
    )


def test_parse_dependents() -> None:
    pairs = [("_dependent", "comments,likes"), ("x", "1"), ("_dependent", "tags"), ("_dependent", "")]
    assert parse_dependents(pairs) == ("comments", "likes", "tags")


# -- errors ----------------------------------------------------------------------------------------

DEEP_WHERE = '{"a":' * 20 + "1" + "}" * 20

ERRORS: list[tuple[str, Pairs, tuple[str, ...]]] = [
    ("unknown operator", [("views:foo", "1")], ("unknown operator", "'foo'", VALID_OPS, "_like")),
    ("empty operator", [("views:", "1")], ("unknown operator", VALID_OPS)),
    ("unknown _param", [("_foo", "1")], ("unknown query parameter", "'_foo'", "_page", "_per_page", "_sort", "_where")),
    ("_callback", [("_callback", "x")], ("unknown query parameter",)),
    ("bare suffix", [("_like", "x")], ("unknown query parameter",)),
    ("JSONP", [("callback", "fn")], ("JSONP",)),
    ("_page=abc", [("_page", "abc")], ("`_page`", "'abc'")),
    ("_page=0", [("_page", "0")], ("`_page`", "≥ 1")),
    ("_page=-1", [("_page", "-1")], ("`_page`",)),
    ("_page=1.5", [("_page", "1.5")], ("`_page`",)),
    ("_page empty", [("_page", "")], ("`_page`",)),
    ("_page too long", [("_page", "9" * 4097)], ("too long",)),
    ("_limit=-1", [("_limit", "-1")], ("`_limit`", "≥ 0")),
    ("_limit=x", [("_limit", "x")], ("`_limit`",)),
    ("_per_page=0", [("_per_page", "0")], ("`_per_page`", "≥ 1")),
    ("_per_page=abc", [("_per_page", "abc")], ("`_per_page`",)),
    ("_start=-1", [("_start", "-1")], ("`_start`",)),
    ("_end=x", [("_end", "x")], ("`_end`",)),
    ("_order", [("_sort", "a"), ("_order", "up")], ("`_order`", "asc or desc", "'up'")),
    ("_sort empty segment", [("_sort", "a..b")], ("malformed field path",)),
    ("filter empty segment", [(".title", "x")], ("malformed field path", "'.title'")),
    ("filter trailing dot", [("meta.", "x")], ("malformed field path",)),
    ("_like too long", [("title_like", "a" * 257)], ("`title_like`", "longer than 256")),
    ("_like invalid", [("title_like", "(")], ("`title_like`", "not a valid regular expression")),
    ("_like backreference", [("title_like", r"(a)\1")], ("not a valid regular expression",)),
    (":like invalid", [("title:like", "[")], ("`title:like`", "not a valid regular expression")),
    ("_where invalid JSON", [("_where", "{bad")], ("`_where`", "not valid JSON")),
    ("_where array", [("_where", "[1]")], ("`_where`", "must be a JSON object")),
    ("_where scalar", [("_where", "1")], ("must be a JSON object",)),
    ("_where or not a list", [("_where", '{"or":{"a":1}}')], ("'or'", "list of objects")),
    ("_where or of scalars", [("_where", '{"or":[1]}')], ("'or'", "list of objects")),
    ("_where list value", [("_where", '{"a":[1]}')], ("`_where` values",)),
    ("_where in of objects", [("_where", '{"a":{"in":[{}]}}')], ("`_where` values",)),
    ("_where too deep", [("_where", DEEP_WHERE)], ("nested too deeply",)),
    ("_where invalid like", [("_where", '{"t":{"like":"("}}')], ("not a valid regular expression",)),
    ("_where like too long", [("_where", '{"t":{"like":"' + "a" * 257 + '"}}')], ("longer than 256",)),
    ("too many _embed", [("_embed", ",".join(f"c{i}" for i in range(11)))], ("at most 10", "`_embed`")),
    ("too many _expand", [("_expand", f"c{i}") for i in range(11)], ("at most 10", "`_expand`")),
    ("name too long", [("x" * 257, "1")], ("too long",)),
    ("value too long", [("title", "x" * 4097)], ("too long", "4096")),
]


@pytest.mark.parametrize("compat", ["0.17", "1"])
@pytest.mark.parametrize(("pairs", "fragments"), [pytest.param(p, f, id=i) for i, p, f in ERRORS])
def test_errors(pairs: Pairs, fragments: tuple[str, ...], compat: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs, compat)
    assert caught.value.code == "invalid_query"
    for fragment in fragments:
        assert fragment in caught.value.detail


@pytest.mark.parametrize(
    ("pairs", "path", "code"),
    [
        ([("views:foo", "1")], "views:foo", "unknown_operator"),
        ([("_foo", "1")], "_foo", "unknown_parameter"),
        ([("_page", "abc")], "_page", "invalid_integer"),
        ([("title_like", "(")], "title_like", "invalid_pattern"),
        ([("title_like", "a" * 300)], "title_like", "pattern_too_long"),
        ([("_where", "{")], "_where", "invalid_json"),
    ],
)
def test_errors_name_the_parameter(pairs: Pairs, path: str, code: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs)
    assert [(error.path, error.code) for error in caught.value.errors] == [(path, code)]


def test_limits_are_inclusive() -> None:
    parse([("title_like", "a" * 256)])
    parse([("title", "x" * 4096)])
    parse([("_embed", ",".join(f"c{i}" for i in range(10)))])


# -- size limits (query/limits.py): one 400 on every backend, before any database limit -------------


def test_a_long_list_of_values_is_one_condition() -> None:
    ids = [str(n) for n in range(MAX_VALUES)]
    assert parse([("id", n) for n in ids]).where == cond("id", Op.IN, tuple(ids))
    assert parse([("id_ne", n) for n in ids]).where == cond("id", Op.NE, tuple(ids))
    pairs = [("id:in", ",".join(ids[:500])), ("id:in", ",".join(ids[500:1000]))]
    assert parse(pairs).where == cond("id", Op.IN, tuple(ids[:1000]))
    where = json.dumps({"id": {"in": ids[:500]}})  # (a value is at most 4,096 characters)
    assert parse([("_where", where)]).where == cond("id", Op.IN, tuple(ids[:500]))


@pytest.mark.parametrize(
    "pairs",
    [
        pytest.param([("id", str(n)) for n in range(MAX_VALUES + 1)], id="repeated-eq"),
        pytest.param([("id_ne", str(n)) for n in range(40_000)], id="repeated-ne"),
        pytest.param([("id:in", ",".join(map(str, range(n, n + 500)))) for n in range(0, 10_500, 500)], id="in"),
        pytest.param([("a", str(n)) for n in range(6000)] + [("b", str(n)) for n in range(6000)], id="two-fields"),
    ],
)
def test_more_values_than_the_limit_is_400(pairs: Pairs) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs)
    assert f"at most {MAX_VALUES} values" in caught.value.detail
    assert [error.code for error in caught.value.errors] == ["too_many_values"]


@pytest.mark.parametrize(
    "pairs",
    [
        pytest.param([("views_gt", str(n)) for n in range(MAX_CONDITIONS + 1)], id="repeated-gt"),
        pytest.param([(f"f{n}", "1") for n in range(MAX_CONDITIONS + 1)], id="fields"),
        pytest.param([(f"f{n}", "1") for n in range(MAX_CONDITIONS)] + [("q", "x")], id="fields-and-q"),
        pytest.param([("_where", json.dumps({"or": [{"v": {"gt": n}} for n in range(101)]}))], id="where-or"),
        pytest.param([("_where", json.dumps({f"f{n}": n for n in range(101)}))], id="where-fields"),
        pytest.param([("_where", json.dumps({"or": [{} for _ in range(101)]}))], id="where-empty-groups"),
        pytest.param([("_where", json.dumps({f"f{n}": 1 for n in range(60)})), *[(f"g{n}", "1") for n in range(41)]]),
    ],
)
def test_more_conditions_than_the_limit_is_400(pairs: Pairs) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs)
    assert f"at most {MAX_CONDITIONS} filter conditions" in caught.value.detail
    assert [error.code for error in caught.value.errors] == ["too_many_conditions"]


def test_the_limits_are_inclusive() -> None:
    parse([(f"f{n}", "1") for n in range(MAX_CONDITIONS)])
    parse([("_where", json.dumps({"or": [{"v": {"gt": n}} for n in range(MAX_CONDITIONS - 1)]}))])  # or + 99
    parse([("views_gt", str(n)) for n in range(MAX_CONDITIONS)])
    parse([("_sort", ",".join(f"f{n}" for n in range(MAX_SORT_KEYS)))])


@pytest.mark.parametrize(
    "pairs",
    [[("_sort", ",".join(f"f{n}" for n in range(MAX_SORT_KEYS + 1)))], [("_sort", f"f{n}") for n in range(600)]],
)
def test_more_sort_fields_than_the_limit_is_400(pairs: Pairs) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs)
    assert f"at most {MAX_SORT_KEYS} fields" in caught.value.detail
    assert [error.code for error in caught.value.errors] == ["too_many_sort_fields"]


def test_parse_where_has_the_same_limits_for_every_transport() -> None:
    """GraphQL arguments and subscription filters arrive parsed: no URL bounds them."""
    with pytest.raises(QueryError, match="at most 100 filter conditions"):
        parse_where({f"f{n}": n for n in range(500)})
    with pytest.raises(QueryError, match=f"at most {MAX_VALUES} values"):
        parse_where({"id": {"in": list(range(50_000))}})
    assert parse_where({"id": {"in": list(range(MAX_VALUES))}}) == cond("id", Op.IN, tuple(map(str, range(MAX_VALUES))))


@pytest.mark.parametrize(
    "pairs",
    [
        [(".".join(["a"] * (MAX_PATH_SEGMENTS + 1)), "1")],
        [(".".join(["a"] * (MAX_PATH_SEGMENTS + 1)) + ":gt", "1")],
        [("_sort", ".".join(["a"] * (MAX_PATH_SEGMENTS + 1)))],
    ],
)
def test_a_path_longer_than_the_limit_is_400(pairs: Pairs) -> None:
    with pytest.raises(QueryError) as caught:
        parse(pairs)
    assert f"at most {MAX_PATH_SEGMENTS} segments" in caught.value.detail
    assert [error.code for error in caught.value.errors] == ["path_too_long"]
    parse([(".".join(["a"] * MAX_PATH_SEGMENTS), "1")])


def test_a_where_path_longer_than_the_limit_is_400() -> None:
    tree: dict[str, object] = {"a": 1}
    for _ in range(MAX_PATH_SEGMENTS):
        tree = {"a": tree}
    with pytest.raises(QueryError, match="at most 20 segments"):
        parse_where(tree, WhereOptions(max_depth=100))
