"""Changes and the change log: every committed write, in ``seq`` order, for readers that resume.

Every write of every backend produces :class:`Change` values whose ``seq`` only grows, per store.
The :class:`ChangeLog` of a store keeps the recent ones (:class:`Retention`), so that a realtime
client that dropped its connection can ask for every change after the last ``seq`` it saw; a
``seq`` older than what is kept raises :class:`~jsonserve.errors.ResyncRequired`.

The SQL backends keep the log in a table written in each write's own transaction; the file
backends keep a bounded ring in memory (:class:`RingChangeLog`), whose ``seq`` the JSON file
backend carries across restarts in its journal.

Gaps: the file backends number durable changes consecutively (a write whose commit fails gives
its seq back, and a restart goes on from the journal's last durable seq). A SQL sequence may skip
the number a rolled-back transaction took (PostgreSQL; SQLite reuses it); see ``sql/changes.py``.

Example:
    >>> log = RingChangeLog(Retention(changes=2, seconds=0, ceiling=2))
    >>> log.append([Change("posts", "created", n, {"id": n}, None, n, 0.0) for n in (1, 2, 3)])
    >>> [change.seq for change in log.retained(1)]
    [2, 3]
"""

from __future__ import annotations

import marshal
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from jsonserve._types import Record, RecordId
from jsonserve.errors import ResyncRequired

Action = Literal["created", "updated", "deleted", "reset"]
"""What a change did; ``reset``: a reload replaced the whole collection (no record, no id; re-read it)."""


@dataclass(frozen=True)
class Change:
    """One committed write: what changed, from what, by whom, and its place in the store's order.

    ``actor`` is the id (as text) of the user whose request made the write, ``None`` for an anonymous
    caller or the server itself (seeding, reloads, imports).
    """

    collection: str
    action: Action
    id: RecordId | None
    record: Record | None
    previous: Record | None
    seq: int
    at: float
    actor: str | None = None


@dataclass(frozen=True)
class Retention:
    """What a change log keeps for ``since``.

    At least the newest ``changes`` changes, and older ones while they are younger than ``seconds``,
    but never more than ``ceiling`` in all (a bound on memory). The realtime contract asks for at
    least the last 10,000 changes or 24 hours.
    """

    changes: int = 10_000
    seconds: float = 24 * 3600.0
    ceiling: int = 100_000


DEFAULT_RETENTION = Retention()


class ChangeLog(ABC):
    """The committed changes of one store, oldest first, as far back as its :class:`Retention` keeps."""

    @abstractmethod
    async def latest(self) -> int:
        """The ``seq`` of the newest committed change (0 before the first)."""

    @abstractmethod
    async def since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Up to ``limit`` changes with a ``seq`` above ``seq``, ascending.

        Raises :class:`~jsonserve.errors.ResyncRequired` when changes after ``seq`` are no longer
        retained, so the caller cannot tell what it missed.
        """

    @abstractmethod
    async def append(self, changes: Iterable[Change]) -> None:
        """Record changes produced outside the store's own writes (the backends log their writes themselves)."""


_Kept = tuple[str, Action, RecordId | None, bytes, bytes, int, float, str | None]
_SEQ: Final = 5  # where a kept change holds its seq
_AT: Final = 6  # ... and its time


def _keep(change: Change) -> _Kept:
    """``change`` as the ring holds it: its records marshalled, so that nothing in it is a container."""
    return (
        change.collection,
        change.action,
        change.id,
        marshal.dumps(change.record),
        marshal.dumps(change.previous),
        change.seq,
        change.at,
        change.actor,
    )


def _unkeep(kept: _Kept) -> Change:
    collection, action, record_id, record, previous, seq, at, actor = kept
    # Bytes _keep made in this process from a record: never input from outside.
    record_value, previous_value = marshal.loads(record), marshal.loads(previous)  # noqa: S302
    return Change(collection, action, record_id, record_value, previous_value, seq, at, actor)


class RingChangeLog(ChangeLog):
    """A change log in memory: a bounded ring of the newest changes.

    ``floor`` is the highest ``seq`` that is no longer (or was never) retained: a reader may resume
    from any ``seq >= floor``.

    The ring holds each change as a plain tuple of its fields with its records marshalled (bytes), not
    as a :class:`Change`: the cyclic garbage collector stops tracking a tuple that holds nothing but
    strings, numbers and bytes, so up to ``ceiling`` kept changes add nothing to a full collection's
    pause. As ``Change`` objects (or tuples holding the record dicts), 100,000 of them made every
    full collection walk them all: pauses of tens of milliseconds, several a second under continuous
    writes, which made the tail latency of every request. (``marshal`` round-trips JSON values
    exactly, in about a microsecond; the bytes live and die in this process only.)
    """

    def __init__(
        self, retention: Retention = DEFAULT_RETENTION, *, floor: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self.retention = retention
        self.floor = floor
        self._ring: deque[_Kept] = deque()
        self._clock = clock

    def newest(self) -> int:
        """The newest ``seq`` held or dropped (``floor`` when the ring is empty)."""
        return self._ring[-1][_SEQ] if self._ring else self.floor

    async def latest(self) -> int:
        """The newest ``seq``."""
        return self.newest()

    async def since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Changes after ``seq``, or :class:`ResyncRequired` when ``seq`` is below the floor."""
        return self.retained(seq, limit)

    def retained(self, seq: int, limit: int = 1000) -> list[Change]:
        """:meth:`since`, synchronously."""
        if seq < self.floor:
            raise ResyncRequired(
                f"changes after seq {seq} are no longer retained (the oldest kept follows {self.floor})", self.newest()
            )
        if seq > self.newest():  # a seq this store never reached: it was restarted or replaced since
            raise ResyncRequired(f"seq {seq} is ahead of this store's latest ({self.newest()})", self.newest())
        result: list[_Kept] = []
        for kept in reversed(self._ring):  # the newest are asked for most: walk back to seq
            if kept[_SEQ] <= seq:
                break
            result.append(kept)
        result.reverse()
        return [_unkeep(kept) for kept in result[:limit]]

    async def append(self, changes: Iterable[Change]) -> None:
        """Add changes (their ``seq`` must ascend past :meth:`newest`)."""
        self.add(changes)

    def add(self, changes: Iterable[Change]) -> None:
        """:meth:`append`, synchronously: what the file backends call as they commit."""
        self._ring.extend(_keep(change) for change in changes)
        self._trim()

    def _trim(self) -> None:
        retention, ring = self.retention, self._ring
        oldest_kept = self._clock() - retention.seconds
        while ring and (
            len(ring) > retention.ceiling or (len(ring) > retention.changes and ring[0][_AT] < oldest_kept)
        ):
            self.floor = ring.popleft()[_SEQ]
