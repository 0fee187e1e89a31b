"""Following a store that other processes write to: change wake-ups, and a message bus.

The change log is the truth; a :class:`ChangeSignal` only says "there may be something new": a
PostgreSQL notification, or the tick of a poll. The realtime feed then reads the log after its cursor
(so a missed wake-up costs latency, never a change). A :class:`MessageBus` carries realtime channel
messages between the processes sharing a database (PostgreSQL ``NOTIFY``). Only stores that other
processes can share offer either (:meth:`Storage.follow_changes`, :meth:`Storage.message_bus`); the
realtime layer reaches them through these interfaces, never through SQL code.

Example:
    >>> signal = PollSignal(0.05)
    >>> await signal.start(); await signal.wait(); await signal.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable

Message = tuple[str, bytes]
"""A channel message as it arrives: the channel, and the bytes published to it."""


class ChangeSignal(ABC):
    """Wake-ups: other processes may have appended to the change log since the last one."""

    @abstractmethod
    async def start(self) -> None:
        """Begin listening (never raises for an unreachable database: :meth:`wait` keeps trying)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop listening and release what :meth:`start` took (bounded in time)."""

    @abstractmethod
    async def wait(self) -> None:
        """Return at the next wake-up: a notification, or the safety poll's period elapsed.

        Cancellable at any point (it never swallows :class:`asyncio.CancelledError`).
        """


class PollSignal(ChangeSignal):
    """A wake-up every ``interval`` seconds: for a store with no notifications (SQLite shared by workers)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def wait(self) -> None:
        """Sleep one period."""
        await asyncio.sleep(self.interval)


class MessageBus(ABC):
    """Carries channel messages to every process sharing the store (this one included)."""

    @abstractmethod
    async def start(self) -> None:
        """Connect (called once, before the other methods)."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; a pending :meth:`events` iteration ends (bounded in time)."""

    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to the subscribers of ``channel`` in every process."""

    @abstractmethod
    async def subscribe(self, channels: Iterable[str]) -> None:
        """Receive what is published on ``channels``."""

    @abstractmethod
    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Stop receiving what is published on ``channels``."""

    @abstractmethod
    def events(self) -> AsyncIterator[Message]:
        """What arrives on the subscribed channels until :meth:`stop`."""
