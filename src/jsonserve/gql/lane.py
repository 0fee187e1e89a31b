"""A fast lane for the commonest query: root lists, records, counts and singulars, with scalar fields only.

graphql-core completes every field of every record through its general machinery (about 4 µs a
field here), which made ``{ posts(where: ...) { id title body userId } }`` three times slower than
``GET /posts?...``. A query shaped like that (no fragments, no directives, no relation fields, no
repeated response names) is answered here instead: the same root resolvers with the same coerced
arguments, then each record's fields serialised by their own scalar types, in the selection's order.

Anything else, and any error on the way (a refused argument, a record the caller may not read, a
value its type cannot show, a null where the type says non-null), goes to graphql-core: a query only
reads, so running it again there costs one more read and gives its errors exactly.
``tests/web/test_graphql_lane.py`` checks that both give the same answers.

Example:
    >>> lane = compile_lane(schema, operation)  # doctest: +SKIP
    >>> await run_lane(lane, variables, context) if lane else None  # doctest: +SKIP
    {'posts': [{'id': '1', 'title': 'json-server'}]}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_nullable_type,
)
from graphql.execution import VariableValues, get_argument_values

from jsonserve.gql.batch import Row
from jsonserve.gql.resolvers import Context

KEY = "jsonserve_key"
"""``GraphQLField.extensions`` key: the record key a scalar field of a record type reads."""


class _Info(NamedTuple):
    """What the root resolvers read of graphql-core's ``GraphQLResolveInfo``: the context."""

    context: Context


@dataclass(frozen=True)
class Leaf:
    """One scalar field of a record: where its value goes, where it comes from, how it is shown."""

    name: str
    key: str | None  # None: ``__typename``
    serialize: Callable[[Any], Any]
    non_null: bool


@dataclass(frozen=True)
class Root:
    """One root field: its definition and node (for the arguments), and the leaves of its records."""

    name: str
    field: GraphQLField | None  # None: ``__typename``
    node: FieldNode
    records: tuple[Leaf, ...] | None  # None: the field returns a scalar (a count, a singular)
    many: bool = False
    scalar: Leaf | None = None  # how a scalar root's value is shown


class _Fallback(Exception):
    """The lane cannot answer this exactly: graphql-core will."""


def compile_lane(schema: GraphQLSchema, operation: OperationDefinitionNode) -> tuple[Root, ...] | None:
    """The lane's plan for ``operation``, or ``None`` when it is not a query of the simple shape."""
    if operation.operation is not OperationType.QUERY or operation.directives:
        return None
    try:
        return tuple(_root(schema.query_type, node) for node in _fields(operation.selection_set))
    except _Fallback:
        return None


def _fields(selection_set: Any) -> list[FieldNode]:
    """The fields of a selection set, if it holds only plain fields with distinct response names."""
    nodes = list(selection_set.selections)
    if not all(isinstance(node, FieldNode) and not node.directives for node in nodes):
        raise _Fallback
    names = [_name(node) for node in nodes]
    if len(set(names)) != len(names):
        raise _Fallback
    return nodes


def _name(node: FieldNode) -> str:
    return (node.alias or node.name).value


def _root(query: GraphQLObjectType | None, node: FieldNode) -> Root:
    if node.name.value == "__typename":
        return Root(_name(node), None, node, None)
    field = query.fields.get(node.name.value) if query is not None else None
    if field is None:
        raise _Fallback
    kind = get_nullable_type(field.type)
    many = isinstance(kind, GraphQLList)
    item = get_nullable_type(kind.of_type) if isinstance(kind, GraphQLList) else kind
    if isinstance(item, GraphQLObjectType) and node.selection_set is not None:
        return Root(_name(node), field, node, tuple(_leaf(item, leaf) for leaf in _fields(node.selection_set)), many)
    if isinstance(item, GraphQLLeafType) and node.selection_set is None and not many:
        scalar = Leaf(_name(node), "", item.serialize, isinstance(field.type, GraphQLNonNull))
        return Root(_name(node), field, node, None, scalar=scalar)
    raise _Fallback


def _leaf(record: GraphQLObjectType, node: FieldNode) -> Leaf:
    if node.name.value == "__typename":
        name = record.name
        return Leaf(_name(node), None, lambda _value: name, non_null=True)
    field = record.fields.get(node.name.value)
    if field is None or node.arguments or node.selection_set is not None or KEY not in (field.extensions or {}):
        raise _Fallback
    kind = get_nullable_type(field.type)
    if not isinstance(kind, GraphQLLeafType):
        raise _Fallback
    return Leaf(_name(node), field.extensions[KEY], kind.serialize, isinstance(field.type, GraphQLNonNull))


async def run_lane(roots: tuple[Root, ...], variables: VariableValues, context: Context) -> dict[str, Any] | None:
    """The ``data`` of the query, or ``None`` when graphql-core must answer it (an error on the way)."""
    data: dict[str, Any] = {}
    try:
        for root in roots:
            data[root.name] = await _resolve(root, variables, context)
    except Exception:  # any error is graphql-core's to report, with its path and code
        return None
    return data


async def _resolve(root: Root, variables: VariableValues, context: Context) -> Any:
    if root.field is None:
        return "Query"
    arguments = get_argument_values(root.field, root.node, variables)
    value = await root.field.resolve(None, _Info(context), **arguments)  # type: ignore[misc]
    if root.scalar is not None:
        return _shown(root.scalar, value)
    if root.records is None:
        raise _Fallback
    if root.many:
        return [_record(row, root.records) for row in value]
    return None if value is None else _record(value, root.records)


def _record(row: Row, leaves: tuple[Leaf, ...]) -> dict[str, Any]:
    record = row.record
    return {
        leaf.name: leaf.serialize(None) if leaf.key is None else _shown(leaf, record.get(leaf.key)) for leaf in leaves
    }


def _shown(leaf: Leaf, value: Any) -> Any:
    """``value`` as its scalar shows it, as graphql-core completes a leaf (a null where none may be: fall back)."""
    if value is None:
        if leaf.non_null:
            raise _Fallback
        return None
    shown = leaf.serialize(value)
    if shown is None:
        raise _Fallback
    return shown
