"""How big one query may be: the bounds every backend answers alike, with a 400 that names the limit.

A filter tree compiles into one SQL expression. SQLite refuses an expression nested deeper than 1,000
levels, and a chain of N conditions is N levels deep (about 500 conditions were enough); PostgreSQL
and asyncpg take at most 32,767 parameters per statement, and each condition refers to its path a few
times (100 conditions on a 120-segment path needed 37,700); both cap ORDER BY terms. Any query a client
can send must get a 2xx or a 4xx, so the parser refuses a tree larger than these bounds, far below
those limits, on every backend (memory too: the same query gets the same answer everywhere).

Long lists of values do not count against the conditions: repeated keys (``id=1&id=2…``) become one
``in`` (``query/params.py``), and the SQL backends bind an ``in`` list as one array parameter whatever
its length (``storage/sql/compile.py``), so :data:`MAX_VALUES` only bounds the work per request.

Example:
    >>> check_filter(Condition(("id",), Op.IN, tuple(map(str, range(5000)))))  # one condition
    >>> check_filter(AnyOf(tuple(Condition(("a",), Op.GT, str(n)) for n in range(101))))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    jsonserve.errors.QueryError: a query may hold at most 100 filter conditions and groups; this one has 101 ...
"""

from __future__ import annotations

from jsonserve.errors import FieldError, QueryError
from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Not, Op  # noqa: F401 - Op: the example

MAX_CONDITIONS = 100
"""Conditions, ``q`` and ``_where`` groups in one query (repeated keys of ``eq``, ``in`` and ``ne`` make one)."""
MAX_VALUES = 10_000
"""Values in the ``in`` lists (and repeated keys) of one query."""
MAX_SORT_KEYS = 10
"""Fields in ``_sort``."""
MAX_PATH_SEGMENTS = 20
"""Segments in a dotted field path (``a.b.c`` has three): each costs SQL, and parameters on PostgreSQL."""

__all__ = [
    "MAX_CONDITIONS",
    "MAX_PATH_SEGMENTS",
    "MAX_SORT_KEYS",
    "MAX_VALUES",
    "check_filter",
    "check_path",
    "check_sort",
]


def check_filter(node: Node, *, max_conditions: int = MAX_CONDITIONS, max_values: int = MAX_VALUES) -> None:
    """Raise :class:`QueryError` when the filter tree ``node`` is larger than the bounds.

    Args:
        node: the whole filter of a query (parameters, ``q`` and ``_where`` together).
        max_conditions: how many nodes (conditions, ``q``, groups) it may hold.
        max_values: how many values its ``in`` lists may hold together.
    """
    nodes, values = _size(node)
    if nodes > max_conditions:
        raise QueryError(
            f"a query may hold at most {max_conditions} filter conditions and groups; this one has {nodes} "
            "(to match one field against many values, use one `field:in=a,b,c` or repeat `field=`)",
            [FieldError("query", f"more than {max_conditions} conditions", "too_many_conditions")],
        )
    if values > max_values:
        raise QueryError(
            f"a query may compare a field with at most {max_values} values (`in` lists and repeated keys "
            f"together); this one has {values}",
            [FieldError("query", f"more than {max_values} values", "too_many_values")],
        )


def check_sort(count: int) -> None:
    """Raise :class:`QueryError` for a ``_sort`` of more than :data:`MAX_SORT_KEYS` fields."""
    if count > MAX_SORT_KEYS:
        raise QueryError(
            f"`_sort` takes at most {MAX_SORT_KEYS} fields, not {count}",
            [FieldError("_sort", f"more than {MAX_SORT_KEYS} fields", "too_many_sort_fields")],
        )


def check_path(path: tuple[str, ...], key: str) -> None:
    """Raise :class:`QueryError` for a field path of more than :data:`MAX_PATH_SEGMENTS` segments."""
    if len(path) > MAX_PATH_SEGMENTS:
        raise QueryError(
            f"a field path has at most {MAX_PATH_SEGMENTS} segments; {key[:60]!r} has {len(path)}",
            [FieldError(key, f"more than {MAX_PATH_SEGMENTS} path segments", "path_too_long")],
        )


def _size(node: Node) -> tuple[int, int]:
    """(nodes below the root, values in lists); the root group of a query is not one the client wrote."""
    nodes, values = 0, 0
    stack: list[Node] = list(node.items) if isinstance(node, AllOf | AnyOf) else [node]
    while stack:
        item = stack.pop()
        nodes += 1
        if isinstance(item, AllOf | AnyOf):
            stack.extend(item.items)
        elif isinstance(item, Not):
            stack.append(item.item)
        elif isinstance(item, Condition):
            check_path(item.path, ".".join(item.path))  # `_where` paths: nesting (its own bound) makes them
            values += len(item.value) if isinstance(item.value, tuple) else 0
    return nodes, values
