"""The ``JSON`` scalar: any JSON value, for objects, arrays, mixed-type fields and singular resources.

Example:
    >>> JSON_SCALAR.serialize({"a": [1, None]})
    {'a': [1, None]}
"""

from __future__ import annotations

import math
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, ValueNode, value_from_ast_untyped


def _parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    value = value_from_ast_untyped(node, variables)
    _check_finite(value)
    return value


def _check_finite(value: Any) -> None:
    """Refuse the infinities a literal such as ``1e400`` reads as: JSON has none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise GraphQLError("JSON cannot represent a number out of range")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _identity(value: Any) -> Any:
    return value


JSON_SCALAR = GraphQLScalarType(
    name="JSON",
    description="Any JSON value: an object, array, string, number, boolean or null.",
    serialize=_identity,
    parse_value=_identity,
    parse_literal=_parse_literal,
    specified_by_url="https://www.rfc-editor.org/rfc/rfc8259",
)
