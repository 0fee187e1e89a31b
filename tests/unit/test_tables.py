"""``Table.find`` (indexes, cached sorts, plain windows) answers exactly as the reference evaluator.

Hypothesis builds a collection, applies random inserts, updates (which may move a record between
index buckets) and deletes *after* the indexes and sort caches exist, then compares every query
with ``evaluate.run`` over the same records in stored order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jsonserve.query import evaluate
from jsonserve.query.model import MATCH_ALL, AllOf, AnyOf, Condition, Node, Op, PageRequest, Query, Slice, SortKey
from jsonserve.storage.file.table import Table

VALUES = st.one_of(
    st.sampled_from([0, 1, 2, 3, -1, 3.0, 2.5, 10**17, 1e17]),
    st.sampled_from(["1", "3", "3.0", "a", "A", "true", "null", ""]),
    st.sampled_from([True, False, None]),
    st.just([1, 2]),
    st.just({"a": 1}),
)
TEXTS = st.sampled_from(["1", "3", "3.0", "2.5", "-1", "a", "true", "false", "null", "", "1e17", "x"])
FIELDS = st.sampled_from(["userId", "tag", "views"])
RECORDS = st.dictionaries(FIELDS, VALUES, max_size=3)


def conditions() -> st.SearchStrategy[Node]:
    eq = st.builds(lambda f, t: Condition((f,), Op.EQ, t), FIELDS, TEXTS)
    within = st.builds(lambda f, ts: Condition((f,), Op.IN, tuple(ts)), FIELDS, st.lists(TEXTS, min_size=1, max_size=3))
    other = st.builds(lambda f, t: Condition((f,), Op.NE, t), FIELDS, TEXTS)
    leaf = st.one_of(eq, within, other)
    return st.one_of(
        st.just(MATCH_ALL),
        leaf,
        st.builds(lambda xs: AllOf(tuple(xs)), st.lists(leaf, min_size=1, max_size=3)),
        st.builds(lambda xs: AnyOf(tuple(xs)), st.lists(leaf, min_size=1, max_size=2)),
    )


QUERIES = st.builds(
    lambda where, sort, window: Query("t", where=where, sort=sort, window=window),
    conditions(),
    st.lists(st.builds(lambda f, d: SortKey((f,), d), FIELDS, st.booleans()), max_size=2).map(tuple),
    st.one_of(
        st.none(),
        st.builds(PageRequest, st.integers(1, 4), st.integers(1, 3), st.booleans()),
        st.builds(Slice, st.integers(0, 6), st.one_of(st.none(), st.integers(0, 8))),
    ),
)
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "pop"]), st.integers(1, 12), RECORDS),
    max_size=25,
)


def build(records: list[dict[str, Any]]) -> Table:
    table = Table()
    for number, record in enumerate(records, 1):
        table.put(str(number), {**record, "id": number})
    return table


def check(table: Table, queries: list[Query]) -> None:
    for query in queries:
        expected = evaluate.run(list(table.records.values()), query)
        found = table.find(query)
        assert found.total == expected.total, query
        assert found.items == expected.items, query


@settings(max_examples=300, deadline=None)
@given(st.lists(RECORDS, max_size=12), st.lists(QUERIES, min_size=1, max_size=4), OPERATIONS, st.data())
def test_find_equals_the_reference_evaluator_across_changes(
    records: list[dict[str, Any]], queries: list[Query], operations: list[tuple[str, int, dict[str, Any]]], data: Any
) -> None:
    table = build(records)
    check(table, queries)  # builds indexes and caches sorts
    for action, number, record in operations:
        if action == "put":
            table.put(str(number), {**record, "id": number})
        else:
            table.pop(str(number))
    check(table, [*queries, data.draw(QUERIES)])


def test_new_integer_ids_follow_the_largest_ever_held() -> None:
    table = build([{}, {}, {}])
    table.pop("3")
    assert table.high == 3
    assert table.non_int == 0
    table.put("x", {"id": "x"})
    assert table.non_int == 1
    table.pop("x")
    assert table.non_int == 0


def test_indexes_are_capped_and_equal_keys_falls_back_to_every_record() -> None:
    table = build([{f"f{n}": n for n in range(12)}])
    for n in range(12):
        table.find(Query("t", where=Condition((f"f{n}",), Op.EQ, str(n))))
    assert len(table.indexes) == 8
    assert table.equal_keys("f11", "11") == ["1"]  # no index: every key is a candidate
