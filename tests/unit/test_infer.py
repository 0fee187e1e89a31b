"""Schema inference: the JSON Schema a list of records implies."""

from __future__ import annotations

from typing import Any

import pytest

from jsonserve.schema.infer import Shape, infer, json_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "integer"),
        (1.5, "number"),
        ("a", "string"),
        ([], "array"),
        ({}, "object"),
    ],
)
def test_json_type(value: Any, expected: str) -> None:
    assert json_type(value) == expected


def test_fields_types_and_required() -> None:
    schema = infer([{"id": 1, "title": "a", "tags": ["x"]}, {"id": 2, "title": None}]).to_json_schema()
    assert schema["type"] == "object"
    assert schema["properties"]["id"] == {"type": "integer"}
    assert schema["properties"]["title"] == {"type": ["null", "string"]}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["required"] == ["id", "title"]


def test_integer_widens_to_number() -> None:
    assert infer([{"n": 1}, {"n": 2.5}]).to_json_schema()["properties"]["n"] == {"type": "number"}


def test_nested_objects_are_described_to_a_bounded_depth() -> None:
    deep: Any = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    schema = infer([deep]).to_json_schema()
    level = schema
    for name in "abcd":
        level = level["properties"][name]
    assert level == {"type": "object"}  # depth 4 reached: the type is kept, the fields are not


def test_observe_only_widens() -> None:
    shape = Shape()
    shape.observe({"x": 1})
    shape.observe({"y": "s"})
    schema = shape.to_json_schema()
    assert set(schema["properties"]) == {"x", "y"}
    assert "required" not in schema
