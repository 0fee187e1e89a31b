"""Writes, bodies, status codes and ids (json-server.md §5-§6, docs/compat.md "Writes and bodies")."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

JSON_HEADERS = {"Content-Type": "application/json"}

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:3000"
GENERATED_V1_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


# -- POST ------------------------------------------------------------------------------------


async def test_post_is_201_with_absolute_location(client: httpx.AsyncClient) -> None:
    created = await client.post("/posts", json={"title": "new", "views": 0})
    assert created.status_code == 201
    assert created.json() == {"title": "new", "views": 0, "id": 4}
    assert created.headers["location"] == f"{ORIGIN}/posts/4"
    assert (await client.get(created.headers["location"])).json() == created.json()


async def test_post_location_includes_base(db: dict[str, Any]) -> None:
    async with serve(db, base="/api/v1") as client:
        created = await client.post("/api/v1/posts", json={"title": "new"})
        assert created.status_code == 201
        assert created.headers["location"] == f"{ORIGIN}/api/v1/posts/4"
        assert (await client.get(created.headers["location"])).status_code == 200


async def test_post_location_of_a_string_id(client: httpx.AsyncClient) -> None:
    created = await client.post("/posts", json={"id": "hello-world", "title": "x"})
    assert created.status_code == 201
    assert created.headers["location"] == f"{ORIGIN}/posts/hello-world"


# -- PUT / PATCH -------------------------------------------------------------------------------


async def test_put_replaces_the_whole_record(client: httpx.AsyncClient) -> None:
    response = await client.put("/posts/1", json={"title": "only this"})
    assert response.status_code == 200
    assert response.json() == {"title": "only this", "id": 1}
    assert (await client.get("/posts/1")).json() == {"title": "only this", "id": 1}


async def test_patch_is_a_shallow_merge(client: httpx.AsyncClient) -> None:
    response = await client.patch("/posts/1", json={"views": 101, "meta": {"draft": True}, "extra": None})
    assert response.status_code == 200
    expected = {
        "id": 1,
        "title": "json-server",
        "author": "typicode",
        "views": 101,
        "userId": 1,
        "meta": {"draft": True},  # nested objects are replaced, not merged
        "extra": None,
    }
    assert response.json() == expected
    assert (await client.get("/posts/1")).json() == expected


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("body_id", [42, "1", "zz", True, {"a": 1}, [1], None, ""])
async def test_a_body_id_never_changes_the_id(client: httpx.AsyncClient, method: str, body_id: object) -> None:
    response = await client.request(method, "/posts/1", json={"id": body_id, "title": "t"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 1
    assert (await client.get("/posts/1")).json()["title"] == "t"
    if body_id == 42:
        assert (await client.get("/posts/42")).status_code == 404
    assert len((await client.get("/posts")).json()) == 3


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_unknown_id_is_404(client: httpx.AsyncClient, method: str) -> None:
    body = None if method == "DELETE" else {"title": "t"}
    response = await client.request(method, "/posts/999", json=body)
    assert_problem(response, 404, "not_found")
    assert (await client.get("/posts/999")).status_code == 404
    assert len((await client.get("/posts")).json()) == 3


@pytest.mark.parametrize(("method", "path"), [("PUT", "/posts"), ("PATCH", "/posts"), ("DELETE", "/posts")])
async def test_writes_on_the_collection_url_are_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"a": 1} if method != "DELETE" else None)
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
    assert len((await client.get("/posts")).json()) == 3


# -- DELETE --------------------------------------------------------------------------------------


async def test_delete_answers_an_empty_object_in_017(client: httpx.AsyncClient) -> None:
    response = await client.delete("/posts/3")
    assert response.status_code == 200
    assert response.json() == {}
    assert (await client.get("/posts/3")).status_code == 404


async def test_delete_answers_the_deleted_record_in_compat_1(client_v1: httpx.AsyncClient) -> None:
    before = (await client_v1.get("/posts/3")).json()
    response = await client_v1.delete("/posts/3")
    assert response.status_code == 200
    assert response.json() == before
    assert (await client_v1.get("/posts/3")).status_code == 404


# -- ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [10, -3, 0, "abc", "a b", "ünïcode", "x" * 200])
async def test_a_free_client_id_is_kept(client: httpx.AsyncClient, client_id: object) -> None:
    created = await client.post("/posts", json={"id": client_id, "title": "mine"})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == client_id
    fetched = await client.get(f"/posts/{client_id}")
    assert fetched.status_code == 200
    assert fetched.json() == {"id": client_id, "title": "mine"}


@pytest.mark.parametrize("taken", [1, "1", 3, "3"])
async def test_a_taken_client_id_is_409_and_nothing_changes(client: httpx.AsyncClient, taken: object) -> None:
    before = (await client.get("/posts")).json()
    response = await client.post("/posts", json={"id": taken, "title": "dup"})
    assert_problem(response, 409, "conflict")
    assert (await client.get("/posts")).json() == before


async def test_nested_post_with_a_taken_id_is_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts/1/comments", json={"id": 1, "body": "dup"})
    assert_problem(response, 409, "conflict")
    assert len((await client.get("/comments")).json()) == 3


async def test_integer_ids_auto_increment_from_the_maximum(client: httpx.AsyncClient) -> None:
    assert (await client.post("/posts", json={"id": 10})).status_code == 201
    assert (await client.post("/posts", json={"title": "next"})).json()["id"] == 11
    assert (await client.post("/posts", json={"id": None, "title": "null id"})).json()["id"] == 12


async def test_a_deleted_maximum_id_is_never_reused(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/posts/3")).status_code == 200
    created = await client.post("/posts", json={"title": "after delete"})
    assert created.json()["id"] == 4
    assert (await client.delete("/posts/4")).status_code == 200
    assert (await client.delete("/posts/2")).status_code == 200
    assert (await client.post("/posts", json={"title": "again"})).json()["id"] == 5


async def test_an_empty_collection_starts_at_1() -> None:
    async with serve({"posts": []}) as client:
        assert (await client.post("/posts", json={"title": "first"})).json() == {"title": "first", "id": 1}


async def test_auto_increment_never_leaves_the_64_bit_range(client: httpx.AsyncClient) -> None:
    top = 2**63 - 1
    assert (await client.post("/posts", json={"id": top})).status_code == 201
    response = await client.post("/posts", json={"title": "past the top"})
    assert response.status_code < 500, response.text
    if response.status_code == 201:
        new_id = response.json()["id"]
        assert not isinstance(new_id, int) or -top <= new_id <= top, f"generated id {new_id} is not a 64-bit integer"


async def test_string_collections_get_generated_string_ids() -> None:
    async with serve({"tags": [{"id": "abc", "name": "x"}]}) as client:
        ids = set()
        for name in ("y", "z"):
            created = await client.post("/tags", json={"name": name})
            assert created.status_code == 201
            new_id = created.json()["id"]
            assert isinstance(new_id, str)
            assert new_id
            assert "/" not in new_id
            assert created.headers["location"] == f"{ORIGIN}/tags/{new_id}"
            assert (await client.get(f"/tags/{new_id}")).json() == {"name": name, "id": new_id}
            ids.add(new_id)
        assert len(ids) == 2


@pytest.mark.parametrize("client_id", [None, 50, 1, "1", "mine"])
async def test_compat_1_ignores_client_ids_and_generates_11_characters(
    client_v1: httpx.AsyncClient, client_id: object
) -> None:
    body = {"title": "v1"} if client_id is None else {"id": client_id, "title": "v1"}
    created = await client_v1.post("/posts", json=body)
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert isinstance(new_id, str)
    assert GENERATED_V1_ID.match(new_id), new_id
    assert created.headers["location"] == f"{ORIGIN}/posts/{new_id}"
    assert (await client_v1.get(f"/posts/{new_id}")).json() == {"title": "v1", "id": new_id}
    assert (await client_v1.get("/posts/1")).json()["title"] == "json-server"


async def test_compat_1_generated_ids_are_unique(client_v1: httpx.AsyncClient) -> None:
    ids = {(await client_v1.post("/posts", json={"n": n})).json()["id"] for n in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param({"a": 1}, id="object"),
        pytest.param([1], id="array"),
        pytest.param([], id="empty-array"),
        pytest.param("", id="empty-string"),
        pytest.param("a/b", id="slash"),
        pytest.param("/", id="only-slash"),
        pytest.param(" a", id="leading-space"),
        pytest.param("a ", id="trailing-space"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\tb", id="tab"),
        pytest.param("x" * 201, id="201-chars"),
        pytest.param("x" * 10240, id="10KB"),
        pytest.param(1.5, id="float"),
        pytest.param(2**64, id="beyond-64-bits"),
    ],
)
async def test_invalid_ids_are_400_never_500(client: httpx.AsyncClient, bad_id: object) -> None:
    before = (await client.get("/posts")).json()
    response = await client.post("/posts", json={"id": bad_id, "title": "bad"})
    assert_problem(response, 400)
    assert (await client.get("/posts")).json() == before


async def test_an_integral_float_id_is_that_integer(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", content=b'{"id": 70.0, "title": "x"}', headers=JSON_HEADERS)
    assert response.status_code == 201
    assert (await client.get("/posts/70")).json()["id"] == 70


BEYOND_64_BITS = ["12345678901234567891", "-9223372036854775809", "9223372036854775808", "1" + "0" * 400]
WRITES = [
    ("POST", "/posts"),
    ("PUT", "/posts/1"),
    ("PATCH", "/posts/1"),
    ("POST", "/posts/1/comments"),
    ("PUT", "/profile"),
    ("PATCH", "/profile"),
]


@pytest.mark.parametrize("literal", BEYOND_64_BITS)
@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_integers_beyond_64_bits_are_refused_with_what_to_do(
    client: httpx.AsyncClient, method: str, path: str, literal: str
) -> None:
    """Not stored as the nearest double: that changes the client's digits without a word (issue 13)."""
    before = (await client.get("/db")).json()
    body = f'{{"title": "x", "meta": {{"big": [1, {literal}]}}}}'.encode()
    response = await client.request(method, path, content=body, headers=JSON_HEADERS)
    problem = assert_problem(response, 400, "invalid_body")
    assert "64 bits" in problem["detail"]
    assert "send it as a string" in problem["detail"]
    assert problem["errors"] == [
        {"path": "/meta/big/1", "message": "integer out of the 64-bit range", "code": "out_of_range"}
    ]
    assert (await client.get("/db")).json() == before


