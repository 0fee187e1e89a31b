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


@pytest.mark.parametrize(
    ("first", "second", "widened"),
    [
        ({"x": 1}, {"x": 2}, False),  # same fields, same types
        ({"x": 1}, {"x": "a"}, True),  # a new type
        ({"x": 1}, {"x": 1, "y": 2}, True),  # a new field
        ({"x": 1, "y": 2}, {"x": 1}, True),  # y is no longer required
        ({"x": {"a": 1}}, {"x": {"a": None}}, True),  # a nested type
        ({"x": [1]}, {"x": [2, 3]}, False),
        ({"x": []}, {"x": [1]}, True),  # the first array item
        ({"x": [1]}, {"x": ["a"]}, True),  # a new item type
    ],
)
def test_observe_says_whether_the_schema_widened(first: Any, second: Any, widened: bool) -> None:
    shape = Shape()
    assert shape.observe(first) is True
    before = shape.to_json_schema()
    assert shape.observe(second) is widened
    assert (shape.to_json_schema() != before) is widened
