"""Hub backends: how messages on named channels travel between the hubs of several processes.

One process needs no more than :class:`MemoryHubBackend`. Several worker processes or instances need
a shared broker (PostgreSQL ``LISTEN/NOTIFY`` or Redis pub/sub: :mod:`jsonserve.realtime.brokers`)
behind the same few methods, modelled on litestar's channels backends: start, stop, publish to a
channel, subscribe and unsubscribe channels, and one stream of what arrives on the subscribed ones.

Example:
    >>> backend = MemoryHubBackend()
    >>> await backend.subscribe(["chat:lobby"])  # doctest: +SKIP
    >>> await backend.publish("chat:lobby", b"hi")  # doctest: +SKIP
    >>> await anext(aiter(backend.events()))  # doctest: +SKIP
    ('chat:lobby', b'hi')
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable

Event = tuple[str, bytes]
"""A message as it arrives: the channel, and the bytes published to it."""


class HubBackend(ABC):
    """Carries published bytes to every process subscribed to their channel (this one included)."""

    @abstractmethod
    async def start(self) -> None:
        """Connect to the broker (called once, before any other method)."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; a pending :meth:`events` iteration ends."""

    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every subscriber of ``channel`` in every process."""

    @abstractmethod
    async def subscribe(self, channels: Iterable[str]) -> None:
        """Start receiving what is published on ``channels``."""

    @abstractmethod
    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Stop receiving what is published on ``channels``."""

    @abstractmethod
    def events(self) -> AsyncIterator[Event]:
        """What arrives on the subscribed channels, in the order it was published, until :meth:`stop`."""


class MemoryHubBackend(HubBackend):
    """The backend of a single process: a publish reaches this process's subscribed channels only."""

    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """End the stream of events."""
        self._queue.put_nowait(None)

    async def publish(self, channel: str, data: bytes) -> None:
        """Queue ``data`` for this process if it listens on ``channel`` (the queue is unbounded: the hub drains it)."""
        if channel in self._channels:
            self._queue.put_nowait((channel, data))

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Listen on ``channels``."""
        self._channels.update(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Stop listening on ``channels``."""
        self._channels.difference_update(channels)

    async def events(self) -> AsyncIterator[Event]:
        """Queued events until :meth:`stop`."""
        while (event := await self._queue.get()) is not None:
            yield event
