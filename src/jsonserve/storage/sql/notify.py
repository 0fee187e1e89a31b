r"""PostgreSQL ``LISTEN/NOTIFY``: change wake-ups and realtime channel messages across instances.

A statement trigger on ``jsonserve_changes`` notifies ``jsonserve_changes.<schema>`` with the highest
``seq`` the statement inserted; the notification is sent at commit, so it never announces a change
another session cannot read yet. Each process holds ONE dedicated asyncpg connection (never one of the
request pool, so a pool exhausted or being re-established never delays it, nor it the pool), which
``LISTEN``s on that channel and on ``jsonserve_messages.<schema>``. A supervisor task reconnects it
when it drops (PostgreSQL restarted, ``pg_terminate_backend``) with a growing pause, and wakes the
feed after every (re)connection so that what was written meanwhile is read from the log.

Channel messages: a payload is ``i<channel>\n<data>``; a message too large for ``NOTIFY``'s 8000
bytes is stored in the ``jsonserve_messages`` table and its id is sent instead (``t<id>``); rows
older than :data:`MESSAGE_AGE` seconds are deleted by later publishers. The schema in the channel
names keeps the data sets of one database apart (NOTIFY channels are per database).

Example:
    >>> signal = storage.follow_changes(shared=False)  # doctest: +SKIP
    >>> await signal.start(); await signal.wait()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # the LISTEN connection is asyncpg's own
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from jsonserve.storage.follow import ChangeSignal, Message, MessageBus
from jsonserve.storage.sql.database import Database

if TYPE_CHECKING:
    from jsonserve.storage.sql.postgres import PostgresStorage

log = logging.getLogger("jsonserve.storage")

CHANGES = "jsonserve_changes"
MESSAGES = "jsonserve_messages"
SAFETY_POLL = 1.0  # seconds: a missed notification is caught up within this
CONNECT_TIMEOUT = 5.0  # seconds for one connection attempt of the listener
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between reconnection attempts (doubling)
STOP_TIMEOUT = 2.0  # seconds stop() waits for the connection to close
PAYLOAD_LIMIT = 7900  # bytes of a NOTIFY payload (PostgreSQL's limit is 8000, the channel name aside)
MESSAGE_AGE = 60.0  # seconds a large message stays in its table for the listeners to fetch
_LOCK_KEY = 0x6A736F6E  # pg_advisory_xact_lock: one instance at a time installs the trigger ("json")

DDL = (  # constants only: no value from outside reaches these statements
    f"""CREATE TABLE IF NOT EXISTS {MESSAGES} (
        id bigserial PRIMARY KEY, channel text NOT NULL, data text NOT NULL, at double precision NOT NULL)""",
    f"""CREATE OR REPLACE FUNCTION {CHANGES}_notify() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        PERFORM pg_notify(left('{CHANGES}.' || TG_TABLE_SCHEMA, 63), (SELECT max(seq)::text FROM added));
        RETURN NULL;
    END $body$""",  # noqa: S608
)
TRIGGER = (
    f"CREATE TRIGGER {CHANGES}_notify AFTER INSERT ON {CHANGES} REFERENCING NEW TABLE AS added "
    f"FOR EACH STATEMENT EXECUTE PROCEDURE {CHANGES}_notify()"
)


def channel(base: str, schema: str) -> str:
    """The NOTIFY channel of ``base`` for the data set in ``schema`` (as the trigger names it)."""
    return f"{base}.{schema}"[:63]


async def install(connection: AsyncConnection) -> None:
    """Create the notifying trigger and the large-message table if missing (one instance at a time).

    Nothing is written when both exist, so a read-only database (or user) opens as before.
    """
    if await _installed(connection):
        return
    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    for statement in DDL:
        await connection.exec_driver_sql(statement)
    if not await _installed(connection):  # checked first: CREATE TRIGGER locks the table against writers
        await connection.exec_driver_sql(TRIGGER)


async def _installed(connection: AsyncConnection) -> bool:
    query = sa.text(
        "SELECT to_regclass(:messages) IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = to_regclass(:changes))"
    )
    found = await connection.execute(query, {"messages": MESSAGES, "name": f"{CHANGES}_notify", "changes": CHANGES})
    return bool(found.scalar())


class PgListener:
    """The one LISTEN connection of a :class:`PostgresStorage`, kept connected by a supervisor task."""

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage
        self.changed = asyncio.Event()
        self.messages: asyncio.Queue[str | None] = asyncio.Queue()
        self._dropped = asyncio.Event()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._users = 0
        self.schema = ""
        self.connections = 0  # how many times it connected (tests, logs)

    @property
    def backend_pid(self) -> int | None:
        """The server process of the LISTEN connection while connected (for diagnostics: ``pg_stat_activity``)."""
        connection = self._connection
        return None if connection is None or connection.is_closed() else int(connection.get_server_pid())

    async def start(self) -> None:
        """Start the supervisor (for the first user) and wait, at most :data:`CONNECT_TIMEOUT`, until it listens.

        Waiting means that a channel subscribed as the server starts hears what is published next; a
        database that does not answer delays the start by that much and no more (the supervisor goes on).
        """
        self._users += 1
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="jsonserve-pg-listen")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._listening.wait()

    async def stop(self) -> None:
        """For the last user: stop the supervisor and close the connection, within :data:`STOP_TIMEOUT`."""
        self._users -= 1
        if self._users > 0 or self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)  # never raises the task's cancellation, keeps ours
        await self._close()

    async def shutdown(self) -> None:
        """Stop whatever users remain (the storage is closing)."""
        if self._task is not None:
            self._users = 1
            await self.stop()

    async def _supervise(self) -> None:
        pause = RETRY_FIRST
        while True:
            try:
                await self._connect()
            except Exception as error:  # whatever a failing database raises: retried, never the end of the task
                # One warning per outage; the retries that follow are logged at debug level.
                level = logging.WARNING if pause == RETRY_FIRST else logging.DEBUG
                log.log(
                    level, "realtime: cannot listen to PostgreSQL (%s); retrying every %.1f s at most", error, RETRY_MAX
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            self.changed.set()  # catch up on what was written while not listening
            await self._dropped.wait()
            self._listening.clear()
            log.info("realtime: the PostgreSQL LISTEN connection dropped; reconnecting")
            await self._close()
            await asyncio.sleep(RETRY_FIRST)

    async def _connect(self) -> None:
        self._dropped.clear()
        settings = {"search_path": self._storage.schema} if self._storage.schema else None
        connection = await asyncpg.connect(
            self._storage.dsn, timeout=CONNECT_TIMEOUT, server_settings=settings, command_timeout=CONNECT_TIMEOUT
        )
        try:
            self.schema = str(await connection.fetchval("SELECT current_schema()"))
            connection.add_termination_listener(lambda _connection: self._dropped.set())
            await connection.add_listener(channel(CHANGES, self.schema), self._on_change)
            await connection.add_listener(channel(MESSAGES, self.schema), self._on_message)
        except BaseException:
            connection.terminate()  # no await: cancellation must not be held up by a dead socket
            raise
        self._connection = connection
        self.connections += 1
        self._listening.set()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await connection.close()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            connection.terminate()

    def _on_change(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        self.changed.set()

    def _on_message(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        self.messages.put_nowait(str(payload))


class PgChangeSignal(ChangeSignal):
    """Wake-ups from the trigger's notifications, and every :data:`SAFETY_POLL` seconds regardless."""

    def __init__(self, listener: PgListener, poll: float = SAFETY_POLL) -> None:
        self._listener = listener
        self._poll = poll

    async def start(self) -> None:
        """Share the storage's LISTEN connection."""
        await self._listener.start()

    async def stop(self) -> None:
        """Let go of the LISTEN connection (closed with its last user)."""
        await self._listener.stop()

    async def wait(self) -> None:
        """Until a notification or :attr:`poll` seconds (a timeout, not a swallowed cancellation)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll):
                await self._listener.changed.wait()
        self._listener.changed.clear()


class PgMessageBus(MessageBus):
    """Channel messages through ``NOTIFY`` (and the ``jsonserve_messages`` table when too large)."""

    def __init__(self, storage: PostgresStorage, listener: PgListener) -> None:
        self._storage = storage
        self._listener = listener
        self._channels: set[str] = set()
        self._pruned = 0.0

    async def start(self) -> None:
        """Share the storage's LISTEN connection."""
        await self._listener.start()

    async def stop(self) -> None:
        """Let go of the LISTEN connection; :meth:`events` ends."""
        await self._listener.stop()
        self._listener.messages.put_nowait(None)

    async def publish(self, channel_name: str, data: bytes) -> None:
        """NOTIFY every instance; through the table when the payload is too large (one pooled transaction)."""
        text = data.decode()
        payload = f"i{channel_name}\n{text}"
        target = channel(MESSAGES, self._listener.schema or await self._schema())

        async def work(connection: AsyncConnection) -> None:
            body = payload
            if len(payload.encode()) > PAYLOAD_LIMIT:
                body = f"t{await self._store(connection, channel_name, text)}"
            await connection.execute(sa.select(sa.func.pg_notify(target, body)))

        # Database.write: the storage's error mapping (an outage is a 503-like StorageUnavailable)
        # without counting a data write.
        await Database.write(self._storage, work)

    async def _store(self, connection: AsyncConnection, channel_name: str, text: str) -> int:
        now = time.time()
        if now - self._pruned > MESSAGE_AGE:
            self._pruned = now
            await connection.execute(sa.text(f"DELETE FROM {MESSAGES} WHERE at < :old"), {"old": now - MESSAGE_AGE})  # noqa: S608
        row = await connection.execute(
            sa.text(f"INSERT INTO {MESSAGES} (channel, data, at) VALUES (:channel, :data, :at) RETURNING id"),  # noqa: S608
            {"channel": channel_name, "data": text, "at": now},
        )
        return int(row.scalar_one())

    async def _schema(self) -> str:
        async def work(connection: AsyncConnection) -> str:
            return str((await connection.execute(sa.text("SELECT current_schema()"))).scalar_one())

        return await self._storage.read(work)

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Deliver what arrives on ``channels`` (every instance's messages arrive; others are dropped here)."""
        self._channels.update(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Drop what arrives on ``channels`` from now on."""
        self._channels.difference_update(channels)

    async def events(self) -> AsyncIterator[Message]:
        """Each message of a subscribed channel, in the order the notifications arrived."""
        while (payload := await self._listener.messages.get()) is not None:
            message = await self._decode(payload)
            if message is not None and message[0] in self._channels:
                yield message

    async def _decode(self, payload: str) -> Message | None:
        kind, rest = payload[:1], payload[1:]
        if kind == "i":
            name, _, text = rest.partition("\n")
            return name, text.encode()
        if kind == "t" and rest.isdigit():
            return await self._fetch(int(rest))
        return None

    async def _fetch(self, message_id: int) -> Message | None:
        async def work(connection: AsyncConnection) -> tuple[str, str] | None:
            query = sa.text(f"SELECT channel, data FROM {MESSAGES} WHERE id = :id")  # noqa: S608
            row = (await connection.execute(query, {"id": message_id})).first()
            return None if row is None else (str(row[0]), str(row[1]))

        try:
            found = await self._storage.read(work)
        except Exception as error:  # a failing database must not end the hub's delivery task
            log.warning("realtime: a large channel message could not be read (%s); dropped", error)
            return None
        return None if found is None else (found[0], found[1].encode())
