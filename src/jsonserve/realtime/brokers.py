"""The hub backends that carry channel messages between processes: the store's bus, and Redis.

Which one a server uses (:func:`hub_backend`): Redis when ``--redis URL`` is given; else the store's
own bus when it has one (PostgreSQL ``NOTIFY``); else :class:`MemoryHubBackend` (this process only:
a JSON file, or SQLite, whose ``--workers`` then keep their channels apart).

Redis: one ``PSUBSCRIBE jsonserve:realtime:*`` per process, and ``PUBLISH`` to
``jsonserve:realtime:<channel>``; each process keeps the messages of the channels it listens on. A
server started with ``--redis`` and no Redis answering refuses to start (:class:`BrokerUnavailable`);
a Redis lost later makes publishes fail (``storage_unavailable``) and the reader retry until it is back.

Example:
    >>> backend = hub_backend("redis://127.0.0.1:6379/0", storage)  # doctest: +SKIP
    >>> async with Hub(backend=backend) as hub:  # doctest: +SKIP
    ...     await hub.send("chat:lobby", b'{"text": "hi"}')
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from jsonserve.errors import BackendUnavailable, BrokerUnavailable, StorageUnavailable
from jsonserve.realtime.backend import Event, HubBackend, MemoryHubBackend
from jsonserve.storage.base import Storage
from jsonserve.storage.follow import MessageBus
from jsonserve.storage.registry import masked

log = logging.getLogger("jsonserve.realtime")

PREFIX = "jsonserve:realtime:"
CONNECT_TIMEOUT = 3.0  # seconds Redis has to answer PING at start
READ_TIMEOUT = 1.0  # seconds one wait for a pub/sub message lasts (the reader loops)
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between attempts to read again after Redis failed
STOP_TIMEOUT = 2.0  # seconds stop() waits for the reader and the connections


def hub_backend(redis_url: str | None, storage: Storage) -> HubBackend:
    """The backend for a server: Redis with ``--redis``, else the store's bus, else this process only."""
    if redis_url:
        return RedisHubBackend(redis_url)
    bus = storage.message_bus()
    return MemoryHubBackend() if bus is None else StorageHubBackend(bus)


class StorageHubBackend(HubBackend):
    """A :class:`~jsonserve.storage.follow.MessageBus` of the store (PostgreSQL ``NOTIFY``) as a hub backend."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def start(self) -> None:
        """Start the bus."""
        await self.bus.start()

    async def stop(self) -> None:
        """Stop the bus; :meth:`events` ends."""
        await self.bus.stop()

    async def publish(self, channel: str, data: bytes) -> None:
        """Publish through the bus."""
        await self.bus.publish(channel, data)

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Receive ``channels``."""
        await self.bus.subscribe(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Stop receiving ``channels``."""
        await self.bus.unsubscribe(channels)

    def events(self) -> AsyncIterator[Event]:
        """What the bus delivers."""
        return self.bus.events()


class RedisHubBackend(HubBackend):
    """Redis pub/sub (redis-py's asyncio client): messages reach every instance on the same Redis."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None
        self._pubsub: Any = None
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._errors: tuple[type[Exception], ...] = (OSError,)  # and redis.RedisError, once imported

    async def start(self) -> None:
        """Connect and subscribe to this server's prefix; :class:`BrokerUnavailable` when Redis does not answer."""
        try:
            from redis import asyncio as redis  # optional: loaded when --redis is given
        except ImportError as error:
            raise BackendUnavailable(
                f"--redis needs the redis package: pip install 'jsonserve[redis]' ({error})"
            ) from None
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._client.ping()
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.psubscribe(self.prefix + "*")
        except self._errors as error:  # TimeoutError is an OSError
            await self._release()
            raise BrokerUnavailable(
                f"Redis at {masked(self.url)} cannot be reached ({str(error) or 'timed out'})"
            ) from None
        self._reader = asyncio.create_task(self._read(), name="jsonserve-redis-hub")

    async def stop(self) -> None:
        """Stop reading, close the connections (within :data:`STOP_TIMEOUT`); :meth:`events` ends."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait({reader}, timeout=STOP_TIMEOUT)  # never raises the task's cancellation
        await self._release()
        self._queue.put_nowait(None)

    async def _release(self) -> None:
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        for each in (pubsub, client):
            if each is None:
                continue
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await each.aclose()
            except (TimeoutError, OSError, ConnectionError) as error:
                log.debug("closing the Redis connection failed: %s", error)

    async def publish(self, channel: str, data: bytes) -> None:
        """``PUBLISH``; a Redis that cannot be reached is a :class:`StorageUnavailable` (503, an error frame)."""
        try:
            await self._client.publish(self.prefix + channel, data)
        except self._errors as error:
            raise StorageUnavailable(f"the message could not be published: Redis cannot be reached ({error})") from None

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Keep what arrives on ``channels`` (the pattern subscription already receives them)."""
        self._channels.update(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Drop what arrives on ``channels`` from now on."""
        self._channels.difference_update(channels)

    async def events(self) -> AsyncIterator[Event]:
        """Messages of the kept channels, in the order Redis delivered them, until :meth:`stop`."""
        while (event := await self._queue.get()) is not None:
            yield event

    async def _read(self) -> None:
        pause = RETRY_FIRST
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_TIMEOUT)
            except self._errors as error:  # redis-py reconnects (and subscribes again) on the next read
                log.warning("realtime: reading from Redis failed (%s); retrying in %.1f s", error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            if message is None or message.get("type") != "pmessage":
                continue
            channel = _text(message["channel"]).removeprefix(self.prefix)
            if channel in self._channels:
                self._queue.put_nowait((channel, _bytes(message["data"])))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
