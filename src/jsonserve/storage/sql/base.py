"""What SQLite and PostgreSQL share: the Storage interface over three tables, through SQLAlchemy Core.

Every write runs in one transaction that also appends to ``jsonserve_changes`` (the durable change
log realtime resume will read); its ``seq`` orders changes per database. What each write does in its
transaction is in ``writes.py``; how a failing database is answered (503, one retry, writes refused
until restart) in ``database.py``; seeding and ``import`` load through ``bulk.py``.

Example:
    >>> storage = SqliteStorage("app.db", seed={"posts": []})  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jsonserve._types import JSONValue, Record
from jsonserve.errors import NotFound, StorageCorrupt, StorageUnavailable
from jsonserve.query.evaluate import clamp_page
from jsonserve.query.model import Page, PageRequest, Query, Slice
from jsonserve.schema.kind import Kind
from jsonserve.storage.base import Check, Dependents, Storage, Unique, no_check
from jsonserve.storage.changelog import DEFAULT_RETENTION, Change, Retention
from jsonserve.storage.file.document import sections
from jsonserve.storage.ids import IdFactory, random_id
from jsonserve.storage.sql import writes
from jsonserve.storage.sql.bulk import Loader
from jsonserve.storage.sql.changes import SqlChangeLog, add_missing_columns
from jsonserve.storage.sql.compile import JsonAccess, compile_order, compile_where, metadata, records, resources
from jsonserve.storage.sql.database import Database
from jsonserve.storage.sql.indexes import create_indexes
from jsonserve.storage.sql.patterns import Pattern, split
from jsonserve.storage.sql.prepared import Statements, capture, document
from jsonserve.storage.stream import pipe

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")
PRUNE_EVERY = 1000  # writes between two prunes of the change log
STORED_FILTER = 2000  # characters of a filter's repr past which its statement is not stored (long ``in`` lists)
READY_TIMEOUT = 2.0  # seconds the database has to answer GET /ready's SELECT 1


class SqlStorage(Database, Storage):
    """Collections as rows of JSON documents in a SQL database."""

    def __init__(
        self,
        engine: AsyncEngine,
        access: JsonAccess,
        *,
        id_field: str = "id",
        id_factory: IdFactory = random_id,
        clock: Callable[[], float] = time.time,
        seed: dict[str, JSONValue] | None = None,
        indexes: Sequence[str] = (),
        retention: Retention = DEFAULT_RETENTION,
    ) -> None:
        super().__init__(engine)
        self.access = access
        self.id_field = id_field
        self.new_id = id_factory
        self.clock = clock
        self._seed = seed
        self.indexes = tuple(indexes)  # ``COLLECTION.FIELD`` specs, created at open (``--index``)
        self._kinds: dict[str, Kind] = {}
        self._writes = 0
        self._changes = SqlChangeLog(self, retention, clock)
        self.statements = Statements()  # recent reads as the driver ran them (``prepared.py``)
        event.listen(engine.sync_engine, "before_cursor_execute", capture)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create tables and ``--index`` indexes if needed, seed an empty database and read the catalogue."""
        try:
            async with self.transaction() as connection:
                await connection.run_sync(metadata.create_all)
                await add_missing_columns(connection)
                await create_indexes(connection, self.access, self.indexes)
            await self.refresh()
            if not self._kinds and self._seed is not None:
                await self.load_document(self._seed)
        except (sa.exc.SQLAlchemyError, OSError, StorageUnavailable) as error:
            await self._abandon()
            raise StorageCorrupt(f"cannot open the database {self.location()}: {self.explain(error)}") from None

    async def _abandon(self) -> None:
        """Close the pools of a database that failed to open, and let a failed connection's thread end.

        aiosqlite answers a failed connect by queueing its worker thread's stop without awaiting it:
        if the event loop closed first, the thread would print a traceback ("Event loop is closed")
        after our one-line message. A moment on the loop lets it finish.
        """
        with contextlib.suppress(sa.exc.SQLAlchemyError, OSError):
            await self.aclose()
        await asyncio.sleep(0.05)

    async def readiness(self) -> str | None:
        """Whether the database answers ``SELECT 1`` within :data:`READY_TIMEOUT` and takes writes."""
        if self._failed is not None:
            return f"writes are refused until restart after an I/O error: {self._failed}"
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.read(lambda connection: connection.exec_driver_sql("SELECT 1"))
        except StorageUnavailable as error:
            return error.detail
        except TimeoutError:  # before OSError, of which it is one
            return f"the database did not answer within {READY_TIMEOUT:g} s"
        except (sa.exc.SQLAlchemyError, OSError) as error:  # whatever else a failing database raises
            return f"the database cannot be reached ({self.explain(error)})"
        return None

    @property
    def changes(self) -> SqlChangeLog:
        """The change log table, as a :class:`ChangeLog`."""
        return self._changes

    async def load_document(self, document: object) -> None:
        """Replace everything with a json-server document (seeding), checked by the data-file rules."""

        async def work(connection: AsyncConnection) -> None:
            loader = Loader(connection)
            await loader.clear()
            await pipe(sections(document), loader, self.id_field, unique=True)

        await self.write(work)
        await self.refresh()

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """:meth:`Database.write`, then (best effort) prune the change log every :data:`PRUNE_EVERY` writes."""
        result = await super().write(work)
        await self.written()
        return result

    async def written(self) -> None:
        """Count a committed write; every :data:`PRUNE_EVERY` writes, prune the change log (best effort)."""
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            try:  # housekeeping: must never fail or repeat a committed write
                async with self.transaction() as connection:
                    await self._changes.prune(connection)
            except sa.exc.SQLAlchemyError:
                log.warning("change-log prune failed; it is retried after the next 1,000 writes", exc_info=True)

    async def refresh(self) -> None:
        """Re-read which resources exist (another instance or an import may have changed them)."""

        async def work(connection: AsyncConnection) -> list[tuple[str, str]]:
            query = sa.select(resources.c.name, resources.c.kind).order_by(resources.c.position)
            return [(name, kind) for name, kind in await connection.execute(query)]

        self._kinds = {name: Kind(kind) for name, kind in await self.read(work) if kind != "extra"}

    # -- reads -------------------------------------------------------------------------------

    def kinds(self) -> dict[str, Kind]:
        """Routable names and kinds, in the original document's order."""
        return dict(self._kinds)

    async def count(self, collection: str) -> int:
        """How many records ``collection`` holds."""
        self._plural(collection)
        return await self.read_sync(
            lambda connection: int(
                self.statements.scalar(connection, ("count", collection), lambda: _count(collection))
            )
        )

    async def find(self, query: Query) -> Page:
        """Filter, sort and window in SQL; ``COUNT(*)`` only when the window hides how many matched."""
        self._plural(query.collection)
        find = Find(self, query)  # one for both tries (SQLite): what the first learnt, the second keeps
        return await self.read_sync(find.run)

    async def get(self, collection: str, record_id: str) -> Record | None:
        """One record by the text of its id (one statement for every collection and id)."""
        self._plural(collection)
        return await self.read_sync(
            lambda connection: self.statements.point(
                connection, "get", lambda: _get(collection, record_id), collection, record_id
            )
        )

    async def read_sync(self, work: Callable[[sa.Connection], T]) -> T:
        """Run a synchronous ``work`` as :meth:`read` does (dialects may run it without a thread hop).

        The default runs it on a pooled async connection (``run_sync``); SQLite first tries a
        synchronous reader (``sqlite.py``). ``work`` must only read, and may run twice.
        """
        return await self.read(lambda connection: connection.run_sync(work))

    async def get_singular(self, name: str) -> Record:
        """A singular resource's object."""
        if self._kinds.get(name) is not Kind.SINGULAR:
            raise NotFound(f"no singular resource {name!r}")

        async def work(connection: AsyncConnection) -> Record:
            result = await connection.execute(sa.select(resources.c.doc).where(resources.c.name == name))
            return result.scalar_one()  # type: ignore[no-any-return]

        return await self.read(work)

    async def dump(self) -> dict[str, JSONValue]:
        """The whole database as one JSON object."""

        async def work(connection: AsyncConnection) -> dict[str, JSONValue]:
            result: dict[str, JSONValue] = {}
            catalogue = await connection.execute(
                sa.select(resources.c.name, resources.c.kind, resources.c.doc).order_by(resources.c.position)
            )
            for name, kind, doc in catalogue.all():
                if kind == Kind.PLURAL:
                    rows = await connection.execute(
                        sa.select(records.c.doc).where(records.c.collection == name).order_by(records.c.pos)
                    )
                    result[name] = [row[0] for row in rows]
                else:
                    result[name] = doc
            return result

        return await self.read(work)

    # -- writes (their transactions: ``writes.py``) ---------------------------------------------

    async def create(
        self,
        collection: str,
        record: Record,
        *,
        generated_ids: bool = False,
        new_collection: bool = False,
        actor: str | None = None,
        unique: Unique | None = None,
    ) -> Change:
        """Insert a record with a free client id, or the next integer, or a random string id.

        ``unique`` is checked in the inserting transaction (see ``writes.py``), so it holds across processes.
        """
        change = await self.commit(
            lambda connection: writes.create(
                self, connection, collection, record, generated_ids, new_collection, actor, unique
            )
        )
        if new_collection and collection not in self._kinds:
            await self.refresh()
        return change

    async def update(
        self,
        collection: str,
        record_id: str,
        build: Callable[[Record], Record],
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> Change:
        """Replace a record with ``build(current)`` under a row lock."""
        self._plural(collection)
        return await self.commit(
            lambda connection: writes.update(self, connection, collection, record_id, build, check, actor)
        )

    async def delete(
        self,
        collection: str,
        record_id: str,
        dependents: Dependents,
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> list[Change]:
        """Delete a record and sweep its dependents in one transaction."""
        self._plural(collection)
        return await self.commit(
            lambda connection: writes.delete(self, connection, collection, record_id, dependents, check, actor)
        )

    async def update_singular(
        self, name: str, build: Callable[[Record], Record], check: Check = no_check, *, actor: str | None = None
    ) -> Change:
        """Replace a singular object with ``build(current)``."""
        if self._kinds.get(name) is not Kind.SINGULAR:
            raise NotFound(f"no singular resource {name!r}")
        return await self.commit(lambda connection: writes.update_singular(self, connection, name, build, check, actor))

    # -- dialect hooks -------------------------------------------------------------------------

    async def remembered_count(
        self, find: Find, connection: object | None, key: Hashable, count: Callable[[], Awaitable[Counted]]
    ) -> int:
        """A filter's number of matches, ``count()`` unless a dialect knows it has not changed.

        ``count()`` gives the number and the version of the data it counted (:meth:`versioned`).
        """
        return (await count())[0]

    def versioned(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """``select`` with one more column naming the version of the data it reads (the same on every row).

        The default adds none: only a dialect that can name its statement's snapshot (PostgreSQL) does.
        """
        return select

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """``SELECT … FOR UPDATE`` where the database supports it."""
        return select.with_for_update()

    @abstractmethod
    def insert_ignoring_conflicts(self, table: sa.Table, **values: Any) -> sa.Insert:
        """``INSERT … ON CONFLICT DO NOTHING`` in this dialect."""

    # -- internals -----------------------------------------------------------------------------

    def _plural(self, collection: str) -> None:
        if self._kinds.get(collection) is not Kind.PLURAL:
            raise NotFound(f"no collection {collection!r}")


def _get(collection: str, key: str) -> sa.Select[Any]:
    return sa.select(records.c.doc).where(records.c.collection == collection, records.c.key == key)


Counted = tuple[int, Hashable | None]
"""A count, and the version of the data it counted (``None``: unknown)."""
Execute = Callable[[tuple[Any, ...], Callable[[], sa.Select[Any]]], Awaitable[Sequence[Sequence[Any]]]]
"""Runs one statement of a read: its key, and how to build it (if it must be)."""


def _count(collection: str, where: sa.ColumnElement[bool] | None = None) -> sa.Select[Any]:
    select = sa.select(sa.func.count()).select_from(records).where(records.c.collection == collection)
    return select if where is None else select.where(where)


class Find:
    """One :meth:`SqlStorage.find`: the window's rows, and the total, counted only when the rows cannot tell it.

    The rows tell it when there is no window (all of them), or when the window is not full yet not
    empty past its start (``start + len(rows)``); a full page or an empty page past the first needs
    ``COUNT(*)``, and a 1.x page past the end (``clamp``) is read again as the last page. Each
    statement is built only if the storage has not run the same one before (``prepared.py``).
    """

    def __init__(self, storage: SqlStorage, query: Query) -> None:
        self.storage = storage
        self.query = query
        self._where: sa.ColumnElement[bool] | None = None
        self._known: dict[tuple[Any, ...], tuple[str, Any]] = {}  # statements looked up (a template filled once)
        self.version: Hashable | None = None  # the version of the data the rows were read from, if known

    @property
    def where(self) -> sa.ColumnElement[bool]:
        """The filter as SQL, built once and only when a statement has to be built."""
        if self._where is None:
            self._where = compile_where(self.query.where, self.storage.access)
        return self._where

    def run(self, connection: sa.Connection) -> Page:
        """Read the page (and the total when needed) on ``connection``."""

        async def execute(key: tuple[Any, ...], build: Callable[[], sa.Select[Any]]) -> Sequence[Sequence[Any]]:
            return self._execute(connection, key, build)

        return finished(self.read(execute, connection))

    async def read(self, execute: Execute, connection: object | None = None) -> Page:
        """Read the page (and the total when needed) with ``execute``, which runs one statement.

        ``execute(key, build)`` runs the statement ``key`` names (``build()`` builds it if it must);
        ``connection`` is the one it runs them on, when there is one (SQLite reads its version there).
        """
        window = self.query.window
        start, size = _bounds(window)
        rows = await self._rows(execute, start, size)
        total = _known_total(window, start, size, len(rows))
        if total is None:
            key = ("count", self._shape)
            total = await self.storage.remembered_count(self, connection, key, lambda: self._counted(execute, key))
        if isinstance(window, PageRequest) and window.clamp and not rows and total:
            rows = await self._rows(execute, (clamp_page(window, total) - 1) * window.size, size)
        return Page(rows, total)

    @functools.cached_property
    def pattern(self) -> Pattern | None:
        """The filter as a pattern and its values (``patterns.py``), if the dialect binds them in known forms."""
        return split(self.query.where, self.storage.access.value_forms)

    def known(self, key: tuple[Any, ...]) -> tuple[str, Any] | None:
        """The SQL and parameters of the statement ``key`` names, if the storage knows them (``prepared.py``)."""
        known = self._known.get(key)
        if known is None and stored(key):
            known = self.storage.statements.known(key, lambda: self.pattern)
            if known is not None:
                self._known[key] = known
        return known

    @functools.cached_property
    def _shape(self) -> tuple[str, str]:
        return (self.query.collection, _where_text(self.query.where))

    def _count(self) -> sa.Select[Any]:
        return self.storage.versioned(_count(self.query.collection, self.where))

    async def _counted(self, execute: Execute, key: tuple[Any, ...]) -> Counted:
        row = (await execute(key, self._count))[0]
        return int(row[0]), row[1] if len(row) > 1 else None

    def rows_key(self) -> tuple[Any, ...]:
        """The key of the statement that reads the window's rows (``prepared.py``)."""
        start, size = _bounds(self.query.window)
        return self._rows_key(start, size)

    def _rows_key(self, start: int, size: int | None) -> tuple[Any, ...]:
        return ("rows", self._shape, repr(self.query.sort), start, size)

    async def _rows(self, execute: Execute, start: int, size: int | None) -> list[Record]:
        if size == 0:
            return []
        key = self._rows_key(start, size)
        rows = await execute(key, lambda: self._select(start, size))
        if rows and len(rows[0]) > 1:
            self.version = rows[0][1]
        return [document(row[0]) for row in rows]

    def _select(self, start: int, size: int | None) -> sa.Select[Any]:
        order = compile_order(self.query.sort, self.storage.access)
        select = sa.select(records.c.doc).where(records.c.collection == self.query.collection, self.where)
        select = select.order_by(*order)
        if start:
            select = select.offset(start)
        # Only a bounded window may need a count, and so the version its rows were read at.
        return select if size is None else self.storage.versioned(select.limit(size))

    def _execute(
        self, connection: sa.Connection, key: tuple[Any, ...], build: Callable[[], sa.Select[Any]]
    ) -> Sequence[Sequence[Any]]:
        if not stored(key):
            return connection.execute(build()).all()
        return self.storage.statements.execute(connection, key, build, lambda: self.pattern)


_WHERE_TEXTS: dict[int, tuple[object, str]] = {}
WHERE_TEXTS = 1024  # filters whose text is kept, by identity (the list lane hands the same parsed query again)


def _where_text(where: object) -> str:
    """``repr(where)``, kept for the very object: the ``repr`` of a filter took longer than its SQLite read.

    ``repr``, not the nodes: equal values of different types (``1``, ``True``, ``1.0``) compile apart.
    Kept by identity (the object is held, so its id is not reused meanwhile), never by equality.
    """
    kept = _WHERE_TEXTS.get(id(where))
    if kept is not None and kept[0] is where:
        return kept[1]
    text = repr(where)
    if len(_WHERE_TEXTS) >= WHERE_TEXTS:
        _WHERE_TEXTS.clear()
    _WHERE_TEXTS[id(where)] = (where, text)
    return text


def stored(key: tuple[Any, ...]) -> bool:
    """Whether a read's statement is kept (its filter is not one of huge ``in`` lists)."""
    return len(key[1][1]) <= STORED_FILTER


def finished(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (each of its awaits returns at once)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a synchronous read waited")


def _bounds(window: Slice | PageRequest | None) -> tuple[int, int | None]:
    """The window's first row and how many rows it holds at most (``None``: to the end)."""
    if isinstance(window, Slice):
        return window.start, None if window.stop is None else max(0, window.stop - window.start)
    if isinstance(window, PageRequest):
        return max(0, (window.number - 1) * window.size), window.size
    return 0, None


def _known_total(window: Slice | PageRequest | None, start: int, size: int | None, found: int) -> int | None:
    """How many records matched, if the rows of the window say it; ``None`` when only a count can."""
    if window is None:
        return found
    full = size is not None and found >= size
    if full or (found == 0 and start > 0):
        return None
    return start + found
