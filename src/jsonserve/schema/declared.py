"""Declared JSON Schemas: one per collection, checked at start, validating every write.

A schema file maps collection names to JSON Schemas (draft 2020-12, the dialect OpenAPI 3.1 uses)::

    {"users": {"type": "object", "required": ["email"],
               "properties": {"email": {"type": "string", "format": "email"}}}}

:meth:`RecordSchema.errors` returns *every* violation as a :class:`FieldError` whose ``path`` is a
JSON Pointer to the field (``/email``, ``/tags/0``), so a 422 names each failing field at once. We
use the ``jsonschema`` library (formats ``email``, ``date-time``, ``uri`` and ``uuid`` included);
only the messages are ours, because its own quote Python reprs (``'x' is not a 'email'``).

Example:
    >>> schema = RecordSchema("users", {"type": "object", "required": ["email"]})
    >>> [e.path for e in schema.errors({})]
    ['/email']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from jsonserve._types import JSONValue
from jsonserve.errors import FieldError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

FORMAT_NAMES = {"email": "email address", "date-time": "RFC 3339 date-time", "uri": "URI", "uuid": "UUID"}


class SchemaFileError(Exception):
    """The schema file cannot be read or holds an invalid schema (the server refuses to start)."""


class RecordSchema:
    """One collection's declared schema, compiled once."""

    def __init__(self, collection: str, schema: Mapping[str, Any]) -> None:
        # Imported here: jsonschema costs ~50 ms of every start-up, and most servers declare no schema.
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            where = "/".join(str(part) for part in error.absolute_path)
            raise SchemaFileError(f"the schema for {collection!r} is invalid at /{where}: {error.message}") from None
        self.collection = collection
        self.schema = dict(schema)
        self._validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def errors(self, record: Mapping[str, JSONValue], *, managed: Iterable[str] = ()) -> list[FieldError]:
        """Every violation in ``record``, sorted by path.

        ``managed`` are top-level fields the server sets (the id, timestamps): they are never required,
        and are checked only when the schema declares them (so ``additionalProperties: false`` need
        not list them).
        """
        managed = set(managed)
        declared = self.schema.get("properties", {})
        instance = {key: value for key, value in record.items() if key not in managed or key in declared}
        skip = {f"/{_escape(name)}" for name in managed}
        found: dict[tuple[str, str], FieldError] = {}
        for error in self._validator.iter_errors(instance):
            for field_error in _field_errors(error):
                if field_error.code == "required" and field_error.path in skip:
                    continue
                found.setdefault((field_error.path, field_error.code), field_error)
        return [found[key] for key in sorted(found)]


def load_schemas(path: Path) -> dict[str, RecordSchema]:
    """Read a schema file (a JSON object: collection name -> JSON Schema)."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise SchemaFileError(f"cannot read the schema file {path}: {error.strerror or error}") from None
    except orjson.JSONDecodeError as error:
        raise SchemaFileError(f"the schema file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise SchemaFileError(f"the schema file {path} must be a JSON object: collection name -> JSON Schema")
    schemas = {}
    for name, schema in document.items():
        if not isinstance(schema, dict):
            raise SchemaFileError(f"the schema for {name!r} must be a JSON object")
        schemas[name] = RecordSchema(name, schema)
    return schemas


# -- one jsonschema error -> field errors ------------------------------------------------------


def _field_errors(error: ValidationError) -> list[FieldError]:
    path = _pointer(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        return [
            FieldError(f"{path}/{_escape(name)}", "is required", "required") for name in required if name not in present
        ]
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return [
            FieldError(f"{path}/{_escape(name)}", "is not an allowed field", _snake(keyword))
            for name in _unexpected(error)
        ]
    if keyword == "dependentRequired":
        present = error.instance if isinstance(error.instance, dict) else {}
        rules: dict[str, list[str]] = dict(error.validator_value)  # type: ignore[arg-type]
        return [
            FieldError(f"{path}/{_escape(name)}", f"is required when {trigger} is present", "dependent_required")
            for trigger, names in rules.items()
            if trigger in present
            for name in names
            if name not in present
        ]
    if error.schema is False:  # a `false` subschema (jsonschema sets no keyword)
        return [FieldError(path or "/", "has a value the schema does not allow", "not_allowed")]
    return [FieldError(path or "/", _message(error, keyword), _snake(keyword))]


def _unexpected(error: ValidationError) -> list[str]:
    if not isinstance(error.instance, dict):
        return []
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = set(schema.get("properties", {}))
    patterns = [re.compile(pattern) for pattern in schema.get("patternProperties", {})]
    return [name for name in error.instance if name not in known and not any(p.search(name) for p in patterns)] or [
        "(unknown)"
    ]


def _message(error: ValidationError, keyword: str) -> str:
    value: Any = error.validator_value
    messages: dict[str, Callable[[], str]] = {
        "type": lambda: "must be " + " or ".join(_article(kind) for kind in _as_list(value)),
        "format": lambda: f"must be a valid {FORMAT_NAMES.get(str(value), str(value))}",
        "enum": lambda: "must be one of: " + ", ".join(_json(choice) for choice in value),
        "const": lambda: f"must be {_json(value)}",
        "minimum": lambda: f"must be >= {_json(value)}",
        "maximum": lambda: f"must be <= {_json(value)}",
        "exclusiveMinimum": lambda: f"must be > {_json(value)}",
        "exclusiveMaximum": lambda: f"must be < {_json(value)}",
        "multipleOf": lambda: f"must be a multiple of {_json(value)}",
        "minLength": lambda: f"must be at least {_count(value, 'character')} long",
        "maxLength": lambda: f"must be at most {_count(value, 'character')} long",
        "pattern": lambda: f"must match the pattern {value}",
        "minItems": lambda: f"must have at least {_count(value, 'item')}",
        "maxItems": lambda: f"must have at most {_count(value, 'item')}",
        "uniqueItems": lambda: "must not repeat items",
        "minProperties": lambda: f"must have at least {_count(value, 'field')}",
        "maxProperties": lambda: f"must have at most {_count(value, 'field')}",
        "contains": lambda: "must contain a matching item",
        "minContains": lambda: f"must contain at least {_count(value, 'matching item')}",
        "maxContains": lambda: f"must contain at most {_count(value, 'matching item')}",
        "items": lambda: "must not have more items",
        "anyOf": lambda: "must match at least one of the allowed schemas",
        "oneOf": lambda: "must match exactly one of the allowed schemas",
        "not": lambda: "must not match the excluded schema",
    }
    build = messages.get(keyword)
    # jsonschema's own messages quote the value as a Python repr (``True``, ``{'a': 1}``): never shown.
    return build() if build else f"does not match the schema ({keyword})"


def _pointer(parts: Iterable[object]) -> str:
    return "".join(f"/{_escape(str(part))}" for part in parts)


def _escape(name: str) -> str:
    """RFC 6901: ``~`` -> ``~0`` and ``/`` -> ``~1``."""
    return name.replace("~", "~0").replace("/", "~1")


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", keyword).lower()


def _as_list(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _count(value: object, noun: str) -> str:
    return f"{value} {noun}" if value == 1 else f"{value} {noun}s"


def _article(kind: str) -> str:
    if kind == "null":
        return "null"
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _json(value: object) -> str:
    return orjson.dumps(value).decode()
