"""How big one GraphQL request may be, checked before anything executes: a 400 ``too_complex`` past a bound.

* **aliases**: at most :attr:`GraphQLLimits.max_aliases` aliased fields in the document (each alias
  can ask the same expensive field again);
* **depth**: at most :attr:`GraphQLLimits.max_depth` levels of fields (``posts { comments { id } }``
  is 3), fragments included;
* **cost**: the records the answer may hold: every field that returns records counts the product
  of the list sizes above it and its own, a list's size being its ``limit`` (a literal or a
  variable) or, without one, the page-size ceiling it is clamped to (1000 by default). So
  ``posts { comments { body } }`` costs 1,000 + 1,000,000 and ``posts(limit: 10) { comments(limit:
  5) { body } }`` 60. At most :attr:`GraphQLLimits.max_cost`.

Aliases and the document's own nesting are counted before validation (both are cheap, and bound
what validation then costs); the depth and cost through fragments after it (validation has refused
fragment cycles by then). Introspection fields (``__schema``, ``__type``) are not counted here:
graphql-core's ``MaxIntrospectionDepthRule`` bounds them.

Example:
    >>> check_document(parse("{ a: posts { id } }"), GraphQLLimits(max_aliases=0))  # doctest: +SKIP
    Traceback (most recent call last):
    TooComplex: the query uses 1 aliases; at most 0 are allowed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,  # noqa: F401 - the example
)

MAX_VISITS = 10_000
"""Fields walked through fragments (a small document can spread fragments into a very large one)."""


@dataclass(frozen=True)
class GraphQLLimits:
    """The bounds of one request (defaults: the contract's)."""

    max_depth: int = 10
    max_aliases: int = 30
    max_cost: int = 5_000_000
    max_page_size: int = 1000
    max_tokens: int = 20_000


class TooComplex(Exception):
    """A request over one of the limits; its message says which."""


def check_document(document: DocumentNode, limits: GraphQLLimits) -> None:
    """Before validation: the aliases, and the nesting of each operation and fragment as written."""
    aliases = 0
    for definition in document.definitions:
        selections = getattr(definition, "selection_set", None)
        if selections is None or _introspective(definition):
            continue
        depth, count = _written(selections)
        aliases += count
        if depth > limits.max_depth:
            raise TooComplex(f"the query is {depth} fields deep; at most {limits.max_depth} levels are allowed")
    if aliases > limits.max_aliases:
        raise TooComplex(f"the query uses {aliases} aliases; at most {limits.max_aliases} are allowed")


def _written(selection_set: SelectionSetNode) -> tuple[int, int]:
    """(fields deep, aliases) of a selection set as written (fragment spreads not followed)."""
    depth, aliases = 0, 0
    stack: list[tuple[SelectionSetNode, int]] = [(selection_set, 0)]
    while stack:
        selections, level = stack.pop()
        for selection in selections.selections:
            below = level + 1 if isinstance(selection, FieldNode) else level
            depth = max(depth, below)
            if isinstance(selection, FieldNode) and selection.alias is not None:
                aliases += 1
            if isinstance(selection, FieldNode) and selection.name.value.startswith("__"):
                continue  # introspection: MaxIntrospectionDepthRule's to bound
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                stack.append((inner, below))
    return depth, aliases


def _introspective(definition: object) -> bool:
    """A fragment on an introspection type (``fragment TypeRef on __Type``): only introspection spreads it."""
    return isinstance(definition, FragmentDefinitionNode) and definition.type_condition.name.value.startswith("__")


def check_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
    limits: GraphQLLimits,
) -> int:
    """After validation: the depth and cost of ``operation`` with its fragments; its cost when within the limits."""
    root = schema.get_root_type(operation.operation)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Walk(schema, fragments, variables, limits)
    if root is not None:
        walk.selections(operation.selection_set, root, 1, 0)
    if walk.cost > limits.max_cost:
        raise TooComplex(
            f"the query may return about {walk.cost:,} records; at most {limits.max_cost:,} are allowed "
            "(give the lists a smaller `limit`)"
        )
    return walk.cost


class _Walk:
    """The depth and cost of a selection set, following fragments."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        limits: GraphQLLimits,
    ) -> None:
        self.schema, self.fragments, self.variables, self.limits = schema, fragments, variables, limits
        self.cost = 0
        self.visits = 0

    def selections(self, selection_set: SelectionSetNode, parent: GraphQLNamedType, size: int, depth: int) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, size, depth + 1)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self.schema.get_type(condition.name.value) if condition is not None else parent
                self.selections(selection.selection_set, kind or parent, size, depth)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                kind = self.schema.get_type(fragment.type_condition.name.value)
                self.selections(fragment.selection_set, kind or parent, size, depth)

    def field(self, node: FieldNode, parent: GraphQLNamedType, size: int, depth: int) -> None:
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise TooComplex(f"the query selects more than {MAX_VISITS:,} fields once its fragments are spread")
        if depth > self.limits.max_depth:
            raise TooComplex(f"the query is {depth} fields deep; at most {self.limits.max_depth} levels are allowed")
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
            return
        kind = parent.fields[name].type
        target = get_named_type(kind)
        if not isinstance(target, GraphQLObjectType):
            return
        size *= self._list_size(node) if _is_list(kind) else 1
        self.cost += size
        if node.selection_set is not None:
            self.selections(node.selection_set, target, size, depth)

    def _list_size(self, node: FieldNode) -> int:
        ceiling = self.limits.max_page_size
        for argument in node.arguments or ():
            if argument.name.value != "limit":
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, ceiling))
        return ceiling


def _is_list(kind: object) -> bool:
    return isinstance(kind.of_type if isinstance(kind, GraphQLNonNull) else kind, GraphQLList)
