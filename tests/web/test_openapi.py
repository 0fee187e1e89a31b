"""``/openapi.json``: a valid OpenAPI 3.1 document that follows the live data and its schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

JSON_HEADERS = {"Content-Type": "application/json"}

USERS_SCHEMA = {
    "type": "object",
    "required": ["email"],
    "additionalProperties": False,
    "properties": {"email": {"type": "string", "format": "email"}, "age": {"type": "integer", "minimum": 0}},
}


async def _document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    validate(document)  # raises unless it is a valid OpenAPI 3.1 document
    return document


async def test_the_demo_data_document_is_valid_openapi_31() -> None:
    async with serve(None) as http:
        document = await _document(http)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/"}]
    for name in ("posts", "comments", "albums", "photos", "todos", "users"):
        assert set(document["paths"][f"/{name}"]) == {"get", "post"}
        assert set(document["paths"][f"/{name}/{{id}}"]) == {"parameters", "get", "put", "patch", "delete"}
    assert set(document["paths"]["/posts/{id}/comments"]) == {"parameters", "get", "post"}
    assert "/db" in document["paths"]


async def test_list_operations_document_both_dialects_and_headers() -> None:
    async with serve(None) as http:
        document = await _document(http)
    listing = document["paths"]["/posts"]["get"]
    names = {parameter.get("name") for parameter in listing["parameters"]}
    assert {"_page", "_limit", "_start", "_end", "_per_page", "_sort", "_order", "q", "_embed", "filter"} <= names
    filters = next(p for p in listing["parameters"] if p.get("name") == "filter")
    patterns = list(filters["schema"]["patternProperties"])
    assert any("_(ne|lt|lte|gt|gte)" in pattern for pattern in patterns)  # 0.17 operators
    assert any(":(eq|ne|lt|lte|gt|gte|in|contains|startsWith|endsWith)" in pattern for pattern in patterns)  # 1.x
    embed = next(p for p in listing["parameters"] if p.get("name") == "_embed")
    assert embed["schema"]["items"]["enum"] == ["comments", "user", ""]  # an empty name is ignored
    ok = listing["responses"]["200"]
    assert {"ETag", "X-Total-Count", "Link"} <= set(ok["headers"])
    assert listing["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    created = document["paths"]["/posts"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    assert created["links"]["get"]["operationId"] == "get_posts"
    problem = document["components"]["responses"]["ValidationFailed"]
    assert "application/problem+json" in problem["content"]


async def test_no_query_value_with_nul_is_documented_as_valid() -> None:
    # The parser answers 400 to a NUL anywhere in a query; a document whose `_sort` pattern allowed one
    # made schemathesis report "schema-valid request rejected" (it failed CI once).
    async with serve(None) as http:
        document = await _document(http)
        listing = {p["name"]: p for p in document["paths"]["/posts"]["get"]["parameters"] if "name" in p}
        for name, valid in (("_sort", "-views,id"), ("_order", "asc,desc"), ("q", "lorem")):
            validator = Draft202012Validator(listing[name]["schema"])
            assert validator.is_valid(valid), name
            for value in ("\x00", f"{valid}\x00", f"\x00{valid}"):
                assert not validator.is_valid(value), (name, value)
        assert "NUL" in listing["filter"]["description"]
        response = await http.get("/posts", params={"_sort": "id\x00"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "invalid_character"


async def test_the_sort_parameter_states_the_query_limits() -> None:
    """At most 10 fields of at most 20 segments (query/limits.py): what the document allows is accepted."""
    async with serve(None) as http:
        document = await _document(http)
        listing = {p["name"]: p for p in document["paths"]["/posts"]["get"]["parameters"] if "name" in p}
        validator = Draft202012Validator(listing["_sort"]["schema"])
        ten = ",".join(["-id", *(f"f{n}" for n in range(9))])
        deep = ".".join(["a"] * 20)
        for valid in (ten, deep, f"{deep},-{deep}"):
            assert validator.is_valid(valid), valid
            assert (await http.get("/posts", params={"_sort": valid})).status_code == 200
        for invalid in (ten + ",x", deep + ".a"):
            assert not validator.is_valid(invalid), invalid
            assert (await http.get("/posts", params={"_sort": invalid})).status_code == 400


async def test_a_declared_schema_is_the_contract(tmp_path: Path) -> None:
    schema_file = tmp_path / "schemas.json"
    schema_file.write_text(json.dumps({"users": USERS_SCHEMA}))
    data: dict[str, Any] = {"users": [{"id": 1, "email": "a@example.com"}]}
    async with serve(data, schema_file=schema_file, timestamps=True) as http:
        document = await _document(http)
    schemas = document["components"]["schemas"]
    create = schemas["users_create"]
    assert create["required"] == ["email"]
    assert create["additionalProperties"] is False
    assert create["properties"]["email"] == {"type": "string", "format": "email"}
    record = schemas["users"]
    assert record["required"] == ["email", "id"]
    assert record["properties"]["createdAt"]["readOnly"] is True
    assert "additionalProperties" not in record  # `_embed` adds fields to what GET returns
    assert "required" not in schemas["users_patch"]


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


async def test_body_integers_are_documented_within_64_bits(tmp_path: Path) -> None:
    """The server refuses integer literals beyond 64 bits (issue 13): the document says so, inferred or declared."""
    schema_file = tmp_path / "schemas.json"
    schema_file.write_text(json.dumps({"users": USERS_SCHEMA}))
    data: dict[str, Any] = {"users": [{"id": 1, "email": "a@example.com"}], "posts": [{"id": 1, "views": 3}]}
    async with serve(data, schema_file=schema_file) as http:
        document = await _document(http)
        refused = await http.post("/posts", content=b'{"views": 9223372036854775808}', headers=JSON_HEADERS)
    assert refused.status_code == 400
    schemas = document["components"]["schemas"]
    integer = {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
    assert integer in schemas["JsonScalar"]["anyOf"]
    # JSON Schema cannot tell the refused literal 100000000000000000000 from the double 1e20 (stored as
    # written): the number branch admits doubles, so integers past 64 bits are refused by the server only.
    value = Draft202012Validator({**schemas["JsonValue"], "components": document["components"]})
    for valid in (INT64_MIN, INT64_MAX, 0.5, -1.5e300, "x", None, True, [1, {"a": INT64_MAX}]):
        assert value.is_valid(valid), valid
    assert not value.is_valid("a\x00")
    age = schemas["users_create"]["properties"]["age"]
    assert age == {"type": "integer", "minimum": 0, "maximum": INT64_MAX}  # the declared minimum is kept
    assert schemas["users_patch"]["properties"]["age"]["maximum"] == INT64_MAX


async def test_the_document_follows_the_data() -> None:
    async with serve({"posts": []}, auto_create=True) as http:
        before = await _document(http)
        assert "/events" not in before["paths"]
        created = await http.post("/events", json={"kind": "click", "at": 3})
        assert created.status_code == 201
        after = await _document(http)
    assert {"/events", "/events/{id}"} <= set(after["paths"])
    described = after["components"]["schemas"]["events"]["properties"]
    assert described["kind"]["description"] == "Seen in the data as: string."


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_singulars_compat_and_base(compat: str) -> None:
    data: dict[str, Any] = {"posts": [{"id": 1, "title": "a"}], "profile": {"name": "x"}}
    async with serve(data, compat=compat, base="/api/v1") as http:
        response = await http.get("/api/v1/openapi.json")
        document = response.json()
    validate(document)
    assert document["servers"] == [{"url": "/api/v1"}]
    profile = document["paths"]["/profile"]
    assert ("post" in profile) is (compat == "0.17")
    deleted = document["paths"]["/posts/{id}"]["delete"]["responses"]["200"]["content"]["application/json"]
    assert (deleted["schema"] == {"type": "object", "maxProperties": 0}) is (compat == "0.17")


async def test_a_collection_named_docs_wins_over_the_page() -> None:
    async with serve({"docs": [{"id": 1}]}) as http:
        listing = await http.get("/docs")
        document = await _document(http)
    assert listing.json() == [{"id": 1}]
    assert "/docs" in document["paths"]


async def test_no_docs_serves_none_of_them() -> None:
    async with serve({"posts": []}, docs=False) as http:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert (await http.get(path)).status_code == 404
