"""Declared JSON Schemas (``--schema``): every write is validated, a violation is one 422 naming every field.

Runs once per storage backend (tests/api/conftest.py), so the exact bodies asserted here are the
same on all of them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from jsonserve.schema.declared import SchemaFileError
from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:3000"
PROBLEM = "application/problem+json"

SCHEMAS: dict[str, Any] = {
    "users": {
        "type": "object",
        "required": ["name", "email", "role", "country"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 10},
            "handle": {"type": "string", "pattern": "^@[a-z]+$"},
            "email": {"type": "string", "format": "email"},
            "born": {"type": "string", "format": "date-time"},
            "site": {"type": "string", "format": "uri"},
            "token": {"type": "string", "format": "uuid"},
            "role": {"enum": ["admin", "user"]},
            "age": {"type": "integer", "minimum": 0},
            "active": {"type": "boolean"},
            "country": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
    # A rule across two fields: a PATCH can be valid alone and still break the merged record.
    "products": {
        "type": "object",
        "properties": {"kind": {"enum": ["sale", "regular"]}, "price": {"type": "number", "minimum": 0}},
        "if": {"properties": {"kind": {"const": "sale"}}, "required": ["kind"]},
        "then": {"properties": {"price": {"maximum": 10}}},
    },
    "comments": {
        "type": "object",
        "required": ["body"],
        "additionalProperties": False,
        "properties": {"body": {"type": "string", "minLength": 1}, "postId": {"type": "integer"}},
    },
    "profile": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 2}},
    },
    "events": {
        "type": "object",
        "required": ["title", "createdAt"],
        "additionalProperties": False,
        "properties": {"title": {"type": "string"}, "createdAt": {"type": "string", "format": "date-time"}},
    },
    "typed": {"type": "object", "properties": {"id": {"type": "integer"}, "label": {"type": "string"}}},
    # Keywords whose jsonschema messages would quote Python reprs (True, None, {'a': 1}).
    "rules": {
        "type": "object",
        "maxProperties": 7,
        "dependentRequired": {"discount": ["price", "currency"]},
        "properties": {
            "code": {"type": "string", "minLength": 3, "pattern": "^[A-Z]+$"},
            "size": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "step": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
            "note": {"not": {"type": "null"}},
            "tags": {"type": "array", "minItems": 1},
            "names": {"type": "array", "contains": {"type": "string"}},
            "label": {"type": "string", "minLength": 1},
        },
    },
}

ADA = {"id": 1, "name": "Ada", "email": "ada@example.com", "role": "admin", "country": "UK"}
DATA: dict[str, Any] = {
    "users": [
        ADA,
        # Stored before the schema existed: its email is invalid.
        {"id": 2, "name": "Bob", "email": "not-an-email", "role": "user", "country": "FR"},
    ],
    "products": [{"id": 1, "kind": "sale", "price": 5}],
    "posts": [{"id": 1, "title": "hello"}],
    "comments": [{"id": 1, "body": "first", "postId": 1}],
    "events": [{"id": 1, "title": "before timestamps"}],
    "typed": [],
    "rules": [],
    "profile": {"name": "typicode"},
}

VALID_USER = {
    "name": "Grace",
    "handle": "@grace",
    "email": "grace@example.com",
    "born": "1906-12-09T08:00:00Z",
    "site": "https://example.com/grace",
    "token": "123e4567-e89b-12d3-a456-426614174000",
    "role": "user",
    "age": 85,
    "active": True,
    "country": "US",
    "tags": ["navy", "cobol"],
}

# Every field fails exactly one way (and "country" is missing).
INVALID_USER = {
    "name": "Grace Brewster Hopper",
    "handle": "Grace",
    "email": "grace-at-example.com",
    "born": "yesterday",
    "site": "not a uri",
    "token": "1234",
    "role": "root",
    "age": -1,
    "active": "yes",
    "tags": ["navy", 7],
    "nickname": "Amazing Grace",
}

INVALID_USER_ERRORS = [
    {"path": "/active", "message": "must be a boolean", "code": "type"},
    {"path": "/age", "message": "must be >= 0", "code": "minimum"},
    {"path": "/born", "message": "must be a valid RFC 3339 date-time", "code": "format"},
    {"path": "/country", "message": "is required", "code": "required"},
    {"path": "/email", "message": "must be a valid email address", "code": "format"},
    {"path": "/handle", "message": "must match the pattern ^@[a-z]+$", "code": "pattern"},
    {"path": "/name", "message": "must be at most 10 characters long", "code": "max_length"},
    {"path": "/nickname", "message": "is not an allowed field", "code": "additional_properties"},
    {"path": "/role", "message": 'must be one of: "admin", "user"', "code": "enum"},
    {"path": "/site", "message": "must be a valid URI", "code": "format"},
    {"path": "/tags/1", "message": "must be a string", "code": "type"},
    {"path": "/token", "message": "must be a valid UUID", "code": "format"},
]

INVALID_USER_PROBLEM = {
    "type": "about:blank",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": (
        "the users record does not match its schema "
        "(/active, /age, /born, /country, /email, /handle, /name, /nickname, /role, /site, /tags/1, /token)"
    ),
    "code": "validation_failed",
    "errors": INVALID_USER_ERRORS,
}


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schemas.json"
    path.write_text(json.dumps(SCHEMAS))
    return path


@pytest.fixture
async def api(schema_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    """:data:`DATA` served with :data:`SCHEMAS`."""
    async with serve(copy.deepcopy(DATA), schema_file=schema_file) as client:
        yield client


def assert_422(response: httpx.Response, errors: list[dict[str, str]]) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == errors
    return body


async def snapshot(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/db")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


# -- POST ----------------------------------------------------------------------------------------


async def test_post_lists_every_failing_field_in_one_exact_body(api: httpx.AsyncClient) -> None:
    response = await api.post("/users", json=INVALID_USER)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == INVALID_USER_PROBLEM
    # Byte for byte, so every backend answers exactly the same document.
    assert response.content == orjson.dumps(INVALID_USER_PROBLEM, option=orjson.OPT_INDENT_2)
    assert "location" not in response.headers


async def test_a_valid_post_passes_every_format(api: httpx.AsyncClient) -> None:
    response = await api.post("/users", json=VALID_USER)
    assert response.status_code == 201, response.text
    assert response.json() == {**VALID_USER, "id": 3}
    assert response.headers["location"] == f"{ORIGIN}/users/3"
    assert (await api.get("/users/3")).json() == {**VALID_USER, "id": 3}


async def test_nothing_is_stored_after_a_422(api: httpx.AsyncClient) -> None:
    before = await snapshot(api)
    listed = (await api.get("/users")).json()
    assert_422(await api.post("/users", json=INVALID_USER), INVALID_USER_ERRORS)
    assert_422(
        await api.put("/users/1", json={**ADA, "age": -5}),
        [{"path": "/age", "message": "must be >= 0", "code": "minimum"}],
    )
    assert_422(
        await api.patch("/users/1", json={"role": "root"}),
        [{"path": "/role", "message": 'must be one of: "admin", "user"', "code": "enum"}],
    )
    assert (await api.get("/users")).json() == listed
    assert (await api.get("/users/1")).json() == ADA
    assert await snapshot(api) == before
    # A rejected POST consumed no id either.
    created = await api.post("/users", json=VALID_USER)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == 3


async def test_the_id_is_never_required_and_an_undeclared_id_passes(api: httpx.AsyncClient) -> None:
    # "users" has additionalProperties: false and does not declare "id".
    chosen = await api.post("/users", json={**VALID_USER, "id": 70})
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["id"] == 70
    generated = await api.post("/users", json={**VALID_USER, "name": "Other"})
    assert generated.status_code == 201, generated.text
    assert generated.json()["id"] == 71


async def test_a_declared_id_is_checked(api: httpx.AsyncClient) -> None:
    assert_422(
        await api.post("/typed", json={"id": "abc", "label": "x"}),
        [{"path": "/id", "message": "must be an integer", "code": "type"}],
    )
    created = await api.post("/typed", json={"id": 5, "label": "x"})
    assert created.status_code == 201, created.text
    assert (await api.get("/typed")).json() == [{"id": 5, "label": "x"}]


# -- PUT and PATCH ------------------------------------------------------------------------------------


async def test_put_validates_the_whole_replacement(api: httpx.AsyncClient) -> None:
    # PUT replaces: the stored name, role and country do not count.
    response = await api.put("/users/1", json={"email": "ada@example.org", "age": 1.5})
    body = assert_422(
        response,
        [
            {"path": "/age", "message": "must be an integer", "code": "type"},
            {"path": "/country", "message": "is required", "code": "required"},
            {"path": "/name", "message": "is required", "code": "required"},
            {"path": "/role", "message": "is required", "code": "required"},
        ],
    )
    assert body["detail"] == "the users record does not match its schema (/age, /country, /name, /role)"
    replaced = await api.put("/users/1", json={**VALID_USER, "id": 99})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {**VALID_USER, "id": 1}
    assert (await api.get("/users/1")).json() == {**VALID_USER, "id": 1}


async def test_patch_valid_alone_but_invalid_merged_is_422(api: httpx.AsyncClient) -> None:
    # Alone, {"price": 50} is a valid product (a POST takes it) ...
    alone = await api.post("/products", json={"price": 50})
    assert alone.status_code == 201, alone.text
    # ... but product 1 is on sale, and a sale price is at most 10.
    before = await snapshot(api)
    response = await api.patch("/products/1", json={"price": 50})
    assert_422(response, [{"path": "/price", "message": "must be <= 10", "code": "maximum"}])
    assert (await api.get("/products/1")).json() == {"id": 1, "kind": "sale", "price": 5}
    assert await snapshot(api) == before
    # Changing both fields together is fine.
    both = await api.patch("/products/1", json={"kind": "regular", "price": 50})
    assert both.status_code == 200, both.text
    assert both.json() == {"id": 1, "kind": "regular", "price": 50}


async def test_patch_is_validated_merged_so_it_can_fix_a_stored_record(api: httpx.AsyncClient) -> None:
    # User 2 was stored before the schema: its email is invalid, and a PATCH that leaves it is refused.
    assert_422(
        await api.patch("/users/2", json={"name": "Robert"}),
        [{"path": "/email", "message": "must be a valid email address", "code": "format"}],
    )
    assert (await api.get("/users/2")).json()["name"] == "Bob"
    # The fix alone lacks name, role and country, but the merged record is valid.
    fixed = await api.patch("/users/2", json={"email": "bob@example.com"})
    assert fixed.status_code == 200, fixed.text
    expected = {"id": 2, "name": "Bob", "email": "bob@example.com", "role": "user", "country": "FR"}
    assert fixed.json() == expected
    assert (await api.get("/users/2")).json() == expected


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_if_match_is_checked_before_the_schema(api: httpx.AsyncClient, method: str) -> None:
    invalid = {"role": "root"}
    stale = await api.request(method, "/users/1", json=invalid, headers={"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["code"] == "precondition_failed"
    assert "errors" not in stale.json()
    etag = (await api.get("/users/1")).headers["etag"]
    current = await api.request(method, "/users/1", json=invalid, headers={"If-Match": etag})
    assert current.status_code == 422, current.text
    assert {"path": "/role", "message": 'must be one of: "admin", "user"', "code": "enum"} in current.json()["errors"]
    assert (await api.get("/users/1")).json() == ADA


# -- singular resources, nested routes, missing collections, managed fields ----------------------------


async def test_a_singular_resource_is_validated(api: httpx.AsyncClient) -> None:
    before = await snapshot(api)
    assert_422(
        await api.put("/profile", json={"name": "x", "theme": "dark"}),
        [
            {"path": "/name", "message": "must be at least 2 characters long", "code": "min_length"},
            {"path": "/theme", "message": "is not an allowed field", "code": "additional_properties"},
        ],
    )
    assert_422(
        await api.patch("/profile", json={"name": 42}),
        [{"path": "/name", "message": "must be a string", "code": "type"}],
    )
    assert_422(  # json-server 0.17: POST replaces a singular resource
        await api.post("/profile", json={"nick": "ty"}),
        [
            {"path": "/name", "message": "is required", "code": "required"},
            {"path": "/nick", "message": "is not an allowed field", "code": "additional_properties"},
        ],
    )
    assert (await api.get("/profile")).json() == {"name": "typicode"}
    assert await snapshot(api) == before
    patched = await api.patch("/profile", json={"name": "grace"})
    assert patched.status_code == 200, patched.text
    assert (await api.get("/profile")).json() == {"name": "grace"}


async def test_a_nested_post_is_validated_against_the_childs_schema(api: httpx.AsyncClient) -> None:
    before = await snapshot(api)
    # The parent's foreign key (postId) is added by the route and passes additionalProperties: false.
    assert_422(
        await api.post("/posts/1/comments", json={"text": "hi"}),
        [
            {"path": "/body", "message": "is required", "code": "required"},
            {"path": "/text", "message": "is not an allowed field", "code": "additional_properties"},
        ],
    )
    assert await snapshot(api) == before
    created = await api.post("/posts/1/comments", json={"body": "second"})
    assert created.status_code == 201, created.text
    assert created.json() == {"body": "second", "postId": 1, "id": 2}
    assert (await api.get("/posts/1/comments")).json() == [
        {"id": 1, "body": "first", "postId": 1},
        {"body": "second", "postId": 1, "id": 2},
    ]


NOTES = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}


async def test_a_schema_for_a_missing_collection_needs_auto_create(tmp_path: Path) -> None:
    """Without --auto-create a schema for a name the data lacks is refused at start (a typo would leave
    validation off); with it, the schema validates the POST that creates the collection."""
    path = tmp_path / "with-notes.json"
    path.write_text(json.dumps({**SCHEMAS, "notes": NOTES}))
    with pytest.raises(SchemaFileError, match=r"--schema declares 'notes', but the data has no resource"):
        async with serve(copy.deepcopy(DATA), schema_file=path):
            pass
    async with serve(copy.deepcopy(DATA), schema_file=path, auto_create=True) as api:
        assert (await api.get("/notes")).status_code == 404
        assert_422(
            await api.post("/notes", json={"text": 1}),
            [{"path": "/text", "message": "must be a string", "code": "type"}],
        )
        assert (await api.get("/notes")).status_code == 404
        assert "notes" not in await snapshot(api)
        created = await api.post("/notes", json={"text": "remember"})
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"{ORIGIN}/notes/1"
        assert (await api.get("/notes")).json() == [{"text": "remember", "id": 1}]


async def test_timestamps_are_managed_fields_never_required(schema_file: Path) -> None:
    async with serve(copy.deepcopy(DATA), schema_file=schema_file, timestamps=True) as client:
        # "users" forbids undeclared fields, yet the server's createdAt/updatedAt pass.
        created = await client.post("/users", json=VALID_USER)
        assert created.status_code == 201, created.text
        assert created.json().keys() == {*VALID_USER, "id", "createdAt", "updatedAt"}
        # "events" requires createdAt; event 1 predates --timestamps, so a PUT stamps only updatedAt.
        replaced = await client.put("/events/1", json={"title": "renamed"})
        assert replaced.status_code == 200, replaced.text
        assert replaced.json().keys() == {"id", "title", "updatedAt"}
    async with serve(copy.deepcopy(DATA), schema_file=schema_file) as client:
        # Without --timestamps createdAt is an ordinary field: required, and format-checked.
        assert_422(
            await client.post("/events", json={"title": "x"}),
            [{"path": "/createdAt", "message": "is required", "code": "required"}],
        )
        assert_422(
            await client.post("/events", json={"title": "x", "createdAt": "now"}),
            [{"path": "/createdAt", "message": "must be a valid RFC 3339 date-time", "code": "format"}],
        )
        assert_422(
            await client.post("/users", json={**VALID_USER, "updatedAt": "2024-01-01T00:00:00.000Z"}),
            [{"path": "/updatedAt", "message": "is not an allowed field", "code": "additional_properties"}],
        )


async def test_every_message_is_plain_json_never_a_python_repr(api: httpx.AsyncClient) -> None:
    body = {"discount": 5, "currency": "EUR", "code": "a", "size": True, "step": 1, "note": None, "tags": []}
    response = await api.post("/rules", json={**body, "names": [1], "label": ""})
    problem = assert_422(
        response,
        [
            {"path": "/", "message": "must have at most 7 fields", "code": "max_properties"},
            {"path": "/code", "message": "must be at least 3 characters long", "code": "min_length"},
            {"path": "/code", "message": "must match the pattern ^[A-Z]+$", "code": "pattern"},
            {"path": "/label", "message": "must be at least 1 character long", "code": "min_length"},
            {"path": "/names", "message": "must contain a matching item", "code": "contains"},
            {"path": "/note", "message": "must not match the excluded schema", "code": "not"},
            {"path": "/price", "message": "is required when discount is present", "code": "dependent_required"},
            {"path": "/size", "message": "must match at least one of the allowed schemas", "code": "any_of"},
            {"path": "/step", "message": "must match exactly one of the allowed schemas", "code": "one_of"},
            {"path": "/tags", "message": "must have at least 1 item", "code": "min_items"},
        ],
    )
    # A field that fails two ways is named once in the detail.
    assert problem["detail"] == (
        "the rules record does not match its schema (/, /code, /label, /names, /note, /price, /size, /step, /tags)"
    )
    assert "True" not in response.text
    assert "None" not in response.text
    assert "'" not in response.text
