"""The read path as issue 19 made it fast, held to what it was: every backend, the reference results.

A read sees every write acknowledged before it, on every backend (SQLite now reads on a synchronous
connection of its own, PostgreSQL in autocommit); a window's total is the reference's whether the
rows told it or a ``COUNT(*)`` did; a stored statement never answers for a filter it was not run
for. Then what only the SQL backends do: SQLite reads without the aiosqlite thread while they are
short and on it when they are not, with index statistics gathered at open; PostgreSQL reads outside
a transaction (one round trip).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.errors import StorageCorrupt
from jsonserve.query.evaluate import run
from jsonserve.query.model import AllOf, Condition, Not, Op, PageRequest, Query, Slice, SortKey
from jsonserve.storage.base import Storage
from jsonserve.testing import backends
from tests.api.conftest import require_postgres

pytestmark = pytest.mark.anyio

POSTS: list[dict[str, Any]] = [
    {"id": n, "userId": n % 4, "flag": n % 3 == 0, "score": 1.0 if n == 5 else n} for n in range(1, 24)
]
DATA: dict[str, Any] = {"posts": POSTS, "profile": {"name": "x"}}


@contextlib.asynccontextmanager
async def opened_storage(
    backend: str, data: dict[str, JSONValue] = DATA, indexes: tuple[str, ...] = ()
) -> AsyncIterator[Any]:
    """``data`` on ``backend``, opened (with ``indexes``), closed on the way out."""
    if backend == "postgres":
        require_postgres()
    async with backends._storage(data, backend, Settings()) as storage:
        assert storage is not None
        if indexes:
            storage.indexes = indexes  # type: ignore[attr-defined]
        await storage.open()
        try:
            yield storage
        finally:
            await storage.aclose()


@pytest.fixture(params=testing.BACKENDS)
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    async with opened_storage(request.param) as opened:
        yield opened


WINDOWS = [
    None,
    Slice(0, None),
    Slice(5, None),
    Slice(30, None),
    Slice(3, 8),
    Slice(20, 30),
    Slice(8, 3),
    PageRequest(1, 10),
    PageRequest(3, 10),
    PageRequest(4, 10),
    PageRequest(3, 10, clamp=True),
    PageRequest(9, 10, clamp=True),
    PageRequest(9, 10),
    PageRequest(1, 23),
    PageRequest(2, 23, clamp=True),
]


@pytest.mark.parametrize("window", WINDOWS, ids=repr)
async def test_a_window_has_the_reference_rows_and_total(storage: Storage, window: Slice | PageRequest | None) -> None:
    for where in (None, Condition(("userId",), Op.EQ, "1"), Condition(("userId",), Op.EQ, "9")):
        query = Query("posts", **({} if where is None else {"where": where}), window=window)  # type: ignore[arg-type]
        for _ in range(2):  # the second time from the stored statements
            page = await storage.find(query)
            expected = run(POSTS, query)
            assert (page.items, page.total) == (expected.items, expected.total), (where, window)


async def test_a_filter_pattern_serves_other_values_with_the_reference_rows(storage: Storage) -> None:
    # After two reads of `userId=… [and flag=…]` with telling values, SQLite serves the pattern's other
    # values from its template (`patterns.py`); values of other classes ("1.0", "true", "x") get
    # their own patterns. Each value twice, interleaved, and in windows that need a count.
    values = ("1", "2", "3", "0", "7", "1.0", "2.0", "true", "false", "x", "y", " 2", "-1", "1e0", "01")
    queries = [
        Query("posts", where=where, window=window)
        for value in values
        for where in (
            Condition(("userId",), Op.EQ, value),
            AllOf((Condition(("userId",), Op.EQ, value), Condition(("flag",), Op.EQ, "true"))),
            AllOf((Condition(("score",), Op.GTE, "2"), Not(Condition(("userId",), Op.EQ, value)))),
        )
        for window in (None, PageRequest(1, 2))
    ]
    for query in queries + queries[::-1]:
        page = await storage.find(query)
        expected = run(POSTS, query)
        assert (page.items, page.total) == (expected.items, expected.total), query
    from jsonserve.storage.sql.sqlite import SqliteStorage

    if isinstance(storage, SqliteStorage):
        assert storage.statements.templates.filled > len(queries) // 2  # of the 2 x len(queries) reads


async def test_each_filter_value_has_its_own_statement(storage: Storage) -> None:
    # Values of one shape compile to different SQL ("1" and "1.0" are numbers, "true" a literal, "x" neither):
    # run each twice, interleaved, so a statement stored for one would answer for another.
    values = ("1", "1.0", "true", "True", "x", "5", "05")
    queries = [
        Query("posts", where=Condition((field,), Op.EQ, value)) for field in ("score", "flag") for value in values
    ]
    for query in queries + queries[::-1]:
        page = await storage.find(query)
        assert page.items == run(POSTS, query).items, query.where


async def test_a_read_sees_every_acknowledged_write(storage: Storage) -> None:
    by_user = Query("posts", where=Condition(("userId",), Op.EQ, "7"), sort=(SortKey(("n",), True),))
    assert (await storage.find(by_user)).items == []
    first_page = Query("posts", window=PageRequest(1, 2))  # a full page: its total is counted (SQLite keeps it)
    assert (await storage.find(first_page)).total == len(POSTS)
    for n in range(3):
        change = await storage.create("posts", {"userId": 7, "n": n}, generated_ids=True)
        record_id = str(change.id)
        assert await storage.get("posts", record_id) == change.record
        page = await storage.find(by_user)
        assert [r["n"] for r in page.items] == [k + 10 for k in range(n - 1, -1, -1)] + [n]  # by n, descending
        assert (await storage.find(first_page)).total == len(POSTS) + n + 1
        await storage.update("posts", record_id, lambda current: {**current, "n": int(current["n"]) + 10})  # type: ignore[arg-type]
        assert (await storage.get("posts", record_id))["n"] == n + 10  # type: ignore[index]
    assert await storage.count("posts") == len(POSTS) + 3
    await storage.delete("posts", record_id, lambda _collection: [])
    assert await storage.get("posts", record_id) is None
    assert (await storage.find(first_page)).total == len(POSTS) + 2
    assert await storage.count("posts") == len(POSTS) + 2


# -- SQLite ------------------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_storage() -> AsyncIterator[Any]:
    async with opened_storage("sqlite", indexes=("posts.userId",)) as opened:
        yield opened


def _pooled_checkouts(storage: Any) -> list[object]:
    checkouts: list[object] = []
    sa.event.listen(storage.engine.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
    return checkouts


async def test_sqlite_short_reads_take_no_thread(sqlite_storage: Any) -> None:
    checkouts = _pooled_checkouts(sqlite_storage)
    filtered = Query("posts", where=Condition(("userId",), Op.EQ, "1"), window=PageRequest(1, 2))
    for _ in range(3):
        assert (await sqlite_storage.get("posts", "3"))["id"] == 3
        assert (await sqlite_storage.find(filtered)).total == run(POSTS, filtered).total
    assert checkouts == []  # no read went to the aiosqlite readers


async def test_sqlite_reads_past_the_budget_move_to_the_readers(
    sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonserve.storage.sql import sqlite

    monkeypatch.setattr(sqlite, "READ_BUDGET", -1.0)  # every read is past its budget at once
    monkeypatch.setattr(sqlite, "PROGRESS_STEPS", 1)
    checkouts = _pooled_checkouts(sqlite_storage)
    query = Query("posts", where=Condition(("userId",), Op.EQ, "2"), window=Slice(1, 3))
    assert (await sqlite_storage.find(query)).items == run(POSTS, query).items
    assert (await sqlite_storage.get("posts", "4"))["id"] == 4
    assert len(checkouts) == 2  # both answered, by the pooled readers


async def test_sqlite_gathers_index_statistics_at_open(sqlite_storage: Any) -> None:
    async def statistics(connection: Any) -> set[str]:
        rows = await connection.exec_driver_sql("SELECT idx FROM sqlite_stat1")
        return {row[0] for row in rows}

    indexes = await sqlite_storage.read(statistics)
    assert any(name.startswith("jsonserve_idx_posts_userId") for name in indexes)
    assert "jsonserve_records_order" in indexes


async def test_sqlite_statistics_count_every_record_and_a_filter_takes_its_index() -> None:
    # Sampled statistics (analysis_limit) said "1,001 records per collection" at any size, and the
    # planner then scanned the collection in insertion order for ?userId= (500 ms at 1,000,000).
    posts: list[JSONValue] = [{"id": n, "userId": n % 500} for n in range(1, 3001)]

    async def inspect(connection: Any) -> tuple[str, list[str]]:
        stat = await connection.exec_driver_sql("SELECT group_concat(idx || ':' || stat, ' | ') FROM sqlite_stat1")
        plan = await connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT doc FROM jsonserve_records WHERE collection = 'posts' "
            """AND json_extract(doc, '$."userId"') IN (7, '7') ORDER BY pos"""
        )
        return stat.scalar_one(), [row[-1] for row in plan]

    async with opened_storage("sqlite", {"posts": posts}, ("posts.userId",)) as opened:
        stat, plan = await opened.read(inspect)
        found = await opened.find(Query("posts", where=Condition(("userId",), Op.EQ, "7")))
    assert "jsonserve_records_order:3000 3000 1" in stat  # every record counted: one collection of 3,000
    assert any("jsonserve_idx_posts_userId" in step for step in plan), plan
    assert [post["id"] for post in found.items] == [n for n in range(1, 3001) if n % 500 == 7]


# -- PostgreSQL ----------------------------------------------------------------------------------------


async def test_postgres_reads_run_outside_a_transaction() -> None:
    # No BEGIN before a read's statement and no ROLLBACK after it: one round trip. asyncpg knows
    # whether its connection is inside a transaction block once the statement has run.

    async def in_transaction(connection: Any) -> bool:
        await connection.exec_driver_sql("SELECT 1")
        raw = await connection.get_raw_connection()
        return bool(raw.driver_connection.is_in_transaction())

    async with opened_storage("postgres") as opened:
        assert await opened.read(in_transaction) is False
        async with opened.engine.connect() as connection:
            assert await in_transaction(connection) is True  # the same check sees a write's BEGIN


async def test_sqlite_keeps_a_count_until_the_database_changes(sqlite_storage: Any) -> None:
    statements: list[str] = []
    for engine in (sqlite_storage.sync_engine, sqlite_storage.engine.sync_engine):
        sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    sqlite_storage._point_reader().set_trace_callback(statements.append)  # known reads run on sqlite3 itself
    page = Query("posts", window=PageRequest(2, 5))  # a full page: only a count tells the total

    async def counts() -> int:
        before = len(statements)
        assert (await sqlite_storage.find(page)).total == await sqlite_storage.count("posts")
        return sum("count(" in statement.lower() for statement in statements[before:])

    assert await counts() == 2  # the page's, then count()'s (which always counts)
    # Its statements known, the page is read on sqlite3 directly: another reader, whose counts are its own.
    assert await counts() == 2
    assert await counts() == 1  # the page's is kept
    await sqlite_storage.create("posts", {"userId": 1}, generated_ids=True)
    assert await counts() == 2  # a write: the page's is counted again
    assert await counts() == 1


@pytest.mark.parametrize("budget", [0.0005, -1.0], ids=["within-budget", "past-the-budget"])
async def test_sqlite_known_reads_run_on_sqlite3_itself_and_give_the_same_pages(
    sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch, budget: float
) -> None:
    # Once a find's statements are known, it runs on the point reader (no SQLAlchemy); past the budget
    # it goes to the pooled readers at once. Either way, the very page of the first (SQLAlchemy) read.
    from jsonserve.storage.sql import sqlite

    direct: list[str] = []
    sqlite_storage._point_reader().set_trace_callback(direct.append)
    queries = [
        Query("posts", where=Condition(("userId",), Op.EQ, "1")),
        Query("posts", window=PageRequest(2, 2), sort=(SortKey(("title",), descending=True),)),
        Query("posts", window=Slice(1, 3)),
    ]
    first = [await sqlite_storage.find(query) for query in queries]
    assert not [sql for sql in direct if "jsonserve_records" in sql]
    monkeypatch.setattr(sqlite, "READ_BUDGET", budget)
    if budget < 0:  # the clock starts at the first look: at every instruction, the second is past it
        monkeypatch.setattr(sqlite, "PROGRESS_STEPS", 1)
    checkouts = _pooled_checkouts(sqlite_storage)
    again = [await sqlite_storage.find(query) for query in queries]
    assert [(page.items, page.total) for page in again] == [(page.items, page.total) for page in first]
    assert [sql for sql in direct if "jsonserve_records" in sql]  # tried on sqlite3 itself
    assert bool(checkouts) == (budget < 0)  # interrupted: read on the pooled readers


async def test_sqlite_a_driver_error_of_the_synchronous_try_goes_to_the_readers(sqlite_storage: Any) -> None:
    # A statement run on the driver's own connection (PRAGMA data_version) raised sqlite3's errors
    # unwrapped: interrupted past the budget, it was a 500 instead of a second try on the readers.
    import sqlite3

    def work(connection: sa.Connection) -> int:
        if connection.engine is sqlite_storage.sync_engine:
            raise sqlite3.OperationalError("interrupted")
        return int(connection.exec_driver_sql("SELECT 7").scalar_one())

    assert await sqlite_storage.read_sync(work) == 7


@pytest.fixture
async def pg_storage() -> AsyncIterator[Any]:
    async with opened_storage("postgres") as opened:
        yield opened


async def test_postgres_known_reads_run_straight_on_asyncpg(pg_storage: Any) -> None:
    # Once a read's SQL is known it runs on the asyncpg pool of ``direct.py``: no SQLAlchemy checkout.
    checkouts = _pooled_checkouts(pg_storage)
    filtered = Query("posts", where=Condition(("userId",), Op.EQ, "1"), window=PageRequest(1, 2))
    first = (await pg_storage.get("posts", "3"), await pg_storage.find(filtered))
    assert checkouts
    checkouts.clear()
    for _ in range(3):
        assert (await pg_storage.get("posts", "3"), await pg_storage.find(filtered)) == first
    assert await pg_storage.get("posts", "999") is None
    assert checkouts == []
    assert first[1].total == sum(post["userId"] == 1 for post in POSTS)


async def test_postgres_a_direct_read_on_a_terminated_connection_is_answered(pg_storage: Any) -> None:
    # A connection of the direct pool terminated by the server (a restart, pg_terminate_backend):
    # the read fails there and goes through SQLAlchemy, or the pool has noticed and reconnected.
    page = Query("posts", window=PageRequest(2, 5))
    expected = (await pg_storage.get("posts", "3"), await pg_storage.find(page))
    pid = (await pg_storage.direct.fetch("SELECT pg_backend_pid()", ()))[0][0]
    async with pg_storage.engine.connect() as connection:
        await connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(3):
        assert (await pg_storage.get("posts", "3"), await pg_storage.find(page)) == expected


async def test_postgres_a_failed_direct_read_is_read_again_through_sqlalchemy(pg_storage: Any) -> None:
    # The direct pool cannot connect (here: pointed at a closed port): every read is still answered.
    page = Query("posts", window=PageRequest(2, 5))
    expected = (await pg_storage.get("posts", "3"), await pg_storage.find(page))
    await pg_storage.direct.aclose()
    pg_storage.direct.dsn = "postgresql://postgres@127.0.0.1:1/test"
    checkouts = _pooled_checkouts(pg_storage)
    assert (await pg_storage.get("posts", "3"), await pg_storage.find(page)) == expected
    assert len(checkouts) == 2  # each read went through SQLAlchemy


@pytest.mark.parametrize("source", [":memory:", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused_and_leaves_no_file(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pooled connection would see a database of its own; ``:memory:`` as a path made a file of that name."""
    from jsonserve.storage.sql.sqlite import SqliteStorage

    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageCorrupt, match="an in-memory SQLite database is not supported"):
        SqliteStorage(source)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_change_log_from_an_earlier_version_gains_the_columns_added_since(backend: str, tmp_path: Path) -> None:
    """``previous`` and ``actor`` came after the first release: an open adds them where they are missing."""
    from jsonserve.storage.sql.base import SqlStorage
    from jsonserve.storage.sql.postgres import PostgresStorage
    from jsonserve.storage.sql.sqlite import SqliteStorage

    if backend == "postgres":
        require_postgres()
    schema = f"jsonserve_test_columns_{uuid.uuid4().hex[:12]}"

    def store() -> SqlStorage:
        if backend == "sqlite":
            return SqliteStorage(str(tmp_path / "app.db"), seed=DATA)
        return PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=1, seed=DATA)

    try:
        older = store()
        await older.open()
        async with older.write_engine.begin() as connection:
            for column in ("previous", "actor"):
                await connection.exec_driver_sql(f"ALTER TABLE jsonserve_changes DROP COLUMN {column}")
        await older.aclose()
        newer = store()
        await newer.open()
        try:
            change = await newer.create("posts", {"title": "after the upgrade"}, actor="7")
            assert change.actor == "7"
            changes = await newer.changes.since(0)
            assert changes[-1].actor == "7" and changes[-1].record == change.record
        finally:
            await newer.aclose()
    finally:
        if backend == "postgres":
            cleaner = PostgresStorage(testing.POSTGRES_URL, pool_size=1)
            async with cleaner.engine.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await cleaner.aclose()


async def test_every_sqlite_store_of_the_testing_helpers_starts_from_its_data() -> None:
    """``app_client`` copies a file seeded once per data set: each copy starts afresh, refusals are as before."""
    data: dict[str, JSONValue] = {"posts": [{"id": 1, "n": 2**62, "f": 1.0}]}
    for _ in range(3):
        async with backends.app_client(data, backend="sqlite") as client:
            assert (await client.get("/posts")).json() == data["posts"]
            assert (await client.post("/posts", json={"title": "written"})).status_code == 201
    async with backends.app_client({"posts": [{"id": 1, "n": 1}]}, backend="sqlite") as client:
        assert (await client.get("/posts")).json() == [{"id": 1, "n": 1}]
    with pytest.raises(StorageCorrupt, match="64-bit"):  # SQLite's own refusal, from the store's open()
        async with backends.app_client({"posts": [{"id": 1, "n": 2**70}]}, backend="sqlite"):
            pass
