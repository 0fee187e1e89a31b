"""The in-process hub: every committed :class:`Change` is published here.

Subscribers get a bounded queue; a subscriber that falls behind is dropped (``overflowed`` is set
and its iteration ends) rather than ever blocking a writer. Realtime transports, auth and GraphQL
subscriptions plug in here.

Example:
    >>> hub = Hub()
    >>> subscription = hub.subscribe()
    >>> hub.publish(change)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from jsonserve.storage.changelog import Change

Predicate = Callable[[Change], bool]


class Subscription:
    """One subscriber's bounded queue of changes."""

    def __init__(self, hub: Hub, predicate: Predicate, limit: int) -> None:
        self._hub = hub
        self._predicate = predicate
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(limit)
        self.overflowed = False

    def offer(self, change: Change) -> None:
        """Queue ``change`` if it interests this subscriber; drop the subscriber when full."""
        if not self._predicate(change):
            return
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        """Stop receiving; a pending iteration ends."""
        self._hub.unsubscribe(self)
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def __aiter__(self) -> AsyncIterator[Change]:
        while (change := await self._queue.get()) is not None:
            yield change


class Hub:
    """Publishes changes to every live subscription."""

    def __init__(self, queue_limit: int = 1000) -> None:
        self._subscriptions: set[Subscription] = set()
        self._queue_limit = queue_limit
        self.published = 0

    def subscribe(self, predicate: Predicate = lambda _change: True) -> Subscription:
        """A new subscription receiving the changes ``predicate`` accepts."""
        subscription = Subscription(self, predicate, self._queue_limit)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (idempotent)."""
        self._subscriptions.discard(subscription)

    def publish(self, change: Change) -> None:
        """Fan ``change`` out without ever waiting on a subscriber."""
        self.published += 1
        for subscription in list(self._subscriptions):
            subscription.offer(change)
