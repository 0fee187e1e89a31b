"""Server-managed data: ``--timestamps`` (createdAt/updatedAt) and ``--auto-create`` (new collections by POST).

Runs once per storage backend (tests/api/conftest.py); the restart tests reopen the same file or
database with a new storage object, as a restarted server would.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jsonserve import testing
from jsonserve.config import Settings
from jsonserve.service import build_service
from jsonserve.storage.base import Storage
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.testing import serve
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:3000"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
GENERATED_V1_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
DATA: dict[str, Any] = {
    "posts": [{"id": 1, "title": "old", "views": 1}],
    "comments": [{"id": 1, "body": "hi", "postId": 1}],
    "profile": {"name": "typicode"},
}


def stamp_time(value: object) -> float:
    """A timestamp's POSIX time, after checking its exact shape (UTC, milliseconds, ``Z``)."""
    assert isinstance(value, str)
    assert STAMP.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def assert_stamped_between(value: object, before: float, after: float) -> float:
    moment = stamp_time(value)
    assert int(before * 1000) / 1000 <= moment <= after, (value, before, after)
    return moment


async def wait_a_tick() -> None:
    """Let the real clock move past the millisecond a stamp was taken in."""
    await asyncio.sleep(0.01)


# -- --timestamps -------------------------------------------------------------------------------------


async def test_create_stamps_both_fields_and_ignores_the_clients() -> None:
    async with serve(copy.deepcopy(DATA), timestamps=True) as client:
        before = time.time()
        created = await client.post(
            "/posts", json={"title": "new", "createdAt": "1999-01-01T00:00:00.000Z", "updatedAt": "soon"}
        )
        after = time.time()
        assert created.status_code == 201, created.text
        record = created.json()
        assert record.keys() == {"id", "title", "createdAt", "updatedAt"}
        assert record["createdAt"] == record["updatedAt"]
        assert_stamped_between(record["createdAt"], before, after)
        assert (await client.get("/posts/2")).json() == record
        # A nested POST is a create too.
        child = await client.post("/posts/1/comments", json={"body": "yo", "updatedAt": 0})
        assert child.status_code == 201, child.text
        assert child.json()["createdAt"] == child.json()["updatedAt"]
        assert_stamped_between(child.json()["updatedAt"], after, time.time())


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_update_keeps_created_at_and_advances_updated_at(method: str) -> None:
    async with serve(copy.deepcopy(DATA), timestamps=True) as client:
        original = (await client.post("/posts", json={"title": "draft", "views": 0})).json()
        created = stamp_time(original["createdAt"])
        await wait_a_tick()
        before = time.time()
        body = {"title": "final", "createdAt": "2000-01-01T00:00:00.000Z", "updatedAt": "2000-01-01T00:00:00.000Z"}
        response = await client.request(method, "/posts/2", json=body)
        after = time.time()
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["createdAt"] == original["createdAt"]
        assert assert_stamped_between(record["updatedAt"], before, after) > created
        expected_fields = {"id", "title", "createdAt", "updatedAt"} | ({"views"} if method == "PATCH" else set())
        assert record.keys() == expected_fields
        assert record["title"] == "final"
        assert (await client.get("/posts/2")).json() == record
        # And again: every write moves updatedAt forward.
        await wait_a_tick()
        again = (await client.patch("/posts/2", json={"views": 5})).json()
        assert again["createdAt"] == original["createdAt"]
        assert stamp_time(again["updatedAt"]) > stamp_time(record["updatedAt"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_an_update_of_an_unstamped_record_adds_only_updated_at(method: str) -> None:
    async with serve(copy.deepcopy(DATA), timestamps=True) as client:
        before = time.time()
        response = await client.request(method, "/posts/1", json={"title": "new", "createdAt": "2000-01-01"})
        assert response.status_code == 200, response.text
        record = response.json()
        assert "createdAt" not in record
        assert_stamped_between(record["updatedAt"], before, time.time())
        assert (await client.get("/posts/1")).json() == record


async def test_without_timestamps_nothing_is_stamped_and_client_values_are_data() -> None:
    async with serve(copy.deepcopy(DATA)) as client:
        created = await client.post("/posts", json={"title": "plain"})
        assert created.json() == {"title": "plain", "id": 2}
        patched = await client.patch("/posts/1", json={"views": 2})
        assert patched.json() == {"id": 1, "title": "old", "views": 2}
        own = await client.post("/posts", json={"title": "mine", "createdAt": "yesterday"})
        assert own.json() == {"title": "mine", "createdAt": "yesterday", "id": 3}
        assert (await client.get("/posts/3")).json() == own.json()


# -- --auto-create ----------------------------------------------------------------------------------


async def test_a_post_to_a_new_collection_creates_it() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True) as client:
        assert (await client.get("/newthings")).status_code == 404
        created = await client.post("/newthings", json={"name": "first"})
        assert created.status_code == 201, created.text
        assert created.json() == {"name": "first", "id": 1}
        assert created.headers["location"] == f"{ORIGIN}/newthings/1"
        second = await client.post("/newthings", json={"name": "second"})
        assert second.json() == {"name": "second", "id": 2}

        listed = await client.get("/newthings")
        assert listed.status_code == 200
        assert listed.json() == [{"name": "first", "id": 1}, {"name": "second", "id": 2}]
        assert (await client.get("/newthings/2")).json() == {"name": "second", "id": 2}
        db = (await client.get("/db")).json()
        assert list(db) == ["posts", "comments", "profile", "newthings"]
        assert db["newthings"] == listed.json()
        home = (await client.get("/")).text
        assert f'<a href="{ORIGIN}/newthings">/newthings</a> <span class="count">2 records</span>' in home
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/newthings", "/newthings/{id}"} <= paths.keys()


async def test_concurrent_first_posts_create_one_collection() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True) as client:
        responses = await asyncio.gather(*(client.post("/tags", json={"n": n}) for n in range(5)))
        assert [response.status_code for response in responses] == [201] * 5, [r.text for r in responses]
        assert sorted(response.json()["id"] for response in responses) == [1, 2, 3, 4, 5]
        listed = (await client.get("/tags")).json()
        assert sorted(record["n"] for record in listed) == [0, 1, 2, 3, 4]
        assert list((await client.get("/db")).json()) == ["posts", "comments", "profile", "tags"]


