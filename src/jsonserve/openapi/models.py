"""Record schemas for OpenAPI: what a collection's records look like, declared or inferred.

A *declared* schema (``--schema``) is a contract: the server validates every write against it, so
the document publishes it as it is (relaxed only where the server adds fields: ``_embed`` joins,
timestamps). An *inferred* shape is a description, not a contract: json-server accepts any JSON
object, so the document lists the fields seen and their types in each property's description, and
constrains values only by what every write must satisfy (integers in 64 bits, no NUL in strings);
a declared schema's integers are given the 64-bit bounds too (:func:`bounded_integers`).

Example:
    >>> model_schemas(shape_schema, None, managed)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from jsonserve.storage.ids import ID_REGEX, INT_LIMIT, MAX_ID_LENGTH

Schema = dict[str, Any]
NO_NUL = "^[^\\u0000]*$"
MAX_DESCRIBED_FIELDS = 50

# What a written value must satisfy (service/values.py): no NUL in strings or keys, integer literals
# within 64 bits, at any depth (the depth limit, 64, is left to the 400 it causes). Carried once, as
# components that properties refer to. JSON Schema cannot tell the literal `100000000000000000000`
# (refused) from `1e20` (a double, stored as written): both are "integers" to it. So the bounds are on
# the integer branch, and the number branch admits every double, as the server does; generators such
# as schemathesis draw integers from the first and floats from the second.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INTEGER: Schema = {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
DOUBLE: Schema = {
    "type": "number",
    "format": "double",
    "description": "A number written with a fraction or an exponent (`1.5`, `1e20`), stored as a double.",
}
SCALAR: Schema = {"anyOf": [{"type": ["null", "boolean", "string"], "pattern": NO_NUL}, INTEGER, DOUBLE]}
_KEYS: Schema = {"pattern": NO_NUL}
VALUE: Schema = {
    "description": "Any JSON value the server stores: strings without NUL; integers within 64 bits "
    "(a longer integer is refused: send it as a string); numbers with a fraction or an exponent as doubles.",
    "anyOf": [
        {"$ref": "#/components/schemas/JsonScalar"},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"type": "object", "propertyNames": _KEYS, "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}},
    ],
}
VALUE_SCHEMAS: Schema = {"JsonScalar": SCALAR, "JsonValue": VALUE}
ANY_VALUE: Schema = {"$ref": "#/components/schemas/JsonValue"}
CLIENT_ID: Schema = {
    "oneOf": [
        {"type": "null"},
        {"type": "integer", "minimum": -INT_LIMIT, "maximum": INT_LIMIT},
        {"type": "string", "maxLength": MAX_ID_LENGTH, "pattern": ID_REGEX},
    ],
    "description": "An integer, or a string without '/' or control characters (at most 200 characters); "
    "without one (or with null) the server assigns the next integer.",
}
STORED_ID: Schema = {"type": ["integer", "string"]}
IGNORED_ID: Schema = {"$ref": "#/components/schemas/JsonValue", "description": "Ignored: a record keeps its id."}
TIMESTAMP: Schema = {"type": "string", "format": "date-time", "readOnly": True, "description": "Set by the server."}


@dataclass(frozen=True)
class Managed:
    """The fields the server manages on records."""

    id_field: str
    timestamps: tuple[str, ...]
    client_ids: bool  # 0.17 keeps a client's id on create; 1.x always generates one


@dataclass(frozen=True)
class RecordModels:
    """One collection's schemas: the stored record, and the bodies of create, replace and patch."""

    record: Schema
    create: Schema
    replace: Schema
    patch: Schema


def record_models(inferred: Schema, declared: Schema | None, managed: Managed) -> RecordModels:
    """The four schemas of a collection, from its declared schema or, without one, its inferred shape."""
    if declared is not None:
        return _declared_models(declared, inferred, managed)
    return _inferred_models(inferred, managed)


def singular_models(inferred: Schema, declared: Schema | None) -> RecordModels:
    """A singular resource's schemas (no id, no timestamps)."""
    if declared is not None:
        record, body = copy.deepcopy(declared), bounded_integers(declared)
        return RecordModels(record, body, body, _without_required(body))
    record = _described_object(inferred, {}, {}, {})
    body = _described_object(inferred, {}, ANY_VALUE, {"propertyNames": _KEYS})
    return RecordModels(record, body, body, body)