async def test_the_64_bit_bounds_and_doubles_are_stored_as_sent(client: httpx.AsyncClient) -> None:
    body = b'{"low": -9223372036854775808, "high": 9223372036854775807, "e": 1e20, "fraction": 12345678901234567891.0}'
    created = await client.post("/posts", content=body, headers=JSON_HEADERS)
    assert created.status_code == 201, created.text
    stored = (await client.get(f"/posts/{created.json()['id']}")).json()
    assert stored["low"] == -(2**63)
    assert stored["high"] == 2**63 - 1
    # A literal with a fraction or an exponent is a double, as written (PostgreSQL's JSONB gives back its
    # shortest decimal in plain notation, 12345678901234567000: the same double).
    assert float(stored["e"]) == 1e20
    assert float(stored["fraction"]) == 12345678901234567891.0


async def test_invalid_id_in_a_nested_post_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts/1/comments", json={"id": "a/b", "body": "x"})
    assert_problem(response, 400, "invalid_id")
    assert len((await client.get("/comments")).json()) == 3


# -- --id _id ----------------------------------------------------------------------------------------


ITEMS: dict[str, Any] = {
    "items": [{"_id": 1, "name": "a"}, {"_id": 2, "name": "b"}],
    "notes": [{"_id": 1, "text": "n", "itemId": 1}],
}


