"""Page totals kept between reads (``storage/sql/counts.py``) are never stale, whoever wrote meanwhile.

A full page needs ``COUNT(*)`` for its total; SQLite keeps it until ``PRAGMA data_version`` changes,
PostgreSQL under the snapshot it was counted in. Each store is read by one storage object and
written by a second one on the same database (another instance), by a transaction still in flight
when the count was made, and (PostgreSQL) by a transaction that took an earlier change-log ``seq``
than a write that committed before it: the race a count keyed by the latest ``seq`` would lose.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve.query.model import Condition, Op, PageRequest, Query
from jsonserve.storage.sql.base import SqlStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres

pytestmark = pytest.mark.anyio

POSTS: list[dict[str, Any]] = [{"id": n, "userId": n % 2} for n in range(1, 21)]
DATA: dict[str, Any] = {"posts": POSTS}
PAGE = Query("posts", window=PageRequest(2, 5))  # a full page: only a count tells its total
FILTERED = Query("posts", where=Condition(("userId",), Op.EQ, "1"), window=PageRequest(1, 5))


def count_statements(storage: SqlStorage) -> list[str]:
    """Every ``COUNT(*)`` statement ``storage`` runs from now on: on any of its engines, or straight on asyncpg."""
    seen: list[str] = []

    def note(statement: str) -> None:
        if "count(" in statement.lower():
            seen.append(statement)

    engines = {storage.engine.sync_engine, getattr(storage, "sync_engine", storage.engine.sync_engine)}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", lambda *args: note(args[2]))
    direct = getattr(storage, "direct", None)
    if direct is not None:  # PostgreSQL's reads of known SQL (``direct.py``): observed, still run
        fetch = direct.fetch

        async def noted(sql: str, parameters: Sequence[Any]) -> Any:
            note(sql)
            return await fetch(sql, parameters)

        direct.fetch = noted
    if isinstance(storage, SqliteStorage) and storage.path is not None:  # SQLite's reads of known SQL, on sqlite3
        storage._point_reader().set_trace_callback(note)
    return seen


@pytest.fixture
async def postgres_pair(pg_schema: str) -> AsyncIterator[tuple[SqlStorage, SqlStorage]]:
    """Two storage objects (two instances) on one PostgreSQL schema: the reader and the writer."""
    from jsonserve.storage.sql.postgres import PostgresStorage

    async with contextlib.AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            storage = PostgresStorage(testing.POSTGRES_URL, schema=pg_schema, pool_size=2, seed=DATA)
            await storage.open()
            stack.push_async_callback(storage.aclose)
            pair.append(storage)
        yield pair[0], pair[1]


@pytest.fixture
async def sqlite_pair(tmp_path: Path) -> AsyncIterator[tuple[SqlStorage, SqlStorage]]:
    """Two storage objects (two processes' worth) on one SQLite file."""
    from jsonserve.storage.sql.sqlite import SqliteStorage

    async with contextlib.AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            storage = SqliteStorage(str(tmp_path / "app.db"), seed=DATA)
            await storage.open()
            stack.push_async_callback(storage.aclose)
            pair.append(storage)
        yield pair[0], pair[1]


@pytest.fixture(params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest) -> tuple[SqlStorage, SqlStorage]:
    """Each SQL backend's pair."""
    if request.param == "postgres":
        require_postgres()
    return request.getfixturevalue(f"{request.param}_pair")  # type: ignore[no-any-return]


async def test_a_count_is_kept_while_nothing_changes(pair: tuple[SqlStorage, SqlStorage]) -> None:
    reader, _writer = pair
    counts = count_statements(reader)
    reads = 20
    for _ in range(reads):
        assert (await reader.find(PAGE)).total == len(POSTS)
        assert (await reader.find(FILTERED)).total == len(POSTS) // 2
    # One per filter, then kept. PostgreSQL's snapshot also moves on with any commit on the server
    # (other tests' databases included), and a SQLite read past its budget is read (and counted)
    # again on the pooled readers: a few more counts, never one per read.
    assert len(counts) < reads


async def test_another_instances_writes_are_counted(pair: tuple[SqlStorage, SqlStorage]) -> None:
    reader, writer = pair
    counts = count_statements(reader)
    assert (await reader.find(PAGE)).total == len(POSTS)
    change = await writer.create("posts", {"userId": 1}, generated_ids=True)
    assert (await reader.find(PAGE)).total == len(POSTS) + 1
    assert (await reader.find(FILTERED)).total == len(POSTS) // 2 + 1
    await writer.update("posts", str(change.id), lambda current: {**current, "userId": 0})
    assert (await reader.find(FILTERED)).total == len(POSTS) // 2
    await writer.delete("posts", "1", lambda _collection: [])
    assert (await reader.find(PAGE)).total == len(POSTS)
    assert (await reader.find(FILTERED)).total == len(POSTS) // 2 - 1
    assert len(counts) >= 6  # each read after a write counted again (a SQLite read past its budget twice)


async def test_a_write_in_flight_during_the_count_is_counted_once_committed(
    postgres_pair: tuple[SqlStorage, SqlStorage],
) -> None:
    reader, writer = postgres_pair
    async with writer.engine.connect() as late:  # a write that takes the lower ``seq`` and commits last
        await late.begin()
        await _insert(late, "101")
        early = await writer.create("posts", {"userId": 1}, generated_ids=True)  # the higher seq, committed
        assert early.seq > await _seq_of(late, "101")
        assert (await reader.find(PAGE)).total == len(POSTS) + 1  # counted while ``late`` is in flight
        assert (await reader.find(PAGE)).total == len(POSTS) + 1  # (and kept)
        await late.commit()
    # The latest committed seq is the same as when the count was kept: only the snapshot tells them apart.
    assert await reader.changes.latest() == early.seq
    assert (await reader.find(PAGE)).total == len(POSTS) + 2
    assert (await reader.find(FILTERED)).total == len(POSTS) // 2 + 2


async def test_a_write_in_flight_on_sqlite_is_counted_once_committed(
    sqlite_pair: tuple[SqlStorage, SqlStorage],
) -> None:
    reader, writer = sqlite_pair
    assert (await reader.find(PAGE)).total == len(POSTS)
    async with writer.transaction() as late:
        await _insert(late, "101")
        assert (await reader.find(PAGE)).total == len(POSTS)  # not committed yet
    assert (await reader.find(PAGE)).total == len(POSTS) + 1


async def _insert(connection: Any, key: str) -> None:
    """A record and its change, as a write from outside this process would add them."""
    from jsonserve.storage.sql.compile import changes, records

    doc = {"id": int(key), "userId": 1}
    await connection.execute(sa.insert(records).values(collection="posts", key=key, pos=int(key), doc=doc))
    values = {"collection": "posts", "action": "created", "record_id": key, "record": doc, "at": time.time()}
    await connection.execute(sa.insert(changes).values(**values))


async def _seq_of(connection: Any, key: str) -> int:
    from jsonserve.storage.sql.compile import changes

    return int((await connection.execute(sa.select(changes.c.seq).where(changes.c.record_id == key))).scalar_one())
