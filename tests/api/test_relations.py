"""Relationships: ``_embed``/``_expand``, nested routes and what DELETE does to children (json-server.md §7)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

# users 1 -> posts 1, 2 -> comments; post 3 belongs to user 2. Comment 4 points at post 1 with a
# string key, comment 5 was an orphan before anything was deleted, comment 6 has a null key.
RELATED: dict[str, Any] = {
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "posts": [
        {"id": 1, "title": "one", "userId": 1},
        {"id": 2, "title": "two", "userId": 1},
        {"id": 3, "title": "three", "userId": 2},
    ],
    "comments": [
        {"id": 1, "body": "c1", "postId": 1},
        {"id": 2, "body": "c2", "postId": 2},
        {"id": 3, "body": "c3", "postId": 3},
        {"id": 4, "body": "string key", "postId": "1"},
        {"id": 5, "body": "old orphan", "postId": 99},
        {"id": 6, "body": "null key", "postId": None},
    ],
    "likes": [{"id": 1, "commentId": 1}, {"id": 2, "commentId": 3}],
    "profile": {"name": "typicode"},
}


@pytest.fixture
def related() -> dict[str, Any]:
    return copy.deepcopy(RELATED)


async def ids(client: httpx.AsyncClient, path: str) -> list[object]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()]


# -- _embed / _expand --------------------------------------------------------------------------------


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_embed_children_compares_keys_loosely(related: dict[str, Any], compat: str) -> None:
    async with serve(related, compat=compat) as client:
        post = (await client.get("/posts/1?_embed=comments")).json()
        assert [c["id"] for c in post["comments"]] == [1, 4]  # 1 and "1" both point at post 1
        assert post["title"] == "one"


async def test_embed_on_a_list_adds_each_records_children(client: httpx.AsyncClient) -> None:
    posts = (await client.get("/posts?_embed=comments")).json()
    assert {p["id"]: [c["id"] for c in p["comments"]] for p in posts} == {1: [1, 2], 2: [3], 3: []}


async def test_embed_does_not_change_stored_records(client: httpx.AsyncClient) -> None:
    await client.get("/posts?_embed=comments")
    assert "comments" not in (await client.get("/posts/1")).json()


async def test_embed_string_parent_ids_find_integer_keys() -> None:
    data: dict[str, Any] = {"posts": [{"id": "1", "title": "s"}], "comments": [{"id": 1, "postId": 1}]}
    async with serve(data, compat="1") as client:
        assert (await client.get("/posts/1?_embed=comments")).json()["comments"] == [{"id": 1, "postId": 1}]


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_expand_parent_compares_keys_loosely(related: dict[str, Any], compat: str) -> None:
    async with serve(related, compat=compat) as client:
        comment = (await client.get("/comments/4?_expand=post")).json()
        assert comment["post"] == {"id": 1, "title": "one", "userId": 1}
        assert comment["postId"] == "1"


async def test_expand_on_a_list_and_several_names(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        posts = (await client.get("/posts?_expand=user&_embed=comments")).json()
        assert [p["user"]["name"] for p in posts] == ["Ada", "Ada", "Linus"]
        assert [len(p["comments"]) for p in posts] == [2, 1, 1]


async def test_expand_of_a_null_or_dangling_key_leaves_the_parent_out(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        null_key = await client.get("/comments/6?_expand=post")
        assert null_key.status_code == 200
        assert null_key.json() == {"id": 6, "body": "null key", "postId": None}
        dangling = await client.get("/comments/5?_expand=post")
        assert dangling.status_code == 200
        assert "post" not in dangling.json()


@pytest.mark.parametrize("compat", ["0.17", "1"])
async def test_embed_of_a_singular_name_adds_the_parent(related: dict[str, Any], compat: str) -> None:
    async with serve(related, compat=compat) as client:
        comment = (await client.get("/comments/1?_embed=post")).json()
        assert comment["post"] == {"id": 1, "title": "one", "userId": 1}
        listed = (await client.get("/comments?_embed=post&id=2&id=4")).json()
        assert [c["post"]["id"] for c in listed] == [2, 1]


@pytest.mark.parametrize("compat", ["0.17", "1"])
@pytest.mark.parametrize("param", ["_embed=commentz", "_expand=usr", "_embed=profile", "_expand=comments_"])
async def test_unknown_relation_is_400_naming_valid_ones(related: dict[str, Any], compat: str, param: str) -> None:
    async with serve(related, compat=compat) as client:
        response = await client.get(f"/posts?{param}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "invalid_query"
        assert "comments" in problem["detail"]
        assert "user" in problem["detail"]
        assert (await client.get(f"/posts/1?{param}")).status_code == 400


# -- nested routes ------------------------------------------------------------------------------------


async def test_nested_get_lists_the_children(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        assert await ids(client, "/posts/1/comments") == [1, 4]
        assert await ids(client, "/posts/3/comments") == [3]
        assert await ids(client, "/users/2/posts") == [3]


async def test_nested_get_combines_with_other_filters(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        assert await ids(client, "/posts/1/comments?body=c1") == [1]
        assert await ids(client, "/posts/1/comments?_sort=id&_order=desc") == [4, 1]
        response = await client.get("/posts/1/comments?_limit=1")
        assert response.headers["x-total-count"] == "2"


async def test_nested_get_of_a_missing_parent_is_404(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        response = await client.get("/posts/99/comments")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


async def test_nested_post_stores_the_parents_id_with_its_type(related: dict[str, Any]) -> None:
    related["posts"].append({"id": "abc", "title": "string id"})
    async with serve(related) as client:
        created = await client.post("/posts/2/comments", json={"body": "nested"})
        assert created.status_code == 201
        assert created.json() == {"body": "nested", "postId": 2, "id": 7}
        assert created.headers["location"].endswith("/comments/7")
        # the parent named in the URL wins over a foreign key in the body
        overridden = await client.post("/posts/abc/comments", json={"body": "s", "postId": 3})
        assert overridden.json()["postId"] == "abc"
        assert [c["id"] for c in (await client.get("/posts/2?_embed=comments")).json()["comments"]] == [2, 7]


async def test_nested_post_under_a_missing_parent_is_404_and_stores_nothing(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        response = await client.post("/posts/99/comments", json={"body": "lost"})
        assert response.status_code == 404
        assert len((await client.get("/comments")).json()) == 6


async def test_nested_under_a_singular_or_unknown_child_is_404(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        assert (await client.get("/posts/1/nothing")).status_code == 404
        assert (await client.get("/posts/1/profile")).status_code == 404


# -- DELETE and children ---------------------------------------------------------------------------------


async def test_017_delete_cascades_recursively(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        response = await client.delete("/users/1")
        assert response.status_code == 200
        assert response.json() == {}
        assert await ids(client, "/users") == [2]
        assert await ids(client, "/posts") == [3]  # posts of user 1 ...
        assert await ids(client, "/comments") == [3, 5, 6]  # ... their comments (also the "1" key) ...
        assert await ids(client, "/likes") == [2]  # ... and the likes of those comments


async def test_017_cascade_leaves_earlier_orphans_and_unrelated_records(related: dict[str, Any]) -> None:
    async with serve(related) as client:
        assert (await client.delete("/posts/3")).status_code == 200
        assert await ids(client, "/comments") == [1, 2, 4, 5, 6]
        assert await ids(client, "/likes") == [1]
        assert (await client.get("/comments/5")).json() == {"id": 5, "body": "old orphan", "postId": 99}
        assert await ids(client, "/users") == [1, 2]


async def test_017_cascade_with_string_ids() -> None:
    data: dict[str, Any] = {
        "posts": [{"id": "a"}, {"id": "b"}],
        "comments": [{"id": "x", "postId": "a"}, {"id": "y", "postId": "b"}, {"id": "z", "postId": "gone"}],
    }
    async with serve(data) as client:
        assert (await client.delete("/posts/a")).status_code == 200
        assert await ids(client, "/comments") == ["y", "z"]


async def test_compat_1_delete_nulls_the_foreign_keys(related: dict[str, Any]) -> None:
    async with serve(related, compat="1") as client:
        response = await client.delete("/posts/1")
        assert response.status_code == 200
        assert response.json() == {"id": 1, "title": "one", "userId": 1}
        comments = {c["id"]: c["postId"] for c in (await client.get("/comments")).json()}
        assert comments == {1: None, 2: 2, 3: 3, 4: None, 5: 99, 6: None}
        assert await ids(client, "/likes") == [1, 2]  # grandchildren untouched


async def test_compat_1_delete_does_not_recurse_when_nulling(related: dict[str, Any]) -> None:
    async with serve(related, compat="1") as client:
        assert (await client.delete("/users/1")).status_code == 200
        posts = {p["id"]: p["userId"] for p in (await client.get("/posts")).json()}
        assert posts == {1: None, 2: None, 3: 2}
        assert await ids(client, "/comments") == [1, 2, 3, 4, 5, 6]


async def test_compat_1_dependent_deletes_only_the_children_of_the_deleted_record(related: dict[str, Any]) -> None:
    async with serve(related, compat="1") as client:
        assert (await client.delete("/posts/1?_dependent=comments")).status_code == 200
        # 1 and "1" deleted; the older orphan (99) and the null key (6) are left alone
        assert await ids(client, "/comments") == [2, 3, 5, 6]
        # likes of deleted comments are nulled, not deleted (they were not named)
        likes = {like["id"]: like["commentId"] for like in (await client.get("/likes")).json()}
        assert likes == {1: None, 2: 3}


async def test_compat_1_dependent_is_repeatable_and_recursive(related: dict[str, Any]) -> None:
    async with serve(related, compat="1") as client:
        response = await client.delete("/users/1?_dependent=posts&_dependent=comments")
        assert response.status_code == 200
        assert await ids(client, "/posts") == [3]
        assert await ids(client, "/comments") == [3, 5, 6]
        assert await ids(client, "/users") == [2]


async def test_compat_1_dependent_accepts_a_comma_list(related: dict[str, Any]) -> None:
    async with serve(related, compat="1") as client:
        assert (await client.delete("/users/1?_dependent=posts,comments")).status_code == 200
        assert await ids(client, "/comments") == [3, 5, 6]


@pytest.mark.parametrize("compat", ["0.17", "1"])
@pytest.mark.parametrize("dependent", ["nope", "comments,nope", "profile"])
async def test_unknown_dependent_is_400_and_deletes_nothing(
    related: dict[str, Any], compat: str, dependent: str
) -> None:
    async with serve(related, compat=compat) as client:
        response = await client.delete(f"/posts/1?_dependent={dependent}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert "nope" in response.json()["detail"] or "profile" in response.json()["detail"]
        assert (await client.get("/posts/1")).status_code == 200
        assert len((await client.get("/comments")).json()) == 6


# -- --fks ---------------------------------------------------------------------------------------------------


async def test_foreign_key_suffix() -> None:
    data: dict[str, Any] = {
        "posts": [{"id": 1, "title": "one"}, {"id": 2, "title": "two"}],
        "comments": [{"id": 1, "post_id": 1}, {"id": 2, "post_id": "2"}, {"id": 3, "postId": 1}],
    }
    async with serve(data, fk_suffix="_id") as client:
        assert [c["id"] for c in (await client.get("/posts/1?_embed=comments")).json()["comments"]] == [1]
        assert (await client.get("/comments/2?_expand=post")).json()["post"]["title"] == "two"
        assert await ids(client, "/posts/1/comments") == [1]
        created = await client.post("/posts/1/comments", json={"body": "x"})
        assert created.json() == {"body": "x", "post_id": 1, "id": 4}
        assert (await client.delete("/posts/1")).status_code == 200
        assert await ids(client, "/comments") == [2, 3]  # `postId` is not a key under --fks _id