async def test_custom_id_field_reads_writes_and_deletes() -> None:
    async with serve(ITEMS, id_field="_id") as client:
        assert (await client.get("/items/2")).json() == {"_id": 2, "name": "b"}
        created = await client.post("/items", json={"name": "c"})
        assert created.status_code == 201
        assert created.json() == {"name": "c", "_id": 3}
        assert created.headers["location"] == f"{ORIGIN}/items/3"
        assert_problem(await client.post("/items", json={"_id": 1, "name": "dup"}), 409, "conflict")
        assert_problem(await client.post("/items", json={"_id": True}), 400)
        replaced = await client.put("/items/1", json={"_id": 99, "name": "z"})
        assert replaced.json() == {"name": "z", "_id": 1}
        patched = await client.patch("/items/1", json={"_id": 98, "more": 1})
        assert patched.json() == {"name": "z", "_id": 1, "more": 1}
        # `id` is an ordinary field when the id field is `_id`
        assert (await client.post("/items", json={"id": 1, "name": "d"})).json() == {"id": 1, "name": "d", "_id": 4}
        assert (await client.delete("/items/2")).status_code == 200
        assert (await client.get("/items/2")).status_code == 404


async def test_custom_id_field_joins() -> None:
    async with serve(ITEMS, id_field="_id") as client:
        embedded = (await client.get("/items/1?_embed=notes")).json()
        assert embedded["notes"] == [{"_id": 1, "text": "n", "itemId": 1}]
        expanded = (await client.get("/notes/1?_expand=item")).json()
        assert expanded["item"] == {"_id": 1, "name": "a"}


