"""SQLite's WAL checkpoints, moved off the writer's path.

By default SQLite checkpoints inside the ``COMMIT`` that takes the write-ahead log past 1,000 pages:
that commit copies the log's pages into the database file and fsyncs it before it returns, so every
write of that batch (and every one queued behind it) waits. On a 278 MB database (100k posts) such
a batch took up to 130 ms, against 7 ms for the others, and made the tail latency of writes.

So the group commit's connection runs with ``wal_autocheckpoint=0``, and after a batch has committed
:class:`Checkpointer` starts a ``PASSIVE`` checkpoint on a connection of its own, in a thread of its
own, at most every :data:`CHECKPOINT_EVERY` seconds. A passive checkpoint never blocks the writer or
the readers (it copies what no reader still needs; the rest waits for the next one). Durability does
not depend on it: a committed write is already in the fsynced log, and SQLite replays the log at the
next open (and checkpoints it when the last connection closes).

Example:
    >>> checkpointer = Checkpointer(Path("app.db"))  # doctest: +SKIP
    >>> checkpointer.after_commit()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("jsonserve.storage")

CHECKPOINT_EVERY = 1.0  # seconds between the starts of two checkpoints, at least


class Checkpointer:
    """Passive checkpoints of one database file, in the background, after commits."""

    def __init__(self, database: Path, every: float = CHECKPOINT_EVERY) -> None:
        self.database = database
        self.every = every
        self.checkpoints = 0  # how many ran (tests and metrics read it)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonserve-sqlite-checkpoint")
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._started = float("-inf")
        self._closed = False

    def after_commit(self) -> None:
        """Start a checkpoint unless one runs or one started less than ``every`` seconds ago (on the loop)."""
        if self._closed or (self._running is not None and not self._running.done()):
            return
        now = time.monotonic()
        if now - self._started < self.every:
            return
        self._started = now
        self._running = asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)
        self._running.add_done_callback(_report)

    async def close(self) -> None:
        """Wait for a running checkpoint, then close the connection (SQLite checkpoints at the last close).

        Closing again does nothing.
        """
        if self._closed:
            return
        self._closed = True
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


def _report(done: asyncio.Future[None]) -> None:
    """A failed checkpoint is only logged: the next one copies what this one did not."""
    if not done.cancelled() and (error := done.exception()) is not None:
        log.warning("WAL checkpoint failed (%s); the next one will retry", error)
