"""The hub: every committed :class:`Change` is published here, and channel messages pass through it.

Subscribers get a bounded queue; a subscriber that falls behind is dropped (``overflowed`` is set
and its iteration ends) rather than ever blocking a writer. Changes are fanned out in-process;
channel messages go through a :class:`~jsonserve.realtime.backend.HubBackend`, so that with a shared
broker they reach the listeners of every process. Realtime transports, auth and GraphQL
subscriptions plug in here.

Example:
    >>> hub = Hub()
    >>> subscription = hub.subscribe()
    >>> hub.publish(change)  # doctest: +SKIP
    >>> async with hub:  # doctest: +SKIP
    ...     lobby = await hub.listen("chat:lobby")
    ...     await hub.send("chat:lobby", b'{"text": "hi"}')
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Generic, TypeVar

from jsonserve.realtime.backend import HubBackend, MemoryHubBackend
from jsonserve.storage.changelog import Change

T = TypeVar("T")
STOP_TIMEOUT = 2.0  # seconds stop() waits for the delivery task
Predicate = Callable[[Change], bool]


class Subscription(Generic[T]):
    """One subscriber's bounded queue (of changes, or of a channel's messages)."""

    def __init__(self, limit: int, predicate: Callable[[T], bool], on_close: Callable[[Subscription[T]], None]) -> None:
        self._predicate = predicate
        self._on_close = on_close
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(limit)
        self.overflowed = False

    def offer(self, item: T) -> None:
        """Queue ``item`` if it interests this subscriber; drop the subscriber when full."""
        if not self._predicate(item):
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        """Stop receiving; a pending iteration ends."""
        self._on_close(self)
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def __aiter__(self) -> AsyncIterator[T]:
        while (item := await self._queue.get()) is not None:
            yield item


class Hub:
    """Publishes changes to every live subscription, and channel messages through a backend."""

    def __init__(self, queue_limit: int = 1000, backend: HubBackend | None = None) -> None:
        self._subscriptions: set[Subscription[Change]] = set()
        self._watchers: list[Callable[[Change], None]] = []
        self._listeners: dict[str, set[Subscription[bytes]]] = {}
        self._queue_limit = queue_limit
        self.backend = backend or MemoryHubBackend()
        self._pump: asyncio.Task[None] | None = None
        self.published = 0
        self.actions: Counter[str] = Counter()  # changes published, by action (``/metrics``)
        self.dropped = 0  # subscribers dropped for falling behind (``/metrics``; a transport that drops one adds it)

    @property
    def subscribers(self) -> int:
        """Live subscriptions: to changes, and to channels (``/metrics``)."""
        return len(self._subscriptions) + sum(len(listeners) for listeners in self._listeners.values())

    # -- changes (in-process) ------------------------------------------------------------------

    def subscribe(self, predicate: Predicate = lambda _change: True) -> Subscription[Change]:
        """A new subscription receiving the changes ``predicate`` accepts."""
        subscription = Subscription(self._queue_limit, predicate, self.unsubscribe)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[Change]) -> None:
        """Forget a subscription (idempotent)."""
        self._subscriptions.discard(subscription)

    def watch(self, watcher: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``watcher`` with every change published from now on (synchronously: it must not block).

        What the :class:`~jsonserve.realtime.feed.ChangeFeed` orders changes with. Returns the function
        that stops the calls.
        """
        self._watchers.append(watcher)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._watchers.remove(watcher)

        return stop

    def publish(self, change: Change) -> None:
        """Fan ``change`` out without ever waiting on a subscriber."""
        self.published += 1
        self.actions[change.action] += 1
        for watcher in list(self._watchers):
            watcher(change)
        for subscription in list(self._subscriptions):
            subscription.offer(change)
            self.dropped += subscription.overflowed

    # -- channels (through the backend) --------------------------------------------------------

    async def start(self) -> None:
        """Start the backend and the task that hands what arrives to the channels' listeners."""
        if self._pump is None:
            await self.backend.start()
            self._pump = asyncio.create_task(self._deliver(), name="jsonserve-hub")

    async def stop(self) -> None:
        """Stop the backend; every channel listener's iteration ends."""
        if self._pump is None:
            return
        await self.backend.stop()
        pump, self._pump = self._pump, None
        pump.cancel()
        await asyncio.wait({pump}, timeout=STOP_TIMEOUT)  # never raises the task's cancellation, keeps ours
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener.close()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def listen(self, channel: str) -> Subscription[bytes]:
        """A subscription to what is sent on ``channel`` from now on (in any process the backend reaches)."""
        listeners = self._listeners.get(channel)
        if listeners is None:
            listeners = self._listeners[channel] = set()
            await self.backend.subscribe([channel])

        def forget(subscription: Subscription[bytes]) -> None:
            listeners.discard(subscription)

        subscription = Subscription[bytes](self._queue_limit, lambda _data: True, forget)
        listeners.add(subscription)
        return subscription

    async def send(self, channel: str, data: bytes) -> None:
        """Publish ``data`` on ``channel`` to its listeners in every process."""
        await self.backend.publish(channel, data)

    async def _deliver(self) -> None:
        async for channel, data in self.backend.events():
            for listener in list(self._listeners.get(channel, ())):
                listener.offer(data)
                self.dropped += listener.overflowed
