"""The change log of every backend, one suite: memory, jsonfile, sqlite and postgres.

Every committed write appears in ``changes.since()`` exactly as the write returned it (record,
previous, actor), in ``seq`` order, numbered without gaps; refused writes leave no trace. A JSON
file's ``seq`` continues after a restart (older ones must resync); a database's log survives one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve.errors import Conflict, NotFound, PreconditionFailed, ResyncRequired, StorageUnavailable
from jsonserve.storage import Change, Dependent, MemoryStorage, Storage
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}],
    "comments": [{"id": 1, "postId": 1}, {"id": 2, "postId": 1}, {"id": 3, "postId": 2}],
    "likes": [{"id": 1, "postId": 1}],
    "profile": {"id": 7, "name": "typicode"},  # a singular object may hold an "id": its changes still have none
}
BACKENDS = ("memory", "jsonfile", "sqlite", "postgres")
Open = Callable[[], Awaitable[Storage]]


def dependents(name: str) -> list[Dependent]:
    if name != "posts":
        return []
    return [Dependent("comments", "postId", delete=True), Dependent("likes", "postId", delete=False)]


def refuse(_current: object) -> None:
    raise PreconditionFailed("the record changed")


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(kind: str, tmp_path: Path) -> AsyncIterator[Open]:
    """Opens the backend's store on the same location each time (a restart); closes what is left open."""
    if kind == "postgres":
        require_postgres()
    schema = new_schema() if kind == "postgres" else None
    opened: list[Storage] = []

    async def open_() -> Storage:
        storage = _build(kind, tmp_path, schema)
        await storage.open()
        opened.append(storage)
        return storage

    try:
        yield open_
    finally:
        for storage in opened:
            with contextlib.suppress(Exception):
                await storage.aclose()
        if schema is not None:
            await drop_schema(schema)


def _build(kind: str, folder: Path, schema: str | None) -> Storage:
    data = copy.deepcopy(DATA)
    if kind == "memory":
        return MemoryStorage(data)
    if kind == "jsonfile":
        path = folder / "db.json"
        if not path.exists():
            path.write_bytes(encode_document(data))
        return JsonFileStorage(path)
    if kind == "sqlite":
        return SqliteStorage(str(folder / "db.sqlite"), seed=data)
    return PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=2, seed=data)


async def every_kind_of_write(storage: Storage) -> list[Change]:
    """A create, an update, a cascading delete, a singular update and a create in a new collection."""
    written = [await storage.create("posts", {"title": "c"}, actor="u1")]
    written.append(await storage.update("posts", "2", lambda r: {**r, "title": "B"}, actor="u2"))
    written += await storage.delete("posts", "1", dependents, actor="u3")
    written.append(await storage.update_singular("profile", lambda p: {**p, "name": "x"}))
    written.append(await storage.create("tags", {"label": "t"}, new_collection=True, actor="u1"))
    return written


async def test_every_write_appears_in_seq_order_as_it_was_returned(open_store: Open) -> None:
    storage = await open_store()
    start = await storage.changes.latest()
    written = await every_kind_of_write(storage)
    logged = await storage.changes.since(start)
    assert logged == written
    assert [c.seq for c in logged] == list(range(start + 1, start + len(written) + 1))  # ascending, no gap
    assert await storage.changes.latest() == written[-1].seq


async def test_the_changes_say_what_each_write_did(open_store: Open) -> None:
    storage = await open_store()
    start = await storage.changes.latest()
    await every_kind_of_write(storage)
    logged = await storage.changes.since(start)
    summary = [(c.collection, c.action, c.id, c.actor) for c in logged]
    assert summary[:2] == [("posts", "created", 3, "u1"), ("posts", "updated", 2, "u2")]
    assert summary[2] == ("posts", "deleted", 1, "u3")  # the record's own change comes first
    assert sorted(summary[3:6], key=str) == [
        ("comments", "deleted", 1, "u3"),
        ("comments", "deleted", 2, "u3"),
        ("likes", "updated", 1, "u3"),
    ]
    assert summary[6:] == [("profile", "updated", None, None), ("tags", "created", 1, "u1")]
    created, updated, deleted = logged[0], logged[1], logged[2]
    assert (created.record, created.previous) == ({"title": "c", "id": 3}, None)
    assert (updated.record, updated.previous) == ({"id": 2, "title": "B"}, {"id": 2, "title": "b"})
    assert (deleted.record, deleted.previous) == (None, {"id": 1, "title": "a"})
    nulled = next(c for c in logged if c.collection == "likes")
    assert (nulled.record, nulled.previous) == ({"id": 1, "postId": None}, {"id": 1, "postId": 1})
    assert (logged[6].record, logged[6].previous) == ({"id": 7, "name": "x"}, {"id": 7, "name": "typicode"})


async def test_since_reads_on_from_any_seq_and_limit_keeps_the_oldest(open_store: Open) -> None:
    storage = await open_store()
    start = await storage.changes.latest()
    written = await every_kind_of_write(storage)
    assert await storage.changes.since(written[2].seq) == written[3:]
    assert await storage.changes.since(start, limit=2) == written[:2]
    assert await storage.changes.since(written[-1].seq) == []


