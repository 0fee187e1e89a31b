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
import logging
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
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
from jsonserve.storage.stream import pipe

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")
PRUNE_EVERY = 1000  # writes between two prunes of the change log
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
        query = sa.select(sa.func.count()).select_from(records).where(records.c.collection == collection)

        async def work(connection: AsyncConnection) -> int:
            return int((await connection.execute(query)).scalar_one())

        return await self.read(work)

    async def find(self, query: Query) -> Page:
        """Filter, sort and window in SQL."""
        self._plural(query.collection)
        where = sa.and_(records.c.collection == query.collection, compile_where(query.where, self.access))

        async def work(connection: AsyncConnection) -> Page:
            total = int(
                (await connection.execute(sa.select(sa.func.count()).select_from(records).where(where))).scalar_one()
            )
            select = sa.select(records.c.doc).where(where).order_by(*compile_order(query.sort, self.access))
            select = _windowed(select, query, total)
            return Page([row[0] for row in await connection.execute(select)], total)

        return await self.read(work)

    async def get(self, collection: str, record_id: str) -> Record | None:
        """One record by the text of its id."""
        self._plural(collection)
        return await self.read(lambda connection: writes.fetch(connection, collection, record_id))

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


def _windowed(select: sa.Select[Any], query: Query, total: int) -> sa.Select[Any]:
    window = query.window
    if isinstance(window, Slice):
        select = select.offset(window.start)
        return select if window.stop is None else select.limit(max(0, window.stop - window.start))
    if isinstance(window, PageRequest):
        number = clamp_page(window, total) if window.clamp else window.number
        return select.offset((number - 1) * window.size).limit(window.size)
    return select
