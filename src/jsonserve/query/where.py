"""The ``_where`` language: a JSON filter tree -> one :class:`Node`, for every transport.

REST reads it from ``_where=<JSON text>``; GraphQL's ``where:`` argument and a subscription's
``{"where": ...}`` arrive already parsed, so :func:`parse_where` takes the parsed value and gives all
of them the same operators, the same value texts and the same :class:`QueryError` messages.

The language (json-server 1.x's, plus ``like``):

* ``{"field": value}`` is ``field eq value``; several keys in one object are ANDed;
* ``{"field": {"op": value, ...}}`` with ``op`` one of :class:`Op` (``in`` takes a list or one value);
* ``{"a": {"b": ...}}`` walks into ``a.b`` (a dotted path);
* ``{"or": [tree, ...]}`` and ``{"and": [tree, ...]}`` at the top of a tree, and ``{"not": tree}`` (a
  record the tree does not match, one lacking its fields included); deeper, ``or``, ``and`` and
  ``not`` are field names; an empty ``or`` matches nothing, an empty object everything.

Values are strings, numbers, booleans or null, compared as their text (see :mod:`jsonserve.query.text`).

Example:
    >>> parse_where({"or": [{"views": {"gt": 100}}, {"author": {"name": "typicode"}}]})
    ... # doctest: +NORMALIZE_WHITESPACE
    AnyOf(items=(Condition(path=('views',), op=<Op.GT: 'gt'>, value='100'),
                 Condition(path=('author', 'name'), op=<Op.EQ: 'eq'>, value='typicode')))
"""

from __future__ import annotations

from dataclasses import dataclass

from jsonserve.errors import FieldError, QueryError
from jsonserve.query.limits import MAX_CONDITIONS, MAX_VALUES, check_filter
from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Not, Op
from jsonserve.query.text import NUL, check_pattern, refuse_nul, to_text

OP_NAMES = ", ".join(op.value for op in Op if op is not Op.LIKE)
_OP_VALUES = frozenset(op.value for op in Op)
MAX_WHERE_DEPTH = 16
# Distinct `_like` patterns in one query: each is compiled once and cached (text.compile_pattern keeps 256);
# more would evict each other on every record (2,000 patterns x 1,000 records took 32 s, recompiling).
MAX_PATTERNS = 32
_GROUPS = ("or", "and")
NOT = "not"


@dataclass(frozen=True)
class WhereOptions:
    """Bounds on a tree: its depth, and how many distinct ``like`` patterns, conditions and values it may hold."""

    max_depth: int = MAX_WHERE_DEPTH
    max_patterns: int = MAX_PATTERNS
    max_conditions: int = MAX_CONDITIONS
    max_values: int = MAX_VALUES


def parse_where(tree: object, options: WhereOptions = WhereOptions()) -> Node:
    """Parse a ``_where`` filter tree that is already a JSON value (a ``dict`` of lists and scalars).

    Args:
        tree: the decoded JSON object (``orjson.loads`` output, a GraphQL argument value...).
        options: depth and pattern bounds (the defaults are REST's).

    Returns:
        The filter as a :class:`Node`, ready to AND with any other.

    Raises:
        QueryError: the tree is not an object, names an unknown operator, nests too deeply, holds a
            list or object where a value belongs, a bad ``like`` pattern, a NUL character, or more
            conditions or values than :mod:`jsonserve.query.limits` allows.

    Example:
        >>> parse_where({"id": {"in": [1, "3"]}})
        Condition(path=('id',), op=<Op.IN: 'in'>, value=('1', '3'))
    """
    if not isinstance(tree, dict):
        raise QueryError("`_where` must be a JSON object", [FieldError("_where", "not an object", "invalid_where")])
    node = _object(tree, (), 0, options.max_depth)  # first: it refuses a tree deeper than the bound
    if _holds_nul(tree):
        refuse_nul("_where")
    if len(patterns(node)) > options.max_patterns:
        raise QueryError(f"at most {options.max_patterns} different `_like` patterns in one query")
    check_filter(node, max_conditions=options.max_conditions, max_values=options.max_values)
    return node


def patterns(node: Node) -> set[str]:
    """The distinct ``like`` patterns in ``node`` (each costs a compiled expression)."""
    if isinstance(node, AllOf | AnyOf):
        return set().union(*(patterns(child) for child in node.items))
    if isinstance(node, Not):
        return patterns(node.item)
    if isinstance(node, Condition) and node.op is Op.LIKE and isinstance(node.value, str):
        return {node.value}
    return set()


def _holds_nul(tree: object) -> bool:
    if isinstance(tree, str):
        return NUL in tree
    if isinstance(tree, dict):
        return any(NUL in key or _holds_nul(value) for key, value in tree.items())
    return isinstance(tree, list) and any(_holds_nul(item) for item in tree)


def _object(tree: dict[str, object], prefix: tuple[str, ...], depth: int, max_depth: int) -> Node:
    if depth > max_depth:
        raise QueryError("`_where` is nested too deeply")
    nodes: list[Node] = []
    for key, value in tree.items():
        if not isinstance(key, str):  # a JSON object's keys are; a caller's dict may hold others
            raise QueryError("`_where` keys must be strings")
        if key in _GROUPS and not prefix:
            nodes.append(_group(key, value, depth, max_depth))
        elif key == NOT and not prefix:
            nodes.append(_negation(value, depth, max_depth))
        elif isinstance(value, dict) and value and any(name in _OP_VALUES for name in value):
            nodes.extend(_operators((*prefix, key), value))
        elif isinstance(value, dict):
            nodes.append(_object(value, (*prefix, key), depth + 1, max_depth))
        else:
            nodes.append(Condition((*prefix, key), Op.EQ, _text(value)))
    return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))


def _group(key: str, value: object, depth: int, max_depth: int) -> Node:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise QueryError(f"`_where` {key!r} must be a list of objects")
    children = tuple(_object(item, (), depth + 1, max_depth) for item in value)
    return AnyOf(children) if key == "or" else AllOf(children)


def _negation(value: object, depth: int, max_depth: int) -> Node:
    if not isinstance(value, dict):
        raise QueryError("`_where` 'not' must be an object")
    return Not(_object(value, (), depth + 1, max_depth))


def _operators(path: tuple[str, ...], ops: dict[str, object]) -> list[Node]:
    unknown = [name for name in ops if name not in _OP_VALUES]
    if unknown:
        raise QueryError(
            f"unknown operator {unknown[0]!r} in `_where` for {'.'.join(path)!r}; valid: {OP_NAMES}, like",
            [FieldError("_where", "unknown operator", "unknown_operator")],
        )
    nodes: list[Node] = []
    for name, value in ops.items():
        op = Op(name)
        if op is Op.IN:
            items = value if isinstance(value, list) else [value]
            nodes.append(Condition(path, op, tuple(_text(item) for item in items)))
            continue
        text = _text(value)
        if op is Op.LIKE:
            check_pattern(text, "_where")
        nodes.append(Condition(path, op, text))
    return nodes


def _text(value: object) -> str:
    if value is not None and not isinstance(value, str | int | float):  # bool is an int
        raise QueryError("`_where` values must be strings, numbers, booleans or null")
    return to_text(value)