async def test_refused_writes_leave_no_change_and_no_gap(open_store: Open) -> None:
    storage = await open_store()
    start = await storage.changes.latest()
    with pytest.raises(Conflict):
        await storage.create("posts", {"id": 1, "title": "taken"})
    with pytest.raises(PreconditionFailed):
        await storage.update("posts", "1", lambda r: r, check=refuse)
    with pytest.raises(NotFound):
        await storage.delete("posts", "99", dependents)
    with pytest.raises(PreconditionFailed):
        await storage.update_singular("profile", lambda p: p, check=refuse)
    assert await storage.changes.since(start) == []
    assert (await storage.create("posts", {"title": "ok"})).seq == start + 1


async def test_a_restart_continues_the_seq(open_store: Open, kind: str) -> None:
    if kind == "memory":
        pytest.skip("memory keeps nothing across a restart")
    storage = await open_store()
    written = await every_kind_of_write(storage)
    await storage.aclose()
    storage = await open_store()
    latest = written[-1].seq
    assert await storage.changes.latest() == latest
    if kind == "jsonfile":  # the ring starts empty at the journal's seq: older readers must re-read
        with pytest.raises(ResyncRequired) as raised:
            await storage.changes.since(written[0].seq)
        assert raised.value.latest == latest
        assert await storage.changes.since(latest) == []
    else:  # the table survives
        assert await storage.changes.since(written[0].seq) == written[1:]
    again = await storage.create("posts", {"title": "after"}, actor="u9")
    assert again.seq == latest + 1
    assert await storage.changes.since(latest) == [again]


async def test_a_seq_ahead_of_the_store_asks_for_a_resync(open_store: Open) -> None:
    """A reader whose seq this store never reached (it was restarted empty or replaced) must re-read."""
    storage = await open_store()
    latest = (await every_kind_of_write(storage))[-1].seq
    with pytest.raises(ResyncRequired, match="ahead") as raised:
        await storage.changes.since(latest + 5)
    assert raised.value.latest == latest
    assert await storage.changes.since(latest) == []


async def test_a_cancelled_writer_does_not_lose_its_change(open_store: Open, kind: str) -> None:
    """A client that disconnects mid-write: the write is already queued, so it commits, and is logged."""
    storage = await open_store()
    start = await storage.changes.latest()
    task = asyncio.create_task(storage.create("posts", {"title": "abandoned"}))
    await asyncio.sleep(0)  # applied, and (jsonfile) queued for the journal
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(200):
        if await storage.changes.latest() > start:
            break
        await asyncio.sleep(0.01)
    stored = [r for r in (await storage.dump())["posts"] if r.get("title") == "abandoned"]  # type: ignore[union-attr]
    logged = await storage.changes.since(start)
    assert [(c.action, c.record) for c in logged] == [("created", record) for record in stored]


async def test_a_failed_journal_write_is_never_logged_and_leaves_no_gap(
    open_store: Open, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jsonfile: the journal cannot be written; the write is undone, later writes refused until restart."""
    if kind != "jsonfile":
        pytest.skip("a failing journal is the JSON file's")
    storage = await open_store()
    assert isinstance(storage, JsonFileStorage)
    start = (await storage.create("posts", {"title": "kept"})).seq

    def fail(_data: bytes) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(storage._journal, "append", fail)
    with pytest.raises(StorageUnavailable, match="could not be made durable"):
        await storage.create("posts", {"title": "lost"})
    assert await storage.changes.since(start) == []
    assert await storage.changes.latest() == start
    assert storage.seq == start  # the failed write's seq is given back
    with pytest.raises(StorageUnavailable, match="refused until restart"):
        await storage.create("posts", {"title": "refused"})
    await storage.aclose()
    storage = await open_store()
    assert (await storage.create("posts", {"title": "next"})).seq == start + 1


# Before 7b0df47 the change-log table had no ``previous`` and no ``actor``.
OLD_CHANGES = sa.Table(
    "jsonserve_changes",
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("collection", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text, nullable=True),
    sa.Column("record", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"), nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)


async def test_an_older_change_table_gains_previous_and_actor_on_open(open_store: Open, kind: str) -> None:
    if kind not in ("sqlite", "postgres"):
        pytest.skip("a change-log table is the SQL backends'")
    storage = await open_store()  # creates the database (and schema); then its table is made an old one
    assert isinstance(storage, SqliteStorage | PostgresStorage)
    async with storage.transaction() as connection:
        await connection.exec_driver_sql("DROP TABLE jsonserve_changes")
        await connection.run_sync(OLD_CHANGES.metadata.create_all)
        old = {"collection": "posts", "action": "created", "record_id": "9", "record": {"id": 9}, "at": 1.0}
        await connection.execute(OLD_CHANGES.insert().values(**old))
    await storage.aclose()
    storage = await open_store()
    new = await storage.update("posts", "2", lambda r: {**r, "title": "B"}, actor="u2")
    logged = await storage.changes.since(0)
    assert logged == [Change("posts", "created", 9, {"id": 9}, None, 1, 1.0, None), new]
    assert (new.previous, new.actor) == ({"id": 2, "title": "b"}, "u2")
    assert isinstance(storage, SqliteStorage | PostgresStorage)
    async with storage.engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("jsonserve_changes"))
    assert [column["name"] for column in columns][-2:] == ["previous", "actor"]
