"""The change feed: every committed change once, in ``seq`` order, for realtime subscribers.

The hub hears of changes as the writers publish them, which is not always in ``seq`` order (two
writers resume in either order; a PostgreSQL transaction that took a lower ``seq`` may commit after
one that took a higher; a request cancelled while its write commits never publishes). The feed puts
them back in order: a change that follows the last one delivered (its ``cursor``) goes out at once;
a later one waits for the numbers before it. When such a hole does not fill within ``settle``
seconds, the store's change log (the source of truth) is read: a change committed but never
published is found there; a number a rolled-back transaction consumed (PostgreSQL) is never found,
and after ``grace`` seconds the feed moves past it.

Changes made by other processes (``--workers``, other instances on one PostgreSQL) never reach this
process's hub: the storage's :class:`~jsonserve.storage.follow.ChangeSignal` (a ``LISTEN``
notification, or a poll) wakes the feed, which reads the log after its cursor and :meth:`offers
<ChangeFeed.offer>` what it finds, as it does to fill a hole: the feed drops what it has already
delivered, so a change may arrive both ways.

Sinks are called synchronously, from the writer's task, and must never wait: a realtime connection
queues what it is given and closes itself when its queue is full.

Resuming (:func:`retained`): a subscriber :meth:`attaches <ChangeFeed.attach>` first, which gives the
feed's cursor ``C`` at that moment, then replays the retained changes in ``(since, C]`` from the log;
everything after ``C`` reaches it live. So nothing falls between the replay and the live changes,
and nothing comes twice.

Example:
    >>> feed = ChangeFeed(storage, hub)  # doctest: +SKIP
    >>> await feed.start()  # doctest: +SKIP
    >>> cursor, detach = feed.attach(sink)  # doctest: +SKIP
    >>> [change.seq async for change in retained(storage.changes, 40, cursor)]  # doctest: +SKIP
    [41, 42]
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from jsonserve.errors import ResyncRequired
from jsonserve.realtime.hub import Hub
from jsonserve.storage.base import Storage
from jsonserve.storage.changelog import Change, ChangeLog
from jsonserve.storage.follow import ChangeSignal

log = logging.getLogger("jsonserve.realtime")

SETTLE = 0.02  # seconds a hole may stay open before the change log is read
GRACE = 1.0  # seconds before the feed moves past a number that never committed
POLL = 0.05  # seconds between reads of the change log while a hole stays open
PAGE = 1000  # changes per read of the change log
STOP_TIMEOUT = 2.0  # seconds stop() waits for each background task to end


class Sink(Protocol):
    """What the feed delivers to: one realtime subscription."""

    def deliver(self, change: Change) -> None:
        """Take one change (never wait)."""
        ...

    def end(self) -> None:
        """The feed stopped: no more changes will come."""
        ...


class ChangeFeed:
    """Committed changes in ``seq`` order, each once, to every attached :class:`Sink`."""

    def __init__(
        self,
        storage: Storage,
        hub: Hub,
        *,
        settle: float = SETTLE,
        grace: float = GRACE,
        clock: Callable[[], float] = time.monotonic,
        shared: bool = False,
    ) -> None:
        self._storage = storage
        self._shared = shared  # other worker processes write to the same store (``--workers``)
        self._hub = hub
        self._settle = settle
        self._grace = grace
        self._clock = clock
        self.cursor = 0
        """The ``seq`` of the last change delivered (or skipped)."""
        self._sinks: set[Sink] = set()
        self._pending: dict[int, Change] = {}
        self._hole_since: float | None = None
        self._hole = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._signal: ChangeSignal | None = None
        self._follower: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        """Whether the feed was started and not stopped."""
        return self._task is not None

    async def start(self) -> None:
        """Start from the store's latest ``seq`` (the storage must be open)."""
        if self._task is not None:
            return
        self.cursor = await self._storage.changes.latest()
        self._unwatch = self._hub.watch(self.offer)
        self._task = asyncio.create_task(self._fill_holes(), name="jsonserve-feed")
        self._signal = self._storage.follow_changes(self._shared)
        if self._signal is not None:
            await self._signal.start()
            self._follower = asyncio.create_task(self._follow(self._signal), name="jsonserve-feed-follow")

    async def stop(self) -> None:
        """Stop; every sink is :meth:`ended <Sink.end>` (idempotent)."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._unwatch is not None:
            self._unwatch()
        follower, self._follower = self._follower, None
        signal, self._signal = self._signal, None
        for each in (task, follower):
            if each is not None:
                each.cancel()
                await asyncio.wait({each}, timeout=STOP_TIMEOUT)  # never raises the task's cancellation
        if signal is not None:
            await signal.stop()
        sinks, self._sinks = self._sinks, set()
        for sink in sinks:
            sink.end()

    def attach(self, sink: Sink) -> tuple[int, Callable[[], None]]:
        """Deliver every change after the current cursor to ``sink``; the cursor, and the function that detaches."""
        self._sinks.add(sink)

        def detach() -> None:
            self._sinks.discard(sink)

        return self.cursor, detach

    def offer(self, change: Change) -> None:
        """A committed change, in any order, maybe again: delivered once its turn comes."""
        if change.seq <= self.cursor:
            return
        if change.seq != self.cursor + 1:
            self._pending.setdefault(change.seq, change)
            if self._hole_since is None:
                self._hole_since = self._clock()
                self._hole.set()
            return
        self._deliver(change)
        while (following := self._pending.pop(self.cursor + 1, None)) is not None:
            self._deliver(following)
        self._hole_since = self._clock() if self._pending else None

    def _deliver(self, change: Change) -> None:
        self.cursor = change.seq
        for sink in list(self._sinks):
            sink.deliver(change)

    async def _fill_holes(self) -> None:
        while True:
            await self._hole.wait()
            await asyncio.sleep(self._settle)
            while self._pending:
                await self._read_log()
                if not self._pending:
                    break
                if self._hole_since is not None and self._clock() - self._hole_since >= self._grace:
                    self._skip()
                    continue
                await asyncio.sleep(POLL)
            self._hole.clear()

    async def _follow(self, signal: ChangeSignal) -> None:
        """At each wake-up, read what other processes appended to the log (all of it, a page at a time)."""
        while True:
            await signal.wait()
            while True:
                before = self.cursor
                if await self._read_log() < PAGE or self.cursor == before:  # read all, or stuck at a hole
                    break

    async def _read_log(self) -> int:
        """Offer the logged changes after the cursor (one page); how many were read."""
        try:
            found = await self._storage.changes.since(self.cursor, PAGE)
        except ResyncRequired:  # what is missing is no longer retained: it cannot be delivered
            self._skip()
            return 0
        except Exception as error:  # a storage failure must not end the feed: try again at the next poll
            log.warning("reading the change log failed (%s); retrying", error)
            return 0
        for change in found:
            self.offer(change)
        return len(found)

    def _skip(self) -> None:
        """Move past the hole before the first pending change (a number that never committed)."""
        if not self._pending:
            return
        first = min(self._pending)
        log.debug("seq %d..%d never committed; moving on", self.cursor + 1, first - 1)
        self.cursor = first - 1
        self.offer(self._pending.pop(first))


async def retained(changelog: ChangeLog, since: int, upto: int) -> AsyncIterator[Change]:
    """The retained changes with ``since < seq <= upto``, ascending (read a page at a time).

    Raises :class:`~jsonserve.errors.ResyncRequired` when ``since`` is older than the log keeps, or
    ahead of the store's latest ``seq``.
    """
    cursor = since
    while True:
        batch = await changelog.since(cursor, PAGE)
        for change in batch:
            if change.seq > upto:
                return
            yield change
        if len(batch) < PAGE:
            return
        cursor = batch[-1].seq
