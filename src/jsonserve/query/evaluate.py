"""The reference semantics of a :class:`Query` over in-memory records.

SQL backends compile the same rules; a differential test (``tests/conformance``) keeps them equal.
The rules:

* a field that is missing never matches any condition (a typo matches nothing);
* ``eq``/``ne``/``in`` compare the query text with the stored value by the stored value's type:
  strings exactly, numbers numerically, booleans as ``true``/``false``, null as ``null``; ``ne``
  with a list of texts (repeated ``_ne`` keys) means equal to none of them;
* ``lt``/``lte``/``gt``/``gte`` compare numbers numerically and strings by code point; other types
  never match;
* numbers compare exactly, by value: integers as themselves, a float as the shortest decimal that
  reads back as it, i.e. as JSON writes it (``2.0**60``, written ``1.152921504606847e18``, equals
  1152921504606847000, not 1152921504606846976; ``-2.0**63`` stays -2**63): PostgreSQL's JSONB keeps
  those decimal digits, not the double. A query text is a number when it is an ASCII decimal
  literal (``to_number``: not ``1_000``, ``0x10``, ``NaN``); an integer literal beyond 64 bits is
  read as a float;
* ``contains``/``startsWith``/``endsWith`` are case-insensitive and match strings only;
  case-insensitive means Python's ``str.lower`` on both sides (full Unicode lower-casing: ``İ`` is
  ``i̇``, a final ``Σ`` is ``ς``), which PostgreSQL matches through ICU;
* ``like`` is a case-insensitive RE2 search over the text of a scalar; ``.`` does not match a
  newline; an array matches when one of its elements does (a string, number or boolean: not null,
  an object or a nested array), so ``tags_like=^a$`` finds ``["a", "b"]`` (json-server 0.17 tested
  the array's text, ``"a,b"``; see docs/compat.md);
* ``q`` is a case-insensitive substring over every scalar, recursing; falsy values never match;
* the text of a number (``like``, ``q``) is plain decimal, without exponent or trailing zeros
  (``to_text``: ``1.0`` is ``1``, ``1e-7`` is ``0.0000001``), as PostgreSQL prints a ``numeric``.

Example:
    >>> from jsonserve.query.model import Condition, Op
    >>> matches({"id": 1}, Condition(("id",), Op.EQ, "1"))
    True
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from jsonserve._types import JSONValue, Record
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Node,
    Not,
    Op,
    Page,
    PageRequest,
    Query,
    Slice,
    SortKey,
)
from jsonserve.query.text import compile_pattern, number_value, to_number, to_text

MISSING: Any = object()
_ORDER: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
}


def lookup(record: JSONValue, path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or :data:`MISSING`."""
    value: Any = record
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def matches(record: Record, node: Node) -> bool:
    """Whether ``record`` satisfies the filter tree ``node``."""
    if isinstance(node, Condition):
        return _condition(lookup(record, node.path), node)
    if isinstance(node, AllOf):
        return all(matches(record, child) for child in node.items)
    if isinstance(node, AnyOf):
        return any(matches(record, child) for child in node.items)
    if isinstance(node, Not):
        return not matches(record, node.item)
    return search_fields(record, node.text.lower(), node.skip)


def equals(stored: Any, text: str) -> bool:
    """Loose typed equality of a stored value and a query text."""
    if isinstance(stored, str):
        return stored == text
    if isinstance(stored, bool) or stored is None:
        return to_text(stored) == text
    if isinstance(stored, int | float):
        number = to_number(text)
        return number is not None and number_value(stored) == number_value(number)
    return False


def among(stored: Any, texts: tuple[str, ...]) -> bool:
    """Whether ``stored`` :func:`equals` one of ``texts`` (a long list is tested by hashing, not one by one)."""
    if len(texts) <= _SHORT_LIST:
        return any(equals(stored, text) for text in texts)
    return _TextSet.of(texts).has(stored)


_SHORT_LIST = 8


@dataclass(frozen=True)
class _TextSet:
    """The texts of an ``in`` list as :func:`equals` reads them: as strings, and as numbers by value."""

    strings: frozenset[str]
    numbers: frozenset[float | int]

    # The set of each list, by the list's identity (the list is kept, so its id is not reused): a query's
    # condition is tested against every record, and hashing a 10,000-text tuple per record would cost
    # what the sets save. Cleared when full: a few queries hold lists at a time.
    _cache: ClassVar[dict[int, tuple[tuple[str, ...], _TextSet]]] = {}

    @classmethod
    def of(cls, texts: tuple[str, ...]) -> _TextSet:
        cached = cls._cache.get(id(texts))
        if cached is not None and cached[0] is texts:
            return cached[1]
        numbers = (to_number(text) for text in texts)
        made = cls(frozenset(texts), frozenset(number_value(n) for n in numbers if n is not None))
        if len(cls._cache) >= 64:
            cls._cache.clear()
        cls._cache[id(texts)] = (texts, made)
        return made

    def has(self, stored: Any) -> bool:
        if isinstance(stored, str):
            return stored in self.strings
        if isinstance(stored, bool) or stored is None:
            return to_text(stored) in self.strings
        if isinstance(stored, int | float):
            return number_value(stored) in self.numbers
        return False


