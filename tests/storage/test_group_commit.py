"""Concurrent writes, each with its own outcome: SQLite's group commit and the same behaviour everywhere.

On SQLite the writes queued while a batch is on disk share the next transaction (``group.py``): a
write that fails rolls back alone (its savepoint), the others commit, the change log holds exactly
the committed changes in ``seq`` order, and a record's ``pos`` is its change's ``seq``. The same
mix of writes runs on every backend; on SQLite the writes are made to queue behind the writer's lock
first, so that they are certain to share one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve.errors import Conflict, NotFound, PreconditionFailed, StorageUnavailable
from jsonserve.storage import MemoryStorage, Storage
from jsonserve.storage.base import Dependent
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema

DATA: dict[str, Any] = {
    "posts": [{"id": 1, "title": "first"}, {"id": 2, "title": "second"}, {"id": 3, "title": "third"}],
    "comments": [{"id": 1, "postId": 3, "locked": True}],
}


def _refuse(error: Exception) -> Callable[[object], None]:
    def check(_record: object) -> None:
        raise error

    return check


def _locked_child(record: object) -> None:
    if isinstance(record, dict) and record.get("locked"):
        raise PreconditionFailed("a locked comment")


@pytest.fixture(params=["memory", "jsonfile", "sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    kind, schema = str(request.param), new_schema()
    store: Storage
    if kind == "memory":
        store = MemoryStorage(DATA)
    elif kind == "jsonfile":
        (tmp_path / "db.json").write_bytes(encode_document(DATA))
        store = JsonFileStorage(tmp_path / "db.json")
    elif kind == "sqlite":
        store = SqliteStorage(str(tmp_path / "app.db"), seed=DATA)
    else:
        require_postgres()
        store = PostgresStorage(testing.POSTGRES_URL, schema=schema, seed=DATA)
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()
        if kind == "postgres":
            await drop_schema(schema)


async def _dumped(storage: Storage) -> list[dict[str, Any]]:
    """The stored posts, as records."""
    return cast(list[dict[str, Any]], (await storage.dump())["posts"])


async def _queued(storage: Storage, writes: list[Awaitable[Any]]) -> list[Any]:
    """Run ``writes`` concurrently; on SQLite, queued behind the writer's lock so they share one batch."""
    lock = getattr(storage, "_writer", None)
    if not isinstance(lock, asyncio.Lock):
        return await asyncio.gather(*writes, return_exceptions=True)
    async with lock:
        tasks = [asyncio.ensure_future(write) for write in writes]
        await asyncio.sleep(0.05)  # every write is queued; the group waits for the lock
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.anyio
async def test_a_failing_write_fails_alone_and_the_log_holds_the_rest_in_order(storage: Storage) -> None:
    latest = await storage.changes.latest()
    batches = getattr(getattr(storage, "_group", None), "batches", 0)
    no_children: Callable[[str], list[Dependent]] = lambda _name: []  # noqa: E731
    children = lambda name: [Dependent("comments", "postId", True, _locked_child)] if name == "posts" else []  # noqa: E731
    outcomes = await _queued(
        storage,
        [
            storage.create("posts", {"title": "a"}),
            storage.create("posts", {"id": 1, "title": "taken"}),  # 409 (post 2 may be deleted first on PostgreSQL)
            storage.update("posts", "1", lambda old: {**old, "title": "patched"}),
            storage.update("posts", "2", lambda old: {**old, "title": "refused"}, _refuse(PreconditionFailed("etag"))),
            storage.delete("posts", "3", children),  # its locked comment refuses after the post was deleted
            storage.update("posts", "404", lambda old: old),  # 404
            storage.create("posts", {"title": "b"}),
            storage.delete("posts", "2", no_children),
        ],
    )
    kinds = [type(outcome).__name__ for outcome in outcomes]
    expected = "Change Conflict Change PreconditionFailed PreconditionFailed NotFound Change list"
    assert kinds == expected.split()
    assert isinstance(outcomes[1], Conflict) and isinstance(outcomes[5], NotFound)
    if isinstance(storage, SqliteStorage):
        assert storage._group.batches == batches + 1, "the writes did not share one transaction"
    posts = {record["id"]: record for record in await _dumped(storage)}
    assert posts[1]["title"] == "patched"
    assert 2 not in posts and posts[3] == {"id": 3, "title": "third"}  # the refused delete left its post
    assert sorted(record["title"] for record in posts.values() if record["id"] > 3) == ["a", "b"]
    logged = await storage.changes.since(latest)
    committed = [outcomes[0], outcomes[2], outcomes[6], *outcomes[7]]
    assert [change.seq for change in logged] == sorted(change.seq for change in committed)
    assert [(c.collection, c.action, c.id) for c in logged] == [
        (c.collection, c.action, c.id) for c in sorted(committed, key=lambda c: c.seq)
    ]
    assert len({change.seq for change in logged}) == len(logged)


@pytest.mark.anyio
async def test_creates_in_one_batch_get_unique_ids_in_seq_order(storage: Storage) -> None:
    outcomes = await _queued(storage, [storage.create("posts", {"title": f"n{n}"}) for n in range(40)])
    by_seq = sorted(outcomes, key=lambda change: change.seq)
    ids = [change.id for change in by_seq]
    assert len(set(ids)) == 40 and ids == sorted(ids)  # ids are handed out under the lock the seq is taken in
    stored = [record["title"] for record in await _dumped(storage)][3:]
    assert stored == [change.record["title"] for change in by_seq]
    if not isinstance(storage, PostgresStorage):  # one writer (a queue, a lock): submission order too
        assert stored == [f"n{n}" for n in range(40)]


async def _sqlite(tmp_path: Path) -> SqliteStorage:
    store = SqliteStorage(str(tmp_path / "app.db"), seed=DATA)
    await store.open()
    return store


@pytest.mark.anyio
async def test_sqlite_a_database_error_in_one_write_reruns_the_others(tmp_path: Path) -> None:
    """A database error inside one write rolls the batch back; that write fails, the others run again."""
    storage = await _sqlite(tmp_path)
    try:

        def broken(connection: sa.Connection) -> None:
            connection.exec_driver_sql("UPDATE no_such_table SET x = 1")

        outcomes = await _queued(
            storage,
            [storage.create("posts", {"title": "before"}), storage.commit(broken), storage.create("posts", {})],
        )
        assert isinstance(outcomes[1], sa.exc.OperationalError)  # not an outage: a bug, answered with a 500
        assert [type(outcome).__name__ for outcome in (outcomes[0], outcomes[2])] == ["Change", "Change"]
        titles = [record.get("title") for record in (await storage.dump())["posts"]]  # type: ignore[union-attr]
        assert titles == ["first", "second", "third", "before", None]
        assert storage._group.batches == 1  # the first transaction was rolled back; the rerun committed both
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_sqlite_close_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    storage = await _sqlite(tmp_path)
    queued = [asyncio.ensure_future(storage.create("posts", {"title": f"q{n}"})) for n in range(5)]
    await asyncio.sleep(0)
    await storage.aclose()
    assert all(task.done() and task.exception() is None for task in queued)
    reopened = await _sqlite(tmp_path)
    try:
        titles = [record["title"] for record in await _dumped(reopened)]
        assert titles[3:] == [f"q{n}" for n in range(5)]
    finally:
        await reopened.aclose()
    await storage.aclose()  # closing twice is harmless
    with pytest.raises(StorageUnavailable):
        await storage.create("posts", {"title": "late"})