async def test_custom_id_field_can_be_filtered() -> None:
    async with serve(ITEMS, id_field="_id") as client:
        response = await client.get("/items?_id=2")
        assert response.status_code == 200, response.text
        assert response.json() == [{"_id": 2, "name": "b"}]


# -- singular resources ------------------------------------------------------------------------------


async def test_singular_put_replaces(client: httpx.AsyncClient) -> None:
    response = await client.put("/profile", json={"name": "new", "age": 3})
    assert response.status_code == 200
    assert response.json() == {"name": "new", "age": 3}
    assert (await client.get("/profile")).json() == {"name": "new", "age": 3}


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_singular_patch_merges(db: dict[str, Any], compat: str) -> None:
    async with serve(db, compat=compat) as client:
        response = await client.patch("/profile", json={"age": 3})
        assert response.status_code == 200
        assert response.json() == {"name": "typicode", "age": 3}
        assert (await client.get("/profile")).json() == {"name": "typicode", "age": 3}


async def test_singular_post_replaces_in_017(client: httpx.AsyncClient) -> None:
    response = await client.post("/profile", json={"name": "posted"})
    assert response.status_code == 201
    assert response.json() == {"name": "posted"}
    assert response.headers["location"] == f"{ORIGIN}/profile"
    assert (await client.get("/profile")).json() == {"name": "posted"}


async def test_singular_post_is_405_in_compat_1(client_v1: httpx.AsyncClient) -> None:
    response = await client_v1.post("/profile", json={"name": "posted"})
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" not in response.headers["allow"]
    assert "PUT" in response.headers["allow"]
    assert (await client_v1.get("/profile")).json() == {"name": "typicode"}


async def test_singular_delete_is_405(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/profile"), 405, "method_not_allowed")
    assert (await client.get("/profile")).json() == {"name": "typicode"}


async def test_singular_has_no_items(client: httpx.AsyncClient) -> None:
    assert_problem(await client.put("/profile/1", json={"a": 1}), 404, "not_found")
