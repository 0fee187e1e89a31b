"""Routes (json-server.md §2) in both dialects, with our documented differences (docs/compat.md).

Plural, singular and nested routes, ``/db``, 404 problem+json for unknown names and ids, 405 with an
``Allow`` header where the resource exists but the method does not, ``HEAD`` and ``OPTIONS``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
PLURAL_ALLOW = {"GET", "HEAD", "POST", "OPTIONS"}
ITEM_ALLOW = {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}
SINGULAR_ALLOW_017 = {"GET", "HEAD", "PUT", "PATCH", "POST", "OPTIONS"}
SINGULAR_ALLOW_1 = {"GET", "HEAD", "PUT", "PATCH", "OPTIONS"}
DB_ALLOW = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(params=["0.17", "1"])
def compat(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def either(client: httpx.AsyncClient, client_v1: httpx.AsyncClient, compat: str) -> httpx.AsyncClient:
    """The sample database served in each compat line in turn."""
    return client if compat == "0.17" else client_v1


def allow(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert set(body) >= {"type", "title", "status", "detail", "code"}
    return body


# -- plural --------------------------------------------------------------------------------------


async def test_list(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/posts")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == db["posts"]
    assert "x-total-count" not in response.headers
    assert "link" not in response.headers


async def test_item(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/posts/2")
    assert response.status_code == 200
    assert response.json() == db["posts"][1]


async def test_string_id_item() -> None:
    async with serve({"items": [{"id": "abc", "v": 1}, {"id": "1", "v": 2}]}) as http:
        assert (await http.get("/items/abc")).json() == {"id": "abc", "v": 1}
        assert (await http.get("/items/1")).json() == {"id": "1", "v": 2}


async def test_create(either: httpx.AsyncClient) -> None:
    response = await either.post("/posts", json={"title": "new"})
    assert response.status_code == 201
    created = response.json()
    assert created["title"] == "new"
    assert response.headers["location"] == f"http://127.0.0.1:3000/posts/{created['id']}"
    assert (await either.get(f"/posts/{created['id']}")).json() == created


async def test_put_replaces_and_keeps_the_url_id(either: httpx.AsyncClient) -> None:
    response = await either.put("/posts/1", json={"id": 99, "title": "replaced"})
    assert response.status_code == 200
    assert response.json() == {"id": 1, "title": "replaced"}
    assert (await either.get("/posts/1")).json() == {"id": 1, "title": "replaced"}
    assert (await either.get("/posts/99")).status_code == 404


async def test_patch_is_a_shallow_merge(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.patch("/posts/1", json={"id": 99, "views": 1, "meta": {"x": 1}})
    assert response.status_code == 200
    assert response.json() == {**db["posts"][0], "views": 1, "meta": {"x": 1}}


async def test_delete_017_answers_empty_object(client: httpx.AsyncClient) -> None:
    response = await client.delete("/posts/3")
    assert (response.status_code, response.json()) == (200, {})
    assert (await client.get("/posts/3")).status_code == 404


async def test_delete_v1_answers_the_deleted_record(client_v1: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client_v1.delete("/posts/3")
    assert (response.status_code, response.json()) == (200, db["posts"][2])
    assert (await client_v1.get("/posts/3")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/posts/99"),
        ("GET", "/posts/abc"),
        ("GET", "/posts/1.0"),
        ("HEAD", "/posts/99"),
        ("PUT", "/posts/99"),
        ("PATCH", "/posts/99"),
        ("DELETE", "/posts/99"),
        ("GET", "/nosuch"),
        ("GET", "/nosuch/1"),
        ("POST", "/nosuch"),
        ("PUT", "/nosuch/1"),
        ("DELETE", "/nosuch/1"),
        ("GET", "/nosuch/1/comments"),
        ("GET", "/profile/1"),
        ("DELETE", "/profile/1"),
        ("GET", "/posts/99/comments"),
        ("POST", "/posts/99/comments"),
        ("GET", "/posts/1/nosuch"),
        ("GET", "/posts/1/profile"),
        ("GET", "/profile/1/comments"),
        ("GET", "/posts/1/comments/1"),
    ],
)
async def test_not_found(either: httpx.AsyncClient, method: str, path: str) -> None:
    response = await either.request(method, path, json={"title": "x"})
    if method == "HEAD":
        assert response.status_code == 404
        return
    assert_problem(response, 404, "not_found")


# -- singular ------------------------------------------------------------------------------------


async def test_singular_get(either: httpx.AsyncClient) -> None:
    response = await either.get("/profile")
    assert (response.status_code, response.json()) == (200, {"name": "typicode"})


async def test_singular_put_replaces(either: httpx.AsyncClient) -> None:
    response = await either.put("/profile", json={"email": "a@b.c"})
    assert (response.status_code, response.json()) == (200, {"email": "a@b.c"})
    assert (await either.get("/profile")).json() == {"email": "a@b.c"}


async def test_singular_patch_merges(either: httpx.AsyncClient) -> None:
    response = await either.patch("/profile", json={"email": "a@b.c"})
    assert (response.status_code, response.json()) == (200, {"name": "typicode", "email": "a@b.c"})
    assert (await either.get("/profile")).json() == {"name": "typicode", "email": "a@b.c"}


async def test_singular_post_017_replaces_with_201_and_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/profile", json={"name": "new"})
    assert (response.status_code, response.json()) == (201, {"name": "new"})
    assert response.headers["location"] == "http://127.0.0.1:3000/profile"
    assert (await client.get("/profile")).json() == {"name": "new"}


async def test_singular_post_v1_is_405(client_v1: httpx.AsyncClient) -> None:
    response = await client_v1.post("/profile", json={"name": "new"})
    assert_problem(response, 405, "method_not_allowed")
    assert allow(response) == SINGULAR_ALLOW_1
    assert (await client_v1.get("/profile")).json() == {"name": "typicode"}


# -- nested --------------------------------------------------------------------------------------


async def test_nested_get(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/posts/1/comments")
    assert response.status_code == 200
    assert response.json() == db["comments"][:2]
    assert (await either.get("/posts/3/comments")).json() == []


async def test_nested_get_takes_any_query(either: httpx.AsyncClient) -> None:
    response = await either.get("/posts/1/comments", params={"_sort": "id", "_order": "desc"})
    assert [c["id"] for c in response.json()] == [2, 1]
    response = await either.get("/posts/1/comments", params={"id": "2"})
    assert [c["id"] for c in response.json()] == [2]
    response = await either.get("/posts/1/comments", params={"q": "another"})
    assert [c["id"] for c in response.json()] == [2]
    response = await either.get("/posts/1/comments", params={"_limit": "1"})
    assert ([c["id"] for c in response.json()], response.headers["x-total-count"]) == ([1], "2")


async def test_nested_get_with_string_ids() -> None:
    data: dict[str, Any] = {
        "posts": [{"id": "a1"}],
        "comments": [{"id": "c", "postId": "a1"}, {"id": "d", "postId": "b"}],
    }
    async with serve(data) as http:
        assert (await http.get("/posts/a1/comments")).json() == [{"id": "c", "postId": "a1"}]


async def test_nested_post_sets_the_typed_parent_id(either: httpx.AsyncClient) -> None:
    response = await either.post("/posts/2/comments", json={"body": "hi"})
    assert response.status_code == 201
    created = response.json()
    assert created["postId"] == 2  # the parent's id with its own type, not "2" (0.17)
    assert response.headers["location"] == f"http://127.0.0.1:3000/comments/{created['id']}"
    assert created in (await either.get("/posts/2/comments")).json()


# -- /db -----------------------------------------------------------------------------------------


async def test_db_dumps_everything(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/db")
    assert (response.status_code, response.json()) == (200, db)


async def test_db_follows_writes(client: httpx.AsyncClient) -> None:
    await client.delete("/comments/3")
    assert [c["id"] for c in (await client.get("/db")).json()["comments"]] == [1, 2]


async def test_a_collection_named_db_takes_precedence(compat: str) -> None:
    async with serve({"db": [{"id": 1}, {"id": 2}], "posts": []}, compat=compat) as http:
        assert (await http.get("/db")).json() == [{"id": 1}, {"id": 2}]
        assert (await http.get("/db", params={"id": "2"})).json() == [{"id": 2}]
        assert (await http.get("/db/1")).json() == {"id": 1}
        assert (await http.post("/db", json={"id": 3})).status_code == 201


# -- 405 -----------------------------------------------------------------------------------------

NOT_ALLOWED: list[tuple[str, str, str, set[str]]] = [
    ("0.17", "PUT", "/posts", PLURAL_ALLOW),
    ("0.17", "PATCH", "/posts", PLURAL_ALLOW),
    ("0.17", "DELETE", "/posts", PLURAL_ALLOW),
    ("1", "PUT", "/posts", PLURAL_ALLOW),
    ("1", "DELETE", "/posts", PLURAL_ALLOW),
    ("0.17", "POST", "/posts/1", ITEM_ALLOW),
    ("1", "POST", "/posts/1", ITEM_ALLOW),
    ("0.17", "DELETE", "/profile", SINGULAR_ALLOW_017),
    ("1", "DELETE", "/profile", SINGULAR_ALLOW_1),
    ("1", "POST", "/profile", SINGULAR_ALLOW_1),
    ("0.17", "PUT", "/posts/1/comments", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("0.17", "DELETE", "/posts/1/comments", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("0.17", "POST", "/db", DB_ALLOW),
    ("0.17", "PUT", "/db", DB_ALLOW),
    ("1", "DELETE", "/db", DB_ALLOW),
]


@pytest.mark.parametrize(("line", "method", "path", "allowed"), NOT_ALLOWED)
async def test_method_not_allowed(
    client: httpx.AsyncClient,
    client_v1: httpx.AsyncClient,
    db: dict[str, Any],
    line: str,
    method: str,
    path: str,
    allowed: set[str],
) -> None:
    http = client if line == "0.17" else client_v1
    response = await http.request(method, path, json={"id": 7, "title": "x"})
    body = assert_problem(response, 405, "method_not_allowed")
    assert allow(response) == allowed
    assert method in body["detail"]
    assert (await http.get("/db")).json() == db  # nothing changed


async def test_a_write_to_a_missing_record_is_404_not_405(either: httpx.AsyncClient) -> None:
    assert_problem(await either.put("/posts/99", json={"a": 1}), 404, "not_found")


# -- HEAD and OPTIONS ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/posts", "/posts/1", "/profile", "/posts/1/comments", "/db", "/posts?_page=1"])
async def test_head_answers_like_get_without_a_body(either: httpx.AsyncClient, path: str) -> None:
    get, head = await either.get(path), await either.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("content-type", "etag", "x-total-count", "link", "content-length"):
        assert head.headers.get(name) == get.headers.get(name)


@pytest.mark.parametrize(
    ("line", "path", "allowed"),
    [
        ("0.17", "/posts", PLURAL_ALLOW),
        ("1", "/posts", PLURAL_ALLOW),
        ("0.17", "/posts/1", ITEM_ALLOW),
        ("0.17", "/posts/99", ITEM_ALLOW),
        ("0.17", "/profile", SINGULAR_ALLOW_017),
        ("1", "/profile", SINGULAR_ALLOW_1),
        ("0.17", "/posts/1/comments", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("0.17", "/db", DB_ALLOW),
    ],
)
async def test_options(
    client: httpx.AsyncClient, client_v1: httpx.AsyncClient, line: str, path: str, allowed: set[str]
) -> None:
    response = await (client if line == "0.17" else client_v1).options(path)
    assert response.status_code == 204
    assert response.content == b""
    assert allow(response) == allowed


async def test_cors_preflight_is_204(either: httpx.AsyncClient) -> None:
    # json-server.md §5: a preflight answers 204 in both lines.
    headers = {"Origin": "http://app.example", "Access-Control-Request-Method": "PATCH"}
    response = await either.options("/posts/1", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "PATCH" in response.headers["access-control-allow-methods"]
