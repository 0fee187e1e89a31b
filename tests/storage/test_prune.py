"""The SQL change log's pruning: what :class:`Retention` keeps, on SQLite and PostgreSQL.

Beyond the newest ``changes``, the oldest changes go while they are older than ``seconds`` (a prefix,
as the in-memory ring drops them), and everything beyond ``ceiling`` goes. On SQLite the prune runs
every ``PRUNE_EVERY`` writes as one more item of a group commit, in the background.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve.storage.changelog import Retention
from jsonserve.storage.sql import sqlite as sqlite_module
from jsonserve.storage.sql.base import SqlStorage
from jsonserve.storage.sql.compile import changes
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema

pytestmark = pytest.mark.anyio

DATA = {"posts": [{"id": 1, "title": "first"}]}

Build = Callable[[Retention, Callable[[], float]], SqlStorage]


@pytest.fixture(params=["sqlite", "postgres"])
async def build(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Build]:
    """Opened stores of one SQL kind, with the given retention and clock; closed afterwards."""
    opened: list[SqlStorage] = []
    schema = new_schema()
    if request.param == "postgres":
        require_postgres()

    def make(retention: Retention, clock: Callable[[], float]) -> SqlStorage:
        store: SqlStorage
        if request.param == "sqlite":
            store = SqliteStorage(str(tmp_path / "app.db"), seed=DATA, retention=retention, clock=clock)
        else:
            store = PostgresStorage(testing.POSTGRES_URL, schema=schema, seed=DATA, retention=retention, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()
    if request.param == "postgres":
        await drop_schema(schema)


async def _seqs(store: SqlStorage) -> list[int]:
    async with store.transaction() as connection:
        return list((await connection.execute(sa.select(changes.c.seq).order_by(changes.c.seq))).scalars())


async def _prune(store: SqlStorage) -> None:
    async with store.transaction() as connection:
        await store.changes.prune(connection)


async def _write(store: SqlStorage, count: int) -> None:
    for n in range(count):
        await store.create("posts", {"title": f"post {n}"})


async def test_young_changes_are_kept_up_to_the_ceiling(build: Build) -> None:
    store = build(Retention(changes=5, seconds=100.0, ceiling=20), lambda: 1000.0)
    await store.open()
    await _write(store, 30)
    newest = (await _seqs(store))[-1]
    await _prune(store)
    assert await _seqs(store) == list(range(newest - 19, newest + 1))


async def test_old_changes_go_beyond_the_newest_kept(build: Build) -> None:
    now = [0.0]
    store = build(Retention(changes=5, seconds=100.0, ceiling=1000), lambda: now[0])
    await store.open()
    await _write(store, 10)  # at 0
    now[0] = 1000.0
    await _write(store, 10)  # at 1000
    seqs = await _seqs(store)
    now[0] = 1050.0  # the first ten are older than 100 s, the last ten are not
    await _prune(store)
    assert await _seqs(store) == seqs[-10:]
    now[0] = 5000.0  # all are old now: the newest five stay
    await _prune(store)
    assert await _seqs(store) == seqs[-5:]


async def test_a_prune_that_deletes_nothing_keeps_everything(build: Build) -> None:
    store = build(Retention(changes=5, seconds=100.0, ceiling=1000), lambda: 50.0)
    await store.open()
    await _write(store, 12)
    seqs = await _seqs(store)
    await _prune(store)
    assert await _seqs(store) == seqs


async def test_sqlite_prunes_in_a_group_commit_every_so_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "PRUNE_EVERY", 10)
    store = SqliteStorage(
        str(tmp_path / "app.db"), seed=DATA, retention=Retention(changes=1, seconds=3600.0, ceiling=5)
    )
    await store.open()
    try:
        await _write(store, 10)  # the tenth queues a prune; the next writes' batches hold it
        await _write(store, 2)
        seqs = await _seqs(store)
    finally:
        await store.aclose()
    assert 5 <= len(seqs) <= 7
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