async def test_a_new_collection_gets_generated_ids_in_compat_1() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True, compat="1") as client:
        created = await client.post("/drafts", json={"id": 7, "title": "x"})
        assert created.status_code == 201, created.text
        new_id = created.json()["id"]
        assert GENERATED_V1_ID.fullmatch(new_id), new_id
        assert created.headers["location"] == f"{ORIGIN}/drafts/{new_id}"
        assert (await client.get("/drafts")).json() == [{"title": "x", "id": new_id}]


INVALID_NAMES = {
    "/Bad Name": 404,
    "/1abc": 404,
    "/_hidden": 404,
    "/a.b": 404,
    "/" + "x" * 65: 404,
    "/graphql": 400,  # GraphQL's own endpoint: a body without a `query` is a bad request
    "/db": 405,  # routes and pages of their own
    "/docs": 405,
    "/redoc": 405,
    "/openapi.json": 405,
}


async def test_invalid_or_reserved_names_are_never_created() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True) as client:
        before = (await client.get("/db")).json()
        for path, status in INVALID_NAMES.items():
            response = await client.post(path, json={"name": "x"})
            assert response.status_code == status, (path, response.text)
            codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
            body = response.json()
            assert (body["errors"][0]["extensions"] if "errors" in body else body)["code"] == codes[status], path
        assert (await client.get("/db")).json() == before
        assert (await client.get("/docs")).headers["content-type"].startswith("text/html")
        # The longest allowed name (64 characters) is fine.
        longest = await client.post("/" + "x" * 64, json={"name": "x"})
        assert longest.status_code == 201, longest.text
        assert list((await client.get("/db")).json()) == [*before, "x" * 64]


async def test_a_failed_first_post_leaves_no_empty_collection() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True) as client:
        response = await client.post("/newthings", json={"id": {"not": "an id"}})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_id"
        assert (await client.get("/newthings")).status_code == 404
        assert "newthings" not in (await client.get("/db")).json()
        assert (await client.post("/newthings", json={"id": "ok"})).status_code == 201


async def test_without_auto_create_a_missing_collection_is_404() -> None:
    async with serve(copy.deepcopy(DATA)) as client:
        response = await client.post("/newthings", json={"name": "x"})
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
        assert (await client.get("/newthings")).status_code == 404
        assert "newthings" not in (await client.get("/db")).json()


async def test_read_only_wins_over_auto_create() -> None:
    async with serve(copy.deepcopy(DATA), auto_create=True, read_only=True) as client:
        response = await client.post("/newthings", json={"name": "x"})
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "read_only"
        assert (await client.get("/newthings")).status_code == 404
        assert (await client.get("/db")).json() == DATA


# -- restart persistence ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def reopenable(backend: str, folder: Path) -> AsyncIterator[Callable[[], Storage]]:
    """A factory of storages over one durable file or database (seeded with :data:`DATA` once)."""
    if backend == "jsonfile":
        path = folder / "db.json"
        path.write_bytes(encode_document(copy.deepcopy(DATA)))
        yield lambda: JsonFileStorage(path)
    elif backend == "sqlite":
        from jsonserve.storage.sql.sqlite import SqliteStorage

        yield lambda: SqliteStorage(str(folder / "db.sqlite"), seed=copy.deepcopy(DATA))
    elif backend == "postgres":
        from jsonserve.storage.sql.postgres import PostgresStorage

        schema = f"jsonserve_test_{uuid.uuid4().hex[:12]}"
        try:
            yield lambda: PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=2, seed=copy.deepcopy(DATA))
        finally:
            cleaner = PostgresStorage(testing.POSTGRES_URL, pool_size=1)
            async with cleaner.engine.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await cleaner.aclose()
    else:
        pytest.skip(f"the {backend} backend keeps nothing across a restart")


@contextlib.asynccontextmanager
async def running(storage: Storage, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A server over ``storage``; leaving the block shuts it down (the storage is closed)."""
    settings = Settings(**options)
    async with open_client(create_app(settings, build_service(settings, storage))) as client:
        yield client


async def test_a_created_collection_survives_a_restart(backend: str, tmp_path: Path) -> None:
    async with reopenable(backend, tmp_path) as storage:
        async with running(storage(), auto_create=True, timestamps=True) as client:
            first = (await client.post("/newthings", json={"name": "first"})).json()
            assert first["id"] == 1
        if backend == "jsonfile":
            assert json.loads((tmp_path / "db.json").read_text())["newthings"] == [first]
        async with running(storage()) as client:  # no --auto-create: the collection simply exists now
            assert (await client.get("/newthings")).json() == [first]
            assert list((await client.get("/db")).json()) == ["posts", "comments", "profile", "newthings"]
            second = await client.post("/newthings", json={"name": "second"})
            assert second.status_code == 201, second.text
            assert second.json() == {"name": "second", "id": 2}
        async with running(storage()) as client:
            assert [record["name"] for record in (await client.get("/newthings")).json()] == ["first", "second"]