def _condition(stored: Any, node: Condition) -> bool:
    if stored is MISSING:
        return False
    op, value = node.op, node.value
    if op is Op.EQ:
        return equals(stored, value)  # type: ignore[arg-type]
    if op is Op.NE:
        return not (among(stored, value) if isinstance(value, tuple) else equals(stored, value))
    if op is Op.IN:
        return among(stored, value)  # type: ignore[arg-type]
    if op in _ORDER:
        return _compare(stored, value, _ORDER[op])  # type: ignore[arg-type]
    if op is Op.LIKE:
        return like(stored, value)  # type: ignore[arg-type]
    return _string_test(stored, value, op)  # type: ignore[arg-type]


def like(stored: Any, pattern: str) -> bool:
    """The ``like`` test: ``pattern`` found in a scalar's text, or in the text of one of an array's scalars.

    Example:
        >>> like(["react", "vue"], "^vue$"), like(["react", None, {"x": "vue"}], "vue")
        (True, False)
    """
    compiled = compile_pattern(pattern)
    values = stored if isinstance(stored, list) else (stored,)
    return any(_likeable(value) and compiled.search(to_text(value)) is not None for value in values)


def _likeable(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def _compare(stored: Any, text: str, compare: Callable[[Any, Any], bool]) -> bool:
    if isinstance(stored, bool):
        return False
    if isinstance(stored, int | float):
        number = to_number(text)
        return number is not None and compare(number_value(stored), number_value(number))
    if isinstance(stored, str):
        return compare(stored, text)
    return False


def _string_test(stored: Any, text: str, op: Op) -> bool:
    if not isinstance(stored, str):
        return False
    haystack, needle = stored.lower(), text.lower()
    if op is Op.CONTAINS:
        return needle in haystack
    if op is Op.STARTS_WITH:
        return haystack.startswith(needle)
    return haystack.endswith(needle)


def search(value: Any, needle: str) -> bool:
    """json-server's ``q``: ``needle`` (lower-case) is a substring of some truthy scalar in ``value``."""
    if isinstance(value, dict):
        return any(search(item, needle) for item in value.values())
    if isinstance(value, list):
        return any(search(item, needle) for item in value)
    if value is None or value is False or value == "" or (not isinstance(value, bool) and value == 0):
        return False
    return needle in to_text(value).lower()


def search_fields(record: Record, needle: str, skip: frozenset[str] = frozenset()) -> bool:
    """:func:`search` in every top-level field of ``record`` but those of ``skip``."""
    if not skip:
        return search(record, needle)
    return any(search(value, needle) for key, value in record.items() if key not in skip)


def sort_key(path: tuple[str, ...]) -> Callable[[Record], tuple[int, Any]]:
    """A key function giving a total order across types.

    Ascending: numbers, then strings (by code point), booleans, objects and arrays (which tie, so they
    keep their stored order), null, and last the records that lack the field. SQL backends compile
    the same ranks.
    """

    def key(record: Record) -> tuple[int, Any]:
        value = lookup(record, path)
        if value is MISSING:
            return (5, 0)
        if value is None:
            return (4, 0)
        if isinstance(value, bool):
            return (2, value)
        if isinstance(value, int | float):
            return (0, number_value(value))
        if isinstance(value, str):
            return (1, value)
        return (3, 0)

    return key


def sort_records(records: list[Record], keys: Iterable[SortKey]) -> list[Record]:
    """Stable multi-key sort (applied from the last key to the first)."""
    result = list(records)
    for sort in reversed(tuple(keys)):
        result.sort(key=sort_key(sort.path), reverse=sort.descending)
    return result


def window(records: list[Record], spec: Slice | PageRequest | None) -> list[Record]:
    """Apply a slice or a page to already filtered and sorted records."""
    start, stop = bounds(spec, len(records))
    return records[start:stop]


def bounds(spec: Slice | PageRequest | None, total: int) -> tuple[int, int]:
    """The ``[start, stop)`` of ``total`` records that a slice or a page selects (``0 <= start <= stop``).

    A page past the end is empty (0.17), unless the page says ``clamp`` (1.x serves the last page).
    """
    if spec is None:
        return 0, total
    if isinstance(spec, Slice):
        start, stop, _ = slice(spec.start, spec.stop).indices(total)
        return start, max(start, stop)
    number = clamp_page(spec, total) if spec.clamp else spec.number
    start = min(total, (number - 1) * spec.size)
    return start, min(total, start + spec.size)


def clamp_page(spec: PageRequest, total: int) -> int:
    """The page number actually served: json-server 1.x clamps to ``1..pages``."""
    pages = page_count(spec, total)
    return max(1, min(spec.number, pages))


def page_count(spec: PageRequest, total: int) -> int:
    """How many pages of ``spec.size`` records ``total`` records make (at least one, as json-server 1.x)."""
    return max(1, -(-total // spec.size))


def run(records: Iterable[Record], query: Query) -> Page:
    """Filter, sort and window ``records`` as ``query`` says (the reference implementation)."""
    selected = [record for record in records if matches(record, query.where)]
    if query.sort:
        selected = sort_records(selected, query.sort)
    return Page(window(selected, query.window), len(selected))
