"""Schema inference: what the records of a collection look like, as JSON Schema.

A :class:`Shape` accumulates the JSON types seen at each field (nested objects and array items
included, to a bounded depth). It only widens: :meth:`Shape.observe` is called for every stored
record once at start and then for each created or updated record, so keeping it current costs one
walk of the written record, never a rescan; it says whether the schema widened, so a cache of what
is built from shapes knows when to rebuild. ``required`` lists the fields every observed record has;
:attr:`Shape.wide` says whether an integer beyond 32 bits was seen (GraphQL reads such fields as Float).

Example:
    >>> shape = Shape()
    >>> shape.observe({"id": 1, "title": "a"}), shape.observe({"id": 2, "title": None}), shape.observe({"id": 3})
    (True, True, True)
    >>> shape.to_json_schema()["properties"]["title"]
    {'type': ['null', 'string']}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jsonserve._types import JSONValue

MAX_DEPTH = 4
MAX_FIELDS = 200
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def json_type(value: JSONValue) -> str:
    """The JSON Schema type name of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@dataclass
class Shape:
    """The types seen for one value position, with object fields and array items below it."""

    types: set[str] = field(default_factory=set)
    fields: dict[str, Shape] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    items: Shape | None = None
    wide: bool = False  # an integer outside 32 bits was seen (GraphQL's Int cannot hold it)

    def observe(self, value: JSONValue, depth: int = 0) -> bool:
        """Widen the shape with one more value; ``True`` when its JSON Schema changed (it widened)."""
        kind = json_type(value)
        changed = kind not in self.types
        self.types.add(kind)
        if kind == "integer" and not self.wide and not INT32_MIN <= value <= INT32_MAX:  # type: ignore[operator]
            self.wide = changed = True
        if depth >= MAX_DEPTH:
            return changed
        if isinstance(value, dict):
            # A field every earlier object had and this one lacks is no longer required.
            changed = changed or any(count == self.objects and key not in value for key, count in self.present.items())
            self.objects += 1
            for key, child in value.items():
                if key not in self.fields:
                    if len(self.fields) >= MAX_FIELDS:
                        continue
                    changed = True
                changed = self.fields.setdefault(key, Shape()).observe(child, depth + 1) or changed
                self.present[key] = self.present.get(key, 0) + 1
        elif isinstance(value, list):
            for item in value[:50]:
                changed = changed or self.items is None
                changed = (self.items or self._new_items()).observe(item, depth + 1) or changed
        return changed

    def _new_items(self) -> Shape:
        self.items = Shape()
        return self.items

    def to_json_schema(self) -> dict[str, Any]:
        """This shape as a JSON Schema (draft 2020-12, as OpenAPI 3.1 uses)."""
        types = sorted(self.types - ({"integer"} if "number" in self.types else set()))
        schema: dict[str, Any] = {}
        if types:
            schema["type"] = types[0] if len(types) == 1 else types
        if self.fields:
            schema["properties"] = {name: shape.to_json_schema() for name, shape in self.fields.items()}
            required = [name for name, count in self.present.items() if count == self.objects]
            if required:
                schema["required"] = required
        if self.items is not None:
            schema["items"] = self.items.to_json_schema()
        return schema


def infer(records: list[JSONValue]) -> Shape:
    """The shape of a list of records."""
    shape = Shape()
    for record in records:
        shape.observe(record)
    return shape
