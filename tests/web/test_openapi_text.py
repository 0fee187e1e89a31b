"""What ReDoc and Swagger UI show of ``/openapi.json``: summaries in words, real bounds, examples from the data.

Issue 13, point 14: summaries read "Get a post", not "One posts record"; ``_page`` is not shown as
``[1 .. 1000000000000000000]``; response and request samples are records of the data, not ``[ ]``.
Every example in the document must be valid for the schema it illustrates (schemathesis sends them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from jsonserve.auth.principal import Principal
from jsonserve.openapi import build_document
from jsonserve.query.model import Condition, Node, Op
from jsonserve.realtime.hub import Hub
from jsonserve.service import Service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "json-server", "views": 100, "userId": 1},
        {"id": 2, "title": "jsonserve", "views": 250, "userId": 1},
        {"id": 3, "title": "third", "views": 7, "userId": 2},
    ],
    "comments": [{"id": 1, "body": "some comment", "postId": 1}],
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "albums": [{"id": 1, "title": "a", "userId": 1}],
    "empty": [],
    "profile": {"name": "typicode"},
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


async def _document(**options: Any) -> dict[str, Any]:
    async with serve(json.loads(json.dumps(DATA)), **options) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _summaries(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["summary"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


# -- summaries -------------------------------------------------------------------------------------------------


async def test_summaries_name_one_record_in_the_singular() -> None:
    summaries = _summaries(await _document())
    expected = {
        ("GET", "/posts"): "List posts",
        ("POST", "/posts"): "Create a post",
        ("GET", "/posts/{id}"): "Get a post",
        ("PUT", "/posts/{id}"): "Replace a post",
        ("PATCH", "/posts/{id}"): "Update a post",
        ("DELETE", "/posts/{id}"): "Delete a post",
        ("GET", "/posts/{id}/comments"): "List the comments of a post",
        ("POST", "/posts/{id}/comments"): "Create a comment for a post",
        ("GET", "/users/{id}"): "Get a user",  # "a user", not "an user"
        ("POST", "/albums"): "Create an album",
        ("GET", "/users/{id}/albums"): "List the albums of a user",
        ("GET", "/profile"): "Get the profile",
        ("PATCH", "/profile"): "Update the profile",
        ("GET", "/db"): "Get the whole database",
    }
    assert {key: summaries[key] for key in expected} == expected


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_no_summary_or_id_description_uses_a_plural_as_a_noun(compat: str) -> None:
    document = await _document(compat=compat)
    for (method, path), summary in _summaries(document).items():
        for name in ("posts", "comments", "users", "albums"):
            assert f"{name} record" not in summary, (method, path, summary)
        assert not summary.startswith("One "), (method, path, summary)
    for path, item in document["paths"].items():
        for parameter in item.get("parameters", []):
            assert " record" not in parameter["description"].split("(")[0], (path, parameter["description"])


# -- bounds and examples of the query parameters -------------------------------------------------------------


def _parameters(document: dict[str, Any], path: str = "/posts") -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in document["paths"][path]["get"]["parameters"] if "name" in p}


async def test_paging_parameters_show_real_bounds_and_an_example() -> None:
    parameters = _parameters(await _document(max_page_size=50))
    for name in ("_page", "_per_page", "_limit", "_start", "_end"):
        schema = parameters[name]["schema"]
        assert schema["type"] == "integer"
        # Any larger value is read as the largest one (tests/api/test_pages.py): no maximum to show.
        assert "maximum" not in schema, f"{name}: {schema}"
        assert Draft202012Validator(schema).is_valid(schema["examples"][0]), name
        assert "example" not in parameters[name], "Swagger UI would pre-fill Try it out with it"
    for name in ("_per_page", "_limit"):
        assert "At most 50 records" in parameters[name]["description"], parameters[name]["description"]


async def test_the_filter_example_is_taken_from_the_data() -> None:
    parameters = _parameters(await _document())
    assert "examples" not in parameters["filter"]["schema"]  # Swagger UI would sample Try it out from it
    assert "(e.g. `id=1`)" in parameters["filter"]["description"]
    assert parameters["_sort"]["schema"]["examples"][0] in ("-id", "-views", "title", "id")


# -- examples of records -------------------------------------------------------------------------------------------


def _example(operation: dict[str, Any], status: str | None = None) -> Any:
    holder = operation["requestBody"] if status is None else operation["responses"][status]
    return holder["content"]["application/json"].get("example")


async def test_samples_are_records_of_the_data() -> None:
    document = await _document()
    posts, item = document["paths"]["/posts"], document["paths"]["/posts/{id}"]
    first, second = DATA["posts"][0], DATA["posts"][1]
    assert _example(posts["get"], "200") == [first, second]  # not ReDoc's "[ ]"
    assert _example(item["get"], "200") == first
    assert _example(posts["post"], "201") == first
    body = {key: value for key, value in first.items() if key != "id"}  # the server assigns ids
    assert _example(posts["post"]) == body
    assert _example(item["put"]) == body
    patch = _example(item["patch"])
    assert patch and set(patch) < set(body) and all(body[key] == value for key, value in patch.items())
    assert _example(document["paths"]["/posts/{id}/comments"]["get"], "200") == DATA["comments"][:2]
    assert _example(document["paths"]["/profile"]["get"], "200") == DATA["profile"]
    assert _example(document["paths"]["/empty"]["get"], "200") is None  # no records: no example


async def test_timestamps_are_no_part_of_a_body_example() -> None:
    async with serve({"posts": [{"id": 1, "title": "a"}]}, timestamps=True) as http:
        assert (await http.post("/posts", json={"title": "b"})).status_code == 201
        document = (await http.get("/openapi.json")).json()
    assert set(_example(document["paths"]["/posts"]["post"])) == {"title"}


async def test_examples_show_only_what_an_anonymous_caller_may_read() -> None:
    def no_first_post(principal: Principal, collection: str) -> Node | None:
        return Condition(("id",), Op.NE, "1") if collection == "posts" else None

    storage = MemoryStorage(json.loads(json.dumps(DATA)))
    async with Service(storage, Hub(), read_rule=no_first_post) as service:
        document = await build_document(service.catalogue, "/")
    listed = _example(document["paths"]["/posts"]["get"], "200")
    assert [record["id"] for record in listed] == [2, 3]


async def test_a_large_record_is_no_example() -> None:
    data: dict[str, Any] = {"notes": [{"id": 1, "text": "x" * 100_000}]}
    async with serve(data) as http:
        document = (await http.get("/openapi.json")).json()
    assert _example(document["paths"]["/notes/{id}"]["get"], "200") is None


# -- every example is valid where it stands ----------------------------------------------------------------------

USERS_SCHEMA = {
    "type": "object",
    "required": ["email"],
    "properties": {"email": {"type": "string", "format": "email"}, "name": {"type": "string"}},
}


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example of a parameter or a body in ``document``."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                assert "example" not in parameter, f"{method} {path}: Swagger UI pre-fills Try it out with it"
                for example in parameter.get("schema", {}).get("examples", []):
                    yield f"{method} {path} {parameter['name']}", parameter.get("schema", {}), example
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(status, response) for status, response in operation["responses"].items()]
            for where, holder in bodies:
                for media in holder.get("content", {}).values():
                    if "example" in media:
                        yield f"{method} {path} {where}", media["schema"], media["example"]


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_every_example_is_valid_for_its_schema(tmp_path: Path, compat: str) -> None:
    schema_file = tmp_path / "schemas.json"
    schema_file.write_text(json.dumps({"users": USERS_SCHEMA}))
    data = json.loads(json.dumps(DATA))
    data["users"][0]["email"] = "ada@example.com"  # the first user keeps the declared schema; Linus does not
    async with serve(data, compat=compat, schema_file=schema_file, timestamps=True) as http:
        document = (await http.get("/openapi.json")).json()
    checked = 0
    for where, schema, example in _examples(document):
        validator = Draft202012Validator({**schema, "components": document["components"]})
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], f"{where}: {example!r}: {errors}"
        checked += 1
    assert checked > 50
    users = document["paths"]["/users"]
    assert _example(users["post"]) == {"email": "ada@example.com", "name": "Ada"}


async def test_a_body_example_that_breaks_the_declared_schema_is_left_out(tmp_path: Path) -> None:
    schema_file = tmp_path / "schemas.json"
    schema_file.write_text(json.dumps({"users": USERS_SCHEMA}))
    async with serve(json.loads(json.dumps(DATA)), schema_file=schema_file) as http:  # no user has an email
        document = (await http.get("/openapi.json")).json()
    users = document["paths"]["/users"]
    assert _example(users["post"]) is None
    assert _example(users["get"], "200") is None  # the record schema requires the email too
    assert _example(document["paths"]["/posts"]["post"]) is not None


async def test_the_server_accepts_the_request_examples() -> None:
    # The request examples are what schemathesis sends first: each must be accepted.
    async with serve(json.loads(json.dumps(DATA))) as http:
        document = (await http.get("/openapi.json")).json()
        posts = document["paths"]["/posts"]
        created = await http.post("/posts", json=_example(posts["post"]))
        assert created.status_code == 201
        patched = await http.patch("/posts/1", json=_example(document["paths"]["/posts/{id}"]["patch"]))
        assert patched.status_code == 200
