"""A collection's fields and their GraphQL scalar types, from its declared and inferred shapes.

Each field's type comes from the JSON types it may hold: those its declared JSON Schema names
(``--schema``) together with those seen in the data (the catalogue's shape, widened by every
write), so that a stored value always fits its field. ``integer`` is ``Int``, or ``Float`` once
an integer beyond 32 bits was seen (or a declared bound allows one); ``integer`` with ``number``
is ``Float``; ``string`` is ``String``; ``boolean`` is ``Boolean``; anything else (objects,
arrays, mixed types, or only nulls) is ``JSON``.

A field the declared schema requires (and does not allow to be null) is non-null in the create
and replace inputs; it is non-null in the record type too when every stored record also has a
value for it (data written before the schema may lack one, and a null there would void the record).

Example:
    >>> shape = infer([{"id": 1, "title": "a", "views": 3}, {"id": 2, "title": "b", "tags": ["x"]}])
    >>> [(f.key, f.scalar) for f in data_fields(shape, None, frozenset(), "id")]
    [('title', 'String'), ('views', 'Int'), ('tags', 'JSON')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonserve.schema.declared import RecordSchema
from jsonserve.schema.infer import INT32_MAX, INT32_MIN, Shape, infer  # noqa: F401 - infer: the example

ID, INT, FLOAT, STRING, BOOLEAN, JSON = "ID", "Int", "Float", "String", "Boolean", "JSON"
SCALARS = (ID, INT, FLOAT, STRING, BOOLEAN, JSON)
_SIMPLE = {frozenset({"string"}): STRING, frozenset({"boolean"}): BOOLEAN}
_NUMBERS = frozenset({"integer", "number"})


@dataclass(frozen=True)
class FieldSpec:
    """One data field: its key in the records, its scalar, and where it is non-null."""

    key: str
    scalar: str
    required: bool = False
    input_required: bool = False


def data_fields(shape: Shape, declared: RecordSchema | None, hidden: frozenset[str], id_field: str) -> list[FieldSpec]:
    """A collection's fields but its id and ``hidden`` ones: the declared ones first, in order, then the seen ones."""
    schema = declared.schema if declared is not None else {}
    properties: Mapping[str, Any] = schema.get("properties", {}) if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required", ())) if isinstance(schema.get("required"), list) else set()
    keys = [key for key in dict.fromkeys([*properties, *shape.fields]) if key != id_field and key not in hidden]
    return [_field(key, shape, properties.get(key), key in required) for key in keys]


def _field(key: str, shape: Shape, declared: object, required: bool) -> FieldSpec:
    seen = shape.fields.get(key) or Shape()
    schema = declared if isinstance(declared, dict) else {}
    declared_types = _declared_types(schema)
    scalar = scalar_for(seen.types | declared_types, seen.wide or _wide_bounds(schema))
    nullable_declared = "null" in declared_types or not declared_types
    input_required = required and ("null" not in declared_types)
    always_there = shape.present.get(key, 0) == shape.objects and "null" not in seen.types
    return FieldSpec(key, scalar, input_required and not nullable_declared and always_there, input_required)


def scalar_for(types: set[str] | frozenset[str], wide: bool = False) -> str:
    """The GraphQL scalar for a set of JSON Schema type names (``null`` aside).

    Example:
        >>> scalar_for({"integer"}), scalar_for({"integer"}, wide=True), scalar_for({"string", "null"})
        ('Int', 'Float', 'String')
    """
    kinds = frozenset(types) - {"null"}
    if kinds == {"integer"}:
        return FLOAT if wide else INT
    if kinds and kinds <= _NUMBERS:
        return FLOAT
    return _SIMPLE.get(kinds, JSON)


def _declared_types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    return {item for item in kind if isinstance(item, str)} if isinstance(kind, list) else set()


def _wide_bounds(schema: Mapping[str, Any]) -> bool:
    """Whether a declared integer's bounds allow a value beyond 32 bits (no bound says nothing yet)."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    too_low = isinstance(low, int | float) and low < INT32_MIN
    return too_low or (isinstance(high, int | float) and high > INT32_MAX)
