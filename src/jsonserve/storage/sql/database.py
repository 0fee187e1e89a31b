"""Connections to one SQL database, and what a failing database means: 503, retry once, or stop writing.

A failing database (unreachable, full, read-only, I/O errors, a dropped connection) is a
:class:`StorageUnavailable` (503), never a 500: each dialect names its :meth:`Database.outage` codes.
A read on a connection the database dropped is retried once on a fresh one, and so is a write
that had not reached its commit (a failed commit is not: its outcome is unknown). After an I/O
error on a write, writes are refused until restart.

Example:
    >>> await database.read(lambda connection: connection.execute(select))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jsonserve.errors import StorageUnavailable

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")


class Outage(NamedTuple):
    """Why the database cannot serve a request now (not the client's fault, not a bug)."""

    reason: str
    until_restart: bool = False  # an I/O error on a write: refuse every later write until restart (no blind retry)


def database_message(error: BaseException) -> str:
    """The driver's own one-line message of a SQLAlchemy error (without SQLAlchemy's SQL and links)."""
    original = getattr(error, "orig", None) or error
    args = getattr(original, "args", ())
    text = str(args[0]) if args and isinstance(args[0], str) else str(original)
    return " ".join(text.split()) or type(original).__name__


def describe(error: BaseException) -> str:
    """A database error, an outage or another error as one line for a person."""
    if isinstance(error, sa.exc.SQLAlchemyError):
        return database_message(error)
    if isinstance(error, StorageUnavailable):
        return error.detail
    return str(error)


class Database:
    """Reads and write transactions on one database, with the failure policy above.

    ``read_engine`` serves reads and ``write_engine`` writes: both are ``engine`` unless a dialect
    splits them (SQLite: a single-connection writer; PostgreSQL: reads in autocommit, one round trip).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.read_engine = engine
        self.write_engine = engine
        self._failed: str | None = None  # set by an I/O error on a write: writes refused until restart

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.engine.dispose()

    def location(self) -> str:
        """The database as messages name it (the URL without its password)."""
        return self.engine.url.render_as_string()

    def explain(self, error: BaseException) -> str:
        """Why the database could not be opened or read, in one line; dialects add what to do about it."""
        return describe(error)

    def outage(self, error: sa.exc.DBAPIError) -> Outage | None:
        """Whether ``error`` means the database cannot serve now (``None``: it is a bug, answered with a 500).

        Dialects add their error codes (disk full, read-only, I/O error …) and call this for the rest.
        """
        if error.connection_invalidated:
            return Outage(f"the connection to the database was lost ({database_message(error)})")
        return None

    def unavailable(self, error: Exception, *, writing: bool) -> StorageUnavailable | None:
        """The :class:`StorageUnavailable` (503) for a database failure, or ``None`` when ``error`` is not one."""
        if isinstance(error, OSError):  # the database cannot be reached (refused, timed out)
            outage: Outage | None = Outage(f"the database cannot be reached ({error})")
        elif isinstance(error, sa.exc.DBAPIError):
            outage = self.outage(error)
        else:
            return None
        if outage is None:
            return None
        if writing and outage.until_restart and self._failed is None:
            self.refuse_writes(outage.reason)
            return StorageUnavailable(f"the write failed: {outage.reason}; writes are refused until restart")
        log.warning("a %s failed: %s", "write" if writing else "read", outage.reason)
        return StorageUnavailable(f"the {'write' if writing else 'read'} failed: {outage.reason}")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (dialects add locking and retries)."""
        async with self.write_engine.begin() as connection:
            yield connection

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction.

        A database failure is a :class:`StorageUnavailable`; after an I/O error every write is one.
        """
        self._refuse_if_failed()
        try:
            return await self.run_transaction(work)
        except (sa.exc.DBAPIError, OSError) as error:
            if (unavailable := self.unavailable(error, writing=True)) is None:
                raise
            raise unavailable from None

    async def commit(self, work: Callable[[sa.Connection], T]) -> T:
        """Run the synchronous ``work`` in a write transaction, as :meth:`write` does.

        Here through ``AsyncConnection.run_sync`` (each statement still awaits the driver); SQLite
        overrides it to batch concurrent writes into one transaction (``group.py``).
        """
        return await self.write(lambda connection: connection.run_sync(work))

    async def run_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """One transaction (PostgreSQL retries serialization failures and deadlocks here).

        If the database had dropped the connection before the commit was sent, nothing was written:
        the transaction runs once more on a fresh connection. A failed commit is never repeated.
        """
        for attempt in range(2):
            committing = False
            try:
                async with self.transaction() as connection:
                    self._refuse_if_failed()  # again: a write queued behind the one that failed
                    result = await work(connection)
                    committing = True
                return result
            except sa.exc.DBAPIError as error:
                if attempt or committing or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def refuse_writes(self, reason: str, *, failed: str = "a write") -> None:
        """Refuse every later write until restart: ``failed`` met an I/O error, so the disk's state is unknown.

        The first ``reason`` is the one writes are refused with; later calls change nothing.
        """
        if self._failed is None:
            self._failed = reason
            log.error("%s failed: %s; refusing writes until restart", failed, reason)

    def _refuse_if_failed(self) -> None:
        if self._failed is not None:
            raise StorageUnavailable(f"writes are refused until restart after an I/O error: {self._failed}")

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection; once more on a fresh one if the database had dropped it.

        (After a database restart or ``pg_terminate_backend`` the pool holds dead connections; the
        first use of one invalidates the pool.) A database failure is a :class:`StorageUnavailable`.
        """
        for attempt in range(2):
            try:
                async with self.read_engine.connect() as connection:
                    return await work(connection)
            except (sa.exc.DBAPIError, OSError) as error:
                if attempt == 0 and isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
                    continue
                if (unavailable := self.unavailable(error, writing=False)) is None:
                    raise
                raise unavailable from None
        raise AssertionError("unreachable")
