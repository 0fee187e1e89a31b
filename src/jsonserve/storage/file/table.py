"""One in-memory collection (``memory`` and ``jsonfile``): its records, equality indexes and sort orders.

Every change to a collection goes through :meth:`Table.put` and :meth:`Table.pop`, which keep the
indexes current. :meth:`Table.find` answers a query with the reference evaluator
(``query.evaluate``) but looks at fewer records:

* the first equality filter on a top-level field (``?userId=3``, ``userId:in=1,2``) builds an index
  of that field (one pass); later finds test only the records the index names. Index keys follow
  ``evaluate.equals``: a string matches itself, a number matches by value (``3``, ``3.0``) and
  ``true``/``false``/``null`` their JSON text; objects and arrays never equal a query text;
* a sort of the whole collection is kept per sort key until the collection next changes, so paging
  through a sorted list does not sort 100,000 records for every page;
* an unfiltered, unsorted page is cut from the records without copying the others.

The answer is always the evaluator's: an index only narrows which records it tests.

Hand-written: no library keeps secondary indexes over Python dicts that change in place.

Example:
    >>> table = Table()
    >>> table.put("1", {"id": 1, "userId": 3})
    >>> table.find(Query("posts", where=Condition(("userId",), Op.EQ, "3.0"))).items
    [{'id': 1, 'userId': 3}]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from itertools import islice

from jsonserve._types import Record
from jsonserve.query.evaluate import MISSING, bounds, matches, sort_records
from jsonserve.query.model import MATCH_ALL, AllOf, Condition, Node, Op, Page, Query, SortKey
from jsonserve.query.text import number_value, to_number

MAX_INDEXES = 8  # per collection: built on demand, each costs memory for every record
MAX_SORTS = 4  # cached sort orders per collection
_CONSTANTS = {True: ("t", "true"), False: ("t", "false")}


@dataclass
class Table:
    """One collection: records by id key, the largest integer id it ever held, and its indexes."""

    records: dict[str, Record] = field(default_factory=dict)
    high: int = 0
    id_field: str = "id"
    non_int: int = 0  # records whose id is not an integer (new ids are integers only while this is 0)
    version: int = 0  # bumped by every change: cached sort orders are valid for one version
    indexes: dict[str, FieldIndex] = field(default_factory=dict)
    sorts: dict[tuple[SortKey, ...], tuple[int, list[Record]]] = field(default_factory=dict)

    # -- changes -----------------------------------------------------------------------------

    def put(self, key: str, record: Record) -> None:
        """Insert or replace the record stored under ``key``."""
        previous = self.records.get(key)
        self.records[key] = record
        self.version += 1
        record_id = record.get(self.id_field)
        self.non_int += (not _is_int(record_id)) - (previous is not None and not _is_int(previous.get(self.id_field)))
        if isinstance(record_id, int) and not isinstance(record_id, bool):
            self.high = max(self.high, record_id)
        for index in self.indexes.values():
            if previous is None:
                index.add(key, record)
            elif not index.same_key(previous, record):
                index.remove(key, previous)
                index.add(key, record, moved=True)

    def pop(self, key: str) -> Record | None:
        """Remove and return the record stored under ``key`` (``None`` if there is none)."""
        previous = self.records.pop(key, None)
        if previous is not None:
            self.version += 1
            self.non_int -= not _is_int(previous.get(self.id_field))
            for index in self.indexes.values():
                index.remove(key, previous)
        return previous

    def recount(self) -> None:
        """Recompute the id bookkeeping after ``records`` was filled directly (loading a file)."""
        self.non_int = sum(not _is_int(record.get(self.id_field)) for record in self.records.values())
        self.indexes.clear()
        self.sorts.clear()
        self.version += 1

    # -- reads -------------------------------------------------------------------------------

    def find(self, query: Query) -> Page:
        """Filter, sort and window as ``evaluate.run`` does, testing as few records as it can."""
        order = query.sort
        narrowed, where = self._narrowed(query.where)
        if narrowed is None and where == MATCH_ALL and not order:
            return self._plain_window(query)
        if narrowed is None and order:
            candidates: Iterable[Record] = self._sorted(order)
            order = ()  # filtering a stably sorted list keeps it sorted
        else:
            candidates = self.records.values() if narrowed is None else narrowed
        selected = list(candidates) if where == MATCH_ALL else [r for r in candidates if matches(r, where)]
        if order:
            selected = sort_records(selected, order)
        start, stop = bounds(query.window, len(selected))
        return Page(selected[start:stop], len(selected))

    def equal_keys(self, field_name: str, text: str) -> list[str]:
        """Keys of the records whose top-level ``field_name`` may equal ``text`` (a superset, in order)."""
        index = self._index(field_name)
        if index is None:
            return list(self.records)
        return index.candidates(text, self.records)

    def _narrowed(self, where: Node) -> tuple[list[Record] | None, Node]:
        """(the records an index says match one condition, in stored order; what is left to test).

        ``(None, where)`` when no index applies. The records an index names for one condition match
        it exactly (index keys follow ``evaluate.equals``), so only the other conditions are tested.
        """
        for condition in _indexable(where):
            index = self._index(condition.path[0])
            if index is None:
                continue
            texts = condition.value if isinstance(condition.value, tuple) else (condition.value,)
            keys = index.union(texts, self.records)
            rest = tuple(node for node in where.items if node is not condition) if isinstance(where, AllOf) else ()
            return [self.records[key] for key in keys], AllOf(rest) if rest else MATCH_ALL
        return None, where

    def _index(self, field_name: str) -> FieldIndex | None:
        index = self.indexes.get(field_name)
        if index is None and len(self.indexes) < MAX_INDEXES:
            index = self.indexes[field_name] = FieldIndex(field_name)
            for key, record in self.records.items():
                index.add(key, record)
        return index

    def _sorted(self, order: tuple[SortKey, ...]) -> list[Record]:
        cached = self.sorts.get(order)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        result = sort_records(list(self.records.values()), order)
        if len(self.sorts) >= MAX_SORTS and order not in self.sorts:
            self.sorts.pop(next(iter(self.sorts)))
        self.sorts[order] = (self.version, result)
        return result

    def _plain_window(self, query: Query) -> Page:
        total = len(self.records)
        start, stop = bounds(query.window, total)
        return Page(list(islice(self.records.values(), start, stop)), total)


class FieldIndex:
    """Record keys by the value of one top-level field, each bucket in the collection's order."""

    def __init__(self, field_name: str) -> None:
        self.field = field_name
        self._buckets: dict[Hashable, dict[str, None]] = {}
        self._unordered: set[Hashable] = set()  # buckets an update appended to out of order

    def add(self, key: str, record: Record, *, moved: bool = False) -> None:
        """Index a record; ``moved``: it already had a place in the collection (an update)."""
        index_key = value_key(record.get(self.field, MISSING))
        if index_key is None:
            return
        bucket = self._buckets.setdefault(index_key, {})
        bucket[key] = None
        if moved and len(bucket) > 1:
            self._unordered.add(index_key)

    def remove(self, key: str, record: Record) -> None:
        """Forget a record."""
        index_key = value_key(record.get(self.field, MISSING))
        bucket = self._buckets.get(index_key) if index_key is not None else None
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._buckets[index_key]
                self._unordered.discard(index_key)

    def same_key(self, old: Record, new: Record) -> bool:
        """Whether an update leaves the record in its bucket."""
        return value_key(old.get(self.field, MISSING)) == value_key(new.get(self.field, MISSING))

    def candidates(self, text: str, order: dict[str, Record]) -> list[str]:
        """Keys of the records whose field may equal ``text``, in ``order``'s order."""
        return self.union((text,), order)

    def union(self, texts: Iterable[str], order: dict[str, Record]) -> list[str]:
        """Keys of the records whose field may equal any of ``texts``, in ``order``'s order."""
        found = {k for text in texts for k in text_keys(text) if k in self._buckets}
        if len(found) > 1:  # several buckets (`in`, or "3" and 3 both stored): merge by stored order
            wanted = {key for index_key in found for key in self._buckets[index_key]}
            return [key for key in order if key in wanted]
        if not found:
            return []
        (index_key,) = found
        if index_key in self._unordered:
            bucket = self._buckets[index_key]
            self._buckets[index_key] = {key: None for key in order if key in bucket}
            self._unordered.discard(index_key)
        return list(self._buckets[index_key])


def value_key(value: object) -> Hashable | None:
    """The index key of a stored value (``None``: not indexable, it never equals a query text)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ("t", "null")
    if isinstance(value, bool):
        return _CONSTANTS[value]
    if isinstance(value, int | float):
        return ("n", number_value(value))
    return None


def text_keys(text: str) -> list[Hashable]:
    """Every index key a stored value may have to equal the query text ``text``."""
    keys: list[Hashable] = [text]
    if text in ("true", "false", "null"):
        keys.append(("t", text))
    number = to_number(text)
    if number is not None:
        keys.append(("n", number_value(number)))
    return keys


def _indexable(where: Node) -> Iterable[Condition]:
    """Conditions every match must meet that an index can answer: top-level ``eq`` and ``in``."""
    nodes: tuple[Node, ...] = (
        (where,) if isinstance(where, Condition) else where.items if isinstance(where, AllOf) else ()
    )
    return (n for n in nodes if isinstance(n, Condition) and len(n.path) == 1 and n.op in (Op.EQ, Op.IN))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
