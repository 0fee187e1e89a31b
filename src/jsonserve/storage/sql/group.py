"""SQLite's group commit: concurrent writes share one transaction, one ``COMMIT`` and so one ``fsync``.

SQLite admits one writer, and with ``synchronous=FULL`` every commit waits for an ``fsync`` of the
write-ahead log: one transaction per write caps a server at a few hundred writes a second, and every
statement of it paid a thread hop through aiosqlite. Here the writes that arrive while a batch is on
disk queue up; the next batch runs them all on one connection, in one thread hop:

    BEGIN IMMEDIATE
      SAVEPOINT → write 1 → RELEASE          (a write that raises — a 409, a 412, a rule's 403 —
      SAVEPOINT → write 2 → ROLLBACK TO      is rolled back alone and gets its error)
      …
    COMMIT                                    (one fsync; only now is any write of the batch answered)

Each write appends its change-log row inside its savepoint, so ``seq`` follows the order the writes
ran in, and the answers are given in that order. A database error inside a write (disk full, an I/O
error) rolls the whole transaction back: that write gets the error, the others of the batch go back
to the head of the queue and run again (nothing of them was committed). A failed ``BEGIN`` or
``COMMIT`` fails the whole batch: after a failed commit the outcome is unknown, so nothing is retried.

Example:
    >>> group = GroupCommit(connect, lock)  # doctest: +SKIP
    >>> change = await group.submit(lambda connection: writes.create(...))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from jsonserve.errors import StorageUnavailable

T = TypeVar("T")
MAX_BATCH = 256  # writes per transaction at most: bounds the latency a batch adds to the writes behind it
CLOSE_TIMEOUT = 10.0  # seconds close() waits for the queued writes before it refuses them


@dataclass
class Done(Generic[T]):
    """A write that ran: its value, or the error it raised (rolled back to its savepoint)."""

    value: T | None = None
    error: Exception | None = None


@dataclass
class DatabaseFailure:
    """A database error: the write failed, and (``rerun``) the other writes of its batch run again."""

    error: sa.exc.DBAPIError


@dataclass
class Again:
    """A write rolled back with its batch through no fault of its own: it goes back to the queue."""


Outcome = Done[Any] | DatabaseFailure | Again


@dataclass
class _Item:
    work: Callable[[sa.Connection], Any]
    future: asyncio.Future[Any]


class GroupCommit:
    """One writer connection in its own thread; writes submitted concurrently are committed in batches.

    ``connect`` opens the connection (in the writer thread, its only user). ``lock`` is held while a
    batch runs, so that the owner's other write transactions (schema, seeding, pruning) take turns
    with the batches instead of meeting SQLite's lock. ``failure`` turns a database error into the
    exception the write's caller gets (a 503, see ``database.py``); ``refusal`` says why writes are
    refused now (``None``: they are not); ``after_batch`` is called once each batch has been answered.
    """

    def __init__(
        self,
        connect: Callable[[], sa.Connection],
        lock: asyncio.Lock,
        failure: Callable[[sa.exc.DBAPIError], Exception],
        refusal: Callable[[], StorageUnavailable | None],
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._after_batch = after_batch  # told on the loop after each batch's COMMIT (SQLite: checkpoints)
        self._lock = lock
        self._failure = failure
        self._refusal = refusal
        self._connection: sa.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonserve-sqlite-writer")
        self._pending: list[_Item] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False  # no new writes; the queued ones are still committed
        self._closed = False
        self.batches = 0  # how many transactions committed (tests and metrics read it)

    async def submit(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in the next batch; its value once the batch is committed (on disk)."""
        if self._closing:
            raise StorageUnavailable("the server is shutting down; the write was not made")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(work, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="jsonserve-sqlite-group-commit")
        self._wake.set()
        return await future

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Commit what is queued (for at most ``timeout`` seconds), refuse the rest, close the connection.

        Closing again does nothing.
        """
        if self._closed:
            return
        self._closing = self._closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        for item in self._pending:
            _settle(item.future, Done(error=StorageUnavailable("the server shut down before the write was made")))
        self._pending.clear()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError, sa.exc.SQLAlchemyError):
            await asyncio.wait_for(loop.run_in_executor(self._thread, self._disconnect), timeout=5.0)
        self._thread.shutdown(wait=False)

    # -- the event loop's side -----------------------------------------------------------------

    async def _drain(self) -> None:
        """Run batches while writes are queued; end when closing with nothing queued."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            batch = self._take()
            if not batch:
                continue
            if (refused := self._refusal()) is not None:
                for item in batch:
                    _settle(item.future, Done(error=refused))
                continue
            async with self._lock:
                running = loop.run_in_executor(self._thread, self._run, [item.work for item in batch])
                try:
                    outcomes = await asyncio.shield(running)
                except asyncio.CancelledError:
                    # close() gave up waiting: the batch may still commit, so its writes get no 2xx.
                    for item in batch:
                        _settle(item.future, Done(error=StorageUnavailable("the server shut down during the write")))
                    raise
            self._settle_batch(batch, outcomes)
            if self._after_batch is not None:
                self._after_batch()

    def _take(self) -> list[_Item]:
        """The next batch: up to :data:`MAX_BATCH` queued writes whose callers still wait."""
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        return [item for item in batch if not item.future.done()]

    def _settle_batch(self, batch: list[_Item], outcomes: list[Outcome]) -> None:
        again = [item for item, outcome in zip(batch, outcomes, strict=True) if isinstance(outcome, Again)]
        self._pending[:0] = again  # ahead of later writes: they keep their turn
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, DatabaseFailure):
                _settle(item.future, Done(error=self._failure(outcome.error)))
            elif isinstance(outcome, Done):
                _settle(item.future, outcome)

    # -- the writer thread's side --------------------------------------------------------------

    def _run(self, works: list[Callable[[sa.Connection], Any]]) -> list[Outcome]:
        """One transaction for ``works``, each in a savepoint; the outcome of each (in the writer thread)."""
        connection = self._open()
        outcomes: list[Outcome] = [Again() for _ in works]
        index = -1  # -1: at BEGIN; len(works): at COMMIT
        try:
            with connection.begin():
                for index, work in enumerate(works):
                    outcomes[index] = _one(connection, work)
                index = len(works)
        except sa.exc.DBAPIError as error:
            if 0 <= index < len(works):  # inside one write: it fails, the rest run again
                return [DatabaseFailure(error) if n == index else Again() for n in range(len(works))]
            return [DatabaseFailure(error) for _ in works]  # BEGIN or COMMIT failed: the whole batch
        self.batches += 1
        return outcomes

    def _open(self) -> sa.Connection:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    connection.close()
            connection = self._connection = self._connect()
        return connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _one(connection: sa.Connection, work: Callable[[sa.Connection], Any]) -> Outcome:
    """Run one write in a savepoint; an error other than the database's rolls back that write alone.

    The savepoint is set on the driver's connection itself: SQLAlchemy's nested transactions cost
    more CPU than the write's own statements. (SQLAlchemy needs not know: the batch's transaction,
    which it does manage, commits or rolls back everything.)
    """
    driver: Any = connection.connection.dbapi_connection
    _savepoint(driver, "SAVEPOINT jsonserve_write")
    try:
        value = work(connection)
    except sa.exc.DBAPIError:
        raise  # the database failed: the transaction is rolled back (see GroupCommit._run)
    except Exception as error:  # the write's own refusal (409, 412, 403, 404, 422 …): its answer
        _savepoint(driver, "ROLLBACK TO jsonserve_write")
        _savepoint(driver, "RELEASE jsonserve_write")
        return Done(error=error)
    _savepoint(driver, "RELEASE jsonserve_write")
    return Done(value)


def _savepoint(driver: Any, statement: str) -> None:
    try:
        driver.execute(statement)
    except sqlite3.Error as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error


def _settle(future: asyncio.Future[Any], outcome: Done[Any]) -> None:
    if future.done():  # its caller stopped waiting (cancelled)
        return
    if outcome.error is not None:
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome.value)
