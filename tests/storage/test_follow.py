"""Realtime across processes, in one test process: two storages on one database stand for two processes.

* the change feed of one follows the changes the other writes (SQLite: a poll, only when shared;
  PostgreSQL: the trigger's NOTIFY), in ``seq`` order, each once;
* a missed notification is caught up: the LISTEN connection is killed (``pg_terminate_backend``)
  again and again while the other storage writes, and every change still arrives, in order, once;
* channel messages cross through PostgreSQL (small ones in the NOTIFY, large ones through the table),
  stay inside their schema, and cross through Redis; a Redis that does not answer refuses the start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from jsonserve import testing
from jsonserve.errors import BrokerUnavailable
from jsonserve.realtime.backend import HubBackend
from jsonserve.realtime.brokers import RedisHubBackend, StorageHubBackend, hub_backend
from jsonserve.realtime.feed import ChangeFeed
from jsonserve.realtime.hub import Hub
from jsonserve.storage import Change, MemoryStorage, Storage
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema
from tests.support.redis import require_redis

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SEED = {"posts": [{"id": 1, "title": "seed"}]}


class Collect:
    """A feed sink that records the ``seq`` of each change and wakes a waiter."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.grew = asyncio.Event()

    def deliver(self, change: Change) -> None:
        self.seqs.append(change.seq)
        self.grew.set()

    def end(self) -> None:
        """Nothing to release."""

    async def until(self, count: int, timeout: float = 10.0) -> list[int]:
        async with asyncio.timeout(timeout):
            while len(self.seqs) < count:
                self.grew.clear()
                await self.grew.wait()
        return self.seqs