# -- declared --------------------------------------------------------------------------------------


def _declared_models(declared: Schema, inferred: Schema, managed: Managed) -> RecordModels:
    properties = declared.get("properties", {})
    record = copy.deepcopy(declared)
    record.pop("additionalProperties", None)  # `_embed` adds fields to what GET returns
    record.pop("unevaluatedProperties", None)
    record_properties = record.setdefault("properties", {})
    record_properties.setdefault(managed.id_field, _inferred_id(inferred))
    for name in managed.timestamps:
        record_properties[name] = TIMESTAMP
    record["required"] = sorted({*record.get("required", ()), managed.id_field})
    write = bounded_integers(declared)
    write["required"] = [name for name in declared.get("required", ()) if name not in _managed_names(managed)]
    if not write["required"]:
        del write["required"]
    update = copy.deepcopy(write)
    if managed.id_field in properties:
        write["properties"][managed.id_field] = {**properties[managed.id_field], **_client_id(managed)}
        update["properties"][managed.id_field] = IGNORED_ID
    return RecordModels(record, write, update, _without_required(update))


def bounded_integers(schema: Schema) -> Schema:
    """A copy of a declared schema whose integers are kept within 64 bits (what every write must satisfy).

    Example:
        >>> bounded_integers({"type": "integer", "minimum": 0})["maximum"]
        9223372036854775807
    """
    bounded = copy.deepcopy(schema)
    stack: list[Any] = [bounded]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            kinds = item.get("type")
            if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
                item["minimum"] = max(item.get("minimum", INT64_MIN), INT64_MIN)
                item["maximum"] = min(item.get("maximum", INT64_MAX), INT64_MAX)
            stack.extend(value for key, value in item.items() if key not in _DATA_KEYWORDS)
    return bounded


_DATA_KEYWORDS = frozenset(("const", "default", "enum", "example", "examples"))  # values, not schemas


def _without_required(schema: Schema) -> Schema:
    patch = copy.deepcopy(schema)
    patch.pop("required", None)
    return patch


# -- inferred --------------------------------------------------------------------------------------


def _inferred_models(inferred: Schema, managed: Managed) -> RecordModels:
    stored: Schema = {managed.id_field: _inferred_id(inferred)}
    stored.update(dict.fromkeys(managed.timestamps, TIMESTAMP))
    record = _described_object(inferred, stored, {}, {})
    record["required"] = [managed.id_field]
    skip = _managed_names(managed)
    client: Schema = {managed.id_field: CLIENT_ID} if managed.client_ids else {}
    create = _described_object(inferred, client, ANY_VALUE, {"propertyNames": _KEYS}, skip=skip)
    update = _described_object(inferred, {managed.id_field: IGNORED_ID}, ANY_VALUE, {"propertyNames": _KEYS}, skip=skip)
    return RecordModels(record, create, update, update)


def _described_object(
    inferred: Schema, fixed: Schema, value: Schema, extra: Schema, skip: frozenset[str] = frozenset()
) -> Schema:
    """An object of any fields; the inferred ones are described, not enforced (json-server is schemaless).

    Bodies constrain ``value`` to what the server can store; records as read take any value, since
    data edited into the file, or written before a limit, is served as it is.
    """
    properties: Schema = {}
    for name, shape in list(inferred.get("properties", {}).items())[:MAX_DESCRIBED_FIELDS]:
        if name not in fixed and name not in skip:
            properties[name] = {**value, "description": f"Seen in the data as: {_type_words(shape)}."}
    properties.update(fixed)
    return {"type": "object", "properties": properties, "additionalProperties": value or True, **extra}


def _inferred_id(inferred: Schema) -> Schema:
    shape = inferred.get("properties", {}).get("id", {})
    return {**STORED_ID, "description": f"Seen in the data as: {_type_words(shape) if shape else 'integer'}."}


def _client_id(managed: Managed) -> Schema:
    return CLIENT_ID if managed.client_ids else {"description": "Ignored: the server generates ids (--compat 1)."}


def _managed_names(managed: Managed) -> frozenset[str]:
    return frozenset({managed.id_field, *managed.timestamps})


def _type_words(shape: Schema) -> str:
    kinds = shape.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return " or ".join(kinds) if kinds else "no value yet"
