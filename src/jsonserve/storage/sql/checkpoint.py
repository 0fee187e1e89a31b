"""SQLite's WAL checkpoints, moved off the writer's path.

By default SQLite checkpoints inside the ``COMMIT`` that takes the write-ahead log past 1,000 pages:
that commit copies the log's pages into the database file and fsyncs it before it returns, so every
write of that batch (and every one queued behind it) waits. On a 278 MB database (100k posts) such
a batch took up to 130 ms, against 7 ms for the others, and made the tail latency of writes.

So the group commit's connection runs with ``wal_autocheckpoint=0``, and after a batch has committed
:class:`Checkpointer` starts a ``PASSIVE`` checkpoint on a connection of its own, in a thread of its
own, at most every :data:`CHECKPOINT_EVERY` seconds: at once if the last one started longer ago, else
when that much time has passed (so the last commits of a burst are copied too, not left in the log
until the next write). A passive checkpoint never blocks the writer or
the readers (it copies what no reader still needs; the rest waits for the next one). Durability does
not depend on it: a committed write is already in the fsynced log, and SQLite replays the log at the
next open (and checkpoints it when the last connection closes).

A checkpoint that fails is logged, and the next one copies what it did not. One that fails with an
I/O error (its ``fsync`` of the log or of the database, say) is also handed to ``failed``: the
backend then refuses writes until restart, as after a commit's I/O error, since a retried ``fsync``
can succeed although the kernel dropped the pages (reliability D4; PostgreSQL panics there).

Example:
    >>> checkpointer = Checkpointer(Path("app.db"))  # doctest: +SKIP
    >>> checkpointer.after_commit()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("jsonserve.storage")

CHECKPOINT_EVERY = 1.0  # seconds between the starts of two checkpoints, at least


class Checkpointer:
    """Passive checkpoints of one database file, in the background, after commits."""

    def __init__(
        self,
        database: Path,
        every: float = CHECKPOINT_EVERY,
        failed: Callable[[sqlite3.Error], None] | None = None,
    ) -> None:
        self.database = database
        self.every = every
        self._failed = failed  # told of each failed checkpoint, on the event loop
        self.checkpoints = 0  # how many ran (tests and metrics read it)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonserve-sqlite-checkpoint")
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._due: asyncio.TimerHandle | None = None  # the next checkpoint's start, once a commit asked for one
        self._started = float("-inf")  # the event loop's time when the last one started
        self._again = False  # a commit asked for a checkpoint while one ran
        self._closed = False

    def after_commit(self) -> None:
        """Have a checkpoint start ``every`` seconds after the last one started, or now (on the event loop)."""
        if self._closed or self._due is not None:
            return
        loop = asyncio.get_running_loop()
        self._due = loop.call_at(max(loop.time(), self._started + self.every), self._start)

    def _start(self) -> None:
        self._due = None
        if self._running is not None and not self._running.done():
            self._again = True  # the last one still runs: _report asks for the next one
            return
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._running = loop.run_in_executor(self._thread, self._checkpoint)
        self._running.add_done_callback(self._report)

    async def close(self) -> None:
        """Wait for a running checkpoint, then close the connection (SQLite checkpoints at the last close).

        Closing again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self._due is not None:
            self._due.cancel()
        if self._running is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._running
        loop = asyncio.get_running_loop()
        with contextlib.suppress(sqlite3.Error):
            await loop.run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=False)

    def _checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _report(self, done: asyncio.Future[None]) -> None:
        """Log a failed checkpoint (the next one copies what this one did not) and tell ``failed`` of it."""
        if self._again:
            self._again = False
            self.after_commit()
        if done.cancelled() or (error := done.exception()) is None:
            return
        log.warning("WAL checkpoint failed (%s); the next one will retry", error)
        if self._failed is not None and isinstance(error, sqlite3.Error):
            self._failed(error)