@contextlib.asynccontextmanager
async def two_storages(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two open storages on one database (two processes' view of it)."""
    schema = None
    if kind == "postgres":
        require_postgres()
        schema = new_schema()
        stores: list[Storage] = [
            PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=2, seed=SEED) for _ in range(2)
        ]
    else:
        path = str(tmp_path / "app.db")
        stores = [SqliteStorage(path, seed=SEED), SqliteStorage(path, seed=SEED)]
    for store in stores:
        await store.open()
    try:
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.aclose()
        if schema is not None:
            await drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two storages on one SQLite file, or one PostgreSQL schema."""
    async with two_storages(str(request.param), tmp_path) as stores:
        yield stores


@pytest.fixture
async def pg_pair(tmp_path: Path) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two storages on one PostgreSQL schema."""
    async with two_storages("postgres", tmp_path) as (one, other):
        assert isinstance(one, PostgresStorage) and isinstance(other, PostgresStorage)
        yield one, other


@contextlib.asynccontextmanager
async def feed_of(storage: Storage, *, shared: bool = True) -> AsyncIterator[tuple[ChangeFeed, Collect]]:
    feed = ChangeFeed(storage, Hub(), shared=shared)
    await feed.start()
    sink = Collect()
    feed.attach(sink)
    try:
        yield feed, sink
    finally:
        await feed.stop()


async def test_a_feed_delivers_what_another_process_writes(pair: tuple[Storage, Storage]) -> None:
    writer, reader = pair
    async with feed_of(reader) as (feed, sink):
        first = feed.cursor
        written = [(await writer.create("posts", {"title": f"t{n}"})).seq for n in range(20)]
        assert await sink.until(20) == written
        assert written == list(range(first + 1, first + 21))


async def test_only_a_store_other_processes_can_write_is_followed(tmp_path: Path) -> None:
    sqlite = SqliteStorage(str(tmp_path / "app.db"))
    assert sqlite.follow_changes(shared=False) is None  # one process pays nothing
    assert sqlite.follow_changes(shared=True) is not None
    assert MemoryStorage({}).follow_changes(shared=True) is None
    assert JsonFileStorage(tmp_path / "db.json").follow_changes(shared=True) is None
    assert MemoryStorage({}).message_bus() is None
    assert sqlite.message_bus() is None


async def test_a_missed_notification_is_caught_up(pg_pair: tuple[PostgresStorage, PostgresStorage]) -> None:
    writer, reader = pg_pair
    async with feed_of(reader) as (feed, sink):
        first = feed.cursor
        stop = asyncio.Event()
        killed = 0

        async def kill_the_listener() -> None:
            nonlocal killed
            async with writer.engine.connect() as connection:
                while not stop.is_set():
                    pid = reader.listener.backend_pid
                    if pid is not None:
                        statement = sa.text("SELECT pg_terminate_backend(:pid)")
                        killed += bool((await connection.execute(statement, {"pid": pid})).scalar())
                    await asyncio.sleep(0.03)

        killer = asyncio.create_task(kill_the_listener())
        written = []
        for n in range(60):
            written.append((await writer.create("posts", {"title": f"t{n}"})).seq)
            await asyncio.sleep(0.005)
        stop.set()
        await killer
        assert killed >= 3, f"the LISTEN connection was killed only {killed} times: the trial proves little"
        assert await sink.until(60, timeout=15) == written == list(range(first + 1, first + 61))
        await asyncio.sleep(0.2)
        assert sink.seqs == written  # and nothing twice afterwards
        assert reader.listener.connections >= 2


async def crosses(sender: HubBackend, receiver: HubBackend, messages: list[bytes]) -> list[bytes]:
    """Publish ``messages`` on one backend's hub; what the other's hub receives on the channel."""
    one, other = Hub(backend=sender), Hub(backend=receiver)
    await one.start()
    await other.start()
    try:
        subscription = await other.listen("chat:lobby")
        await asyncio.sleep(0.1)  # Redis: let the pattern subscription settle
        for message in messages:
            await one.send("chat:lobby", message)
        out: list[bytes] = []
        async with asyncio.timeout(10):
            async for data in subscription:
                out.append(data)
                if len(out) == len(messages):
                    break
        return out
    finally:
        await one.stop()
        await other.stop()


MESSAGES = [b'{"n": 1}', b'{"big": "' + b"x" * 9000 + b'"}', b'{"n": 3}', '{"t": "h\u00e9"}'.encode()]


async def test_channel_messages_cross_through_postgresql_in_order(
    pg_pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, other = pg_pair
    sender, receiver = hub_backend(None, one), hub_backend(None, other)
    assert isinstance(sender, StorageHubBackend)
    assert await crosses(sender, receiver, MESSAGES) == MESSAGES


async def test_postgresql_channels_stay_inside_their_schema(pg_pair: tuple[PostgresStorage, PostgresStorage]) -> None:
    one, _other = pg_pair
    schema = new_schema()
    stranger = PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=1, seed=SEED)
    await stranger.open()
    mine, theirs = Hub(backend=hub_backend(None, one)), Hub(backend=hub_backend(None, stranger))
    try:
        await mine.start()
        await theirs.start()
        subscription = await theirs.listen("chat:lobby")
        await mine.send("chat:lobby", b"1")
        await theirs.send("chat:lobby", b"2")
        async with asyncio.timeout(10):
            assert await anext(aiter(subscription)) == b"2"
    finally:
        await mine.stop()
        await theirs.stop()
        await stranger.aclose()
        await drop_schema(schema)


async def test_channel_messages_cross_through_redis() -> None:
    url = require_redis()
    prefix = f"jsonserve:test:{new_schema()}:"
    assert await crosses(RedisHubBackend(url, prefix), RedisHubBackend(url, prefix), MESSAGES) == MESSAGES


async def test_a_redis_that_does_not_answer_refuses_the_start() -> None:
    backend = hub_backend("redis://127.0.0.1:1/0", MemoryStorage({}))
    with pytest.raises(BrokerUnavailable, match=r"Redis at redis://127.0.0.1:1/0 cannot be reached"):
        await Hub(backend=backend).start()
