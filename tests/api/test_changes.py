"""The Change events a request publishes (the ``changes`` fixture records them), on every backend."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jsonserve.storage.changelog import Change
from jsonserve.testing import serve
from tests.support.hub import RecordingHub

pytestmark = pytest.mark.anyio


def _summary(changes: list[Change]) -> list[tuple[str, str, Any, str | None]]:
    return [(change.action, change.collection, change.id, change.actor) for change in changes]


async def test_a_post_publishes_one_created_change(client: httpx.AsyncClient, changes: list[Change]) -> None:
    response = await client.post("/posts", json={"title": "new"})
    assert response.status_code == 201
    assert _summary(changes) == [("created", "posts", 4, None)]  # anonymous: no actor
    assert changes[0].record == response.json()
    assert changes[0].previous is None


async def test_a_patch_publishes_the_record_and_what_it_was(client: httpx.AsyncClient, changes: list[Change]) -> None:
    response = await client.patch("/posts/2", json={"views": 251})
    assert response.status_code == 200
    assert _summary(changes) == [("updated", "posts", 2, None)]
    assert changes[0].record == response.json()
    assert changes[0].previous is not None and changes[0].previous["views"] == 250


async def test_a_017_delete_publishes_the_record_then_its_cascade(
    client: httpx.AsyncClient, changes: list[Change]
) -> None:
    assert (await client.delete("/posts/1")).status_code == 200
    assert _summary(changes[:1]) == [("deleted", "posts", 1, None)]
    assert sorted(_summary(changes[1:])) == [("deleted", "comments", 1, None), ("deleted", "comments", 2, None)]
    assert all(change.record is None and change.previous is not None for change in changes)
    seqs = [change.seq for change in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_compat_1_delete_publishes_the_nulled_keys(client_v1: httpx.AsyncClient, changes: list[Change]) -> None:
    assert (await client_v1.delete("/posts/1")).status_code == 200
    assert _summary(changes[:1]) == [("deleted", "posts", 1, None)]
    assert sorted(_summary(changes[1:])) == [("updated", "comments", 1, None), ("updated", "comments", 2, None)]
    assert all(change.record is not None and change.record["postId"] is None for change in changes[1:])


async def test_a_nested_post_and_a_singular_patch(client: httpx.AsyncClient, changes: list[Change]) -> None:
    assert (await client.post("/posts/2/comments", json={"body": "hi"})).status_code == 201
    assert (await client.patch("/profile", json={"name": "ada"})).status_code == 200
    assert _summary(changes) == [("created", "comments", 4, None), ("updated", "profile", None, None)]
    assert changes[0].record is not None and changes[0].record["postId"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/posts", {"id": 1}, {}),  # 409: the id is taken
        ("PATCH", "/posts/99", {"a": 1}, {}),  # 404
        ("PUT", "/posts/1", {"a": 1}, {"If-Match": '"stale"'}),  # 412
        ("DELETE", "/posts/99", None, {}),  # 404
    ],
)
async def test_a_refused_write_publishes_nothing(
    client: httpx.AsyncClient, changes: list[Change], method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code >= 400
    assert changes == []


async def test_reads_publish_nothing(db: dict[str, Any], hub: RecordingHub) -> None:
    async with serve(db, hub=hub) as http:
        for path in ("/posts", "/posts/1?_embed=comments", "/posts/1/comments", "/db", "/profile", "/"):
            assert (await http.get(path)).status_code == 200
    assert hub.changes == []
