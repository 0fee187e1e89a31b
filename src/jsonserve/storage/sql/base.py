"""What SQLite and PostgreSQL share: the Storage interface over three tables, through SQLAlchemy Core.

Every write runs in one transaction that also appends to ``jsonserve_changes`` (the durable change
log realtime resume will read); its ``seq`` orders changes per database. Read-modify-write locks the
row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), so ``If-Match`` holds across instances,
and ids are allocated from a locked per-collection high-water mark, so they are unique across them.

A failing database (unreachable, full, read-only, I/O errors, a dropped connection) is a
:class:`StorageUnavailable` (503), never a 500: each dialect names its :meth:`SqlStorage.outage` codes.
A read on a connection the database dropped is retried once on a fresh one, and so is a write
that had not reached its commit (a failed commit is not: its outcome is unknown). After an I/O
error on a write, writes are refused until restart.

Example:
    >>> storage = SqliteStorage("app.db", seed={"posts": []})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jsonserve._types import JSONValue, Record, RecordId
from jsonserve.errors import Conflict, NotFound, StorageCorrupt, StorageUnavailable
from jsonserve.query.evaluate import clamp_page
from jsonserve.query.model import Page, PageRequest, Query, Slice
from jsonserve.schema.kind import Kind
from jsonserve.storage.base import Check, Dependents, Storage, no_check
from jsonserve.storage.changelog import DEFAULT_RETENTION, Change, Retention
from jsonserve.storage.file.memory import parse_document
from jsonserve.storage.ids import INT_LIMIT, IdFactory, check_client_id, id_key, random_id
from jsonserve.storage.sql.changes import SqlChangeLog, add_missing_columns
from jsonserve.storage.sql.changes import insert as log_change
from jsonserve.storage.sql.compile import (
    JsonAccess,
    compile_order,
    compile_where,
    equals,
    metadata,
    records,
    resources,
)
from jsonserve.storage.sql.indexes import create_indexes

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")
Action = Literal["created", "updated", "deleted"]


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


class SqlStorage(Storage):
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
        self.engine = engine
        self.write_engine = engine
        self.access = access
        self.id_field = id_field
        self._new_id = id_factory
        self._clock = clock
        self._seed = seed
        self.indexes = tuple(indexes)  # ``COLLECTION.FIELD`` specs, created at open (``--index``)
        self._kinds: dict[str, Kind] = {}
        self._writes = 0
        self._failed: str | None = None  # set by an I/O error on a write: writes refused until restart
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
            raise StorageCorrupt(f"cannot open the database {self.location()}: {_describe(error)}") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.engine.dispose()

    @property
    def changes(self) -> SqlChangeLog:
        """The change log table, as a :class:`ChangeLog`."""
        return self._changes

    def location(self) -> str:
        """The database as messages name it (the URL without its password)."""
        return self.engine.url.render_as_string()

    # -- failures ----------------------------------------------------------------------------

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
            self._failed = outage.reason
            log.error("a write failed: %s; refusing writes until restart", outage.reason)
            return StorageUnavailable(f"the write failed: {outage.reason}; writes are refused until restart")
        log.warning("a %s failed: %s", "write" if writing else "read", outage.reason)
        return StorageUnavailable(f"the {'write' if writing else 'read'} failed: {outage.reason}")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (subclasses add locking and retries)."""
        async with self.write_engine.begin() as connection:
            yield connection

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction, then (best effort) prune the change log.

        A database failure is a :class:`StorageUnavailable`; after an I/O error every write is one.
        """
        self._refuse_if_failed()
        try:
            result = await self.run_transaction(work)
        except (sa.exc.DBAPIError, OSError) as error:
            if (unavailable := self.unavailable(error, writing=True)) is None:
                raise
            raise unavailable from None
        try:
            await self._maybe_prune()  # housekeeping: must never fail or repeat a committed write
        except sa.exc.SQLAlchemyError:
            log.warning("change-log prune failed; it is retried after the next 1,000 writes", exc_info=True)
        return result

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
                async with self.engine.connect() as connection:
                    return await work(connection)
            except (sa.exc.DBAPIError, OSError) as error:
                if attempt == 0 and isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
                    continue
                if (unavailable := self.unavailable(error, writing=False)) is None:
                    raise
                raise unavailable from None
        raise AssertionError("unreachable")

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
        return await self.read(lambda connection: _fetch(connection, collection, record_id))

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

    # -- writes ------------------------------------------------------------------------------

    async def create(
        self,
        collection: str,
        record: Record,
        *,
        generated_ids: bool = False,
        new_collection: bool = False,
        actor: str | None = None,
    ) -> Change:
        """Insert a record with a free client id, or the next integer, or a random string id."""

        async def work(connection: AsyncConnection) -> Change:
            if new_collection:
                await self._add_collection(connection, collection)
            meta = await _locked_resource(connection, collection)
            record_id = await self._choose_id(connection, collection, meta, record.get(self.id_field), generated_ids)
            stored = {**{k: v for k, v in record.items() if k != self.id_field}, self.id_field: record_id}
            is_int = isinstance(record_id, int)
            await connection.execute(
                resources.update()
                .where(resources.c.name == collection)
                .values(
                    high=self.greatest(resources.c.high, record_id) if is_int else resources.c.high,  # type: ignore[arg-type]
                    int_ids=resources.c.int_ids if is_int else sa.false(),
                )
            )
            change = await self._log(connection, collection, "created", record_id, stored, None, actor)
            await connection.execute(
                records.insert().values(collection=collection, key=id_key(record_id), pos=change.seq, doc=stored)
            )
            return change

        change = await self.write(work)
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

        async def work(connection: AsyncConnection) -> Change:
            current = await _fetch(connection, collection, record_id, lock=True)
            check(current)
            if current is None:
                raise NotFound(f"no record in {collection} with id {record_id!r}")
            new = {**build(current), self.id_field: current[self.id_field]}
            await connection.execute(
                records.update().where(records.c.collection == collection, records.c.key == record_id).values(doc=new)
            )
            return await self._log(connection, collection, "updated", current[self.id_field], new, current, actor)  # type: ignore[arg-type]

        return await self.write(work)

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

        async def work(connection: AsyncConnection) -> list[Change]:
            current = await _fetch(connection, collection, record_id, lock=True)
            check(current)
            if current is None:
                raise NotFound(f"no record in {collection} with id {record_id!r}")
            return await self._delete_tree(connection, collection, record_id, dependents, actor)

        return await self.write(work)

    async def update_singular(
        self, name: str, build: Callable[[Record], Record], check: Check = no_check, *, actor: str | None = None
    ) -> Change:
        """Replace a singular object with ``build(current)``."""
        if self._kinds.get(name) is not Kind.SINGULAR:
            raise NotFound(f"no singular resource {name!r}")

        async def work(connection: AsyncConnection) -> Change:
            select = sa.select(resources.c.doc).where(resources.c.name == name)
            current = (await connection.execute(self.lock(select))).scalar_one()
            check(current)
            new = build(current)
            await connection.execute(resources.update().where(resources.c.name == name).values(doc=new))
            return await self._log(connection, name, "updated", None, new, current, actor)

        return await self.write(work)

    async def load_document(self, document: object) -> None:
        """Replace everything with a json-server document (seeding, import)."""
        tables, singulars, extras, order = parse_document(document, self.id_field)

        async def work(connection: AsyncConnection) -> None:
            for sql_table in (records, resources):
                await connection.execute(sql_table.delete())
            for position, name in enumerate(order):
                row: dict[str, Any] = {"name": name, "position": position, "high": 0, "int_ids": True}
                if name in tables:
                    ids = [r[self.id_field] for r in tables[name].records.values()]
                    row.update(kind="plural", high=tables[name].high, int_ids=all(isinstance(i, int) for i in ids))
                else:
                    row.update(
                        kind="singular" if name in singulars else "extra", doc=singulars.get(name, extras.get(name))
                    )
                await connection.execute(resources.insert().values(**row))
            for name, loaded in tables.items():
                # Loaded records sort before every later insert, whose position is its change's seq (> 0).
                count = len(loaded.records)
                rows = [
                    {"collection": name, "key": key, "pos": index - count, "doc": doc}
                    for index, (key, doc) in enumerate(loaded.records.items())
                ]
                for start in range(0, len(rows), 1000):
                    await connection.execute(records.insert(), rows[start : start + 1000])

        await self.write(work)
        await self.refresh()

    # -- dialect hooks -------------------------------------------------------------------------

    def greatest(self, column: sa.ColumnElement[int], value: int) -> sa.ColumnElement[int]:
        """The larger of a column and a value."""
        return sa.func.greatest(column, value)

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """``SELECT … FOR UPDATE`` where the database supports it."""
        return select.with_for_update()

    @abstractmethod
    def insert_ignoring_conflicts(self, table: sa.Table, **values: Any) -> sa.Insert:
        """``INSERT … ON CONFLICT DO NOTHING`` in this dialect."""

    # -- internals -----------------------------------------------------------------------------

    async def _add_collection(self, connection: AsyncConnection, collection: str) -> None:
        """Register an empty collection after the others (a no-op when another writer just did)."""
        last = (await connection.execute(sa.select(sa.func.max(resources.c.position)))).scalar_one()
        position = -1 if last is None else int(last)
        await connection.execute(
            self.insert_ignoring_conflicts(
                resources, name=collection, kind="plural", position=position + 1, high=0, int_ids=True
            )
        )

    def _plural(self, collection: str) -> None:
        if self._kinds.get(collection) is not Kind.PLURAL:
            raise NotFound(f"no collection {collection!r}")

    async def _choose_id(
        self, connection: AsyncConnection, collection: str, meta: Any, client: JSONValue, generated: bool
    ) -> RecordId:
        if client is not None and not generated:
            record_id = check_client_id(client)
            if await _fetch(connection, collection, id_key(record_id)) is not None:
                raise Conflict(f"{collection} already has a record with id {record_id!r}")
            return record_id
        if meta.int_ids and not generated and meta.high < INT_LIMIT:
            return int(meta.high) + 1
        while await _fetch(connection, collection, candidate := self._new_id()) is not None:
            continue
        return candidate

    async def _log(
        self,
        connection: AsyncConnection,
        collection: str,
        action: Action,
        record_id: RecordId | None,
        record: Record | None,
        previous: Record | None,
        actor: str | None,
    ) -> Change:
        change = Change(collection, action, record_id, record, previous, 0, self._clock(), actor)
        return replace(change, seq=await log_change(connection, collection, action, change))

    async def _delete_tree(
        self, connection: AsyncConnection, collection: str, record_id: str, dependents: Dependents, actor: str | None
    ) -> list[Change]:
        done: list[Change] = []
        pending = [(collection, record_id)]
        while pending:
            name, key = pending.pop(0)
            deleted = await connection.execute(
                records.delete().where(records.c.collection == name, records.c.key == key).returning(records.c.doc)
            )
            previous = deleted.scalar_one_or_none()
            if previous is None:
                continue
            done.append(await self._log(connection, name, "deleted", previous[self.id_field], None, previous, actor))
            for dependent in dependents(name):
                if self._kinds.get(dependent.collection) is Kind.PLURAL:
                    done += await self._sweep(
                        connection, dependent.collection, dependent.foreign_key, key, dependent.delete, pending, actor
                    )
        return done

    async def _sweep(
        self,
        connection: AsyncConnection,
        name: str,
        fk: str,
        parent: str,
        delete: bool,
        pending: list[tuple[str, str]],
        actor: str | None,
    ) -> list[Change]:
        match = sa.and_(records.c.collection == name, equals(self.access, (fk,), parent))
        rows = (await connection.execute(self.lock(sa.select(records.c.key, records.c.doc).where(match)))).all()
        done: list[Change] = []
        for key, doc in rows:
            if delete:
                pending.append((name, key))
                continue
            new = {**doc, fk: None}
            await connection.execute(
                records.update().where(records.c.collection == name, records.c.key == key).values(doc=new)
            )
            done.append(await self._log(connection, name, "updated", doc[self.id_field], new, doc, actor))
        return done

    async def _maybe_prune(self) -> None:
        self._writes += 1
        if self._writes % 1000:
            return
        async with self.transaction() as connection:
            await self._changes.prune(connection)


async def _fetch(connection: AsyncConnection, collection: str, key: str, *, lock: bool = False) -> Record | None:
    select = sa.select(records.c.doc).where(records.c.collection == collection, records.c.key == key)
    if lock:
        select = select.with_for_update()
    return (await connection.execute(select)).scalar_one_or_none()


async def _locked_resource(connection: AsyncConnection, collection: str) -> Any:
    select = sa.select(resources.c.kind, resources.c.high, resources.c.int_ids).where(resources.c.name == collection)
    meta = (await connection.execute(select.with_for_update())).one_or_none()
    if meta is None or meta.kind != Kind.PLURAL:
        raise NotFound(f"no collection {collection!r}")
    return meta


def _describe(error: BaseException) -> str:
    if isinstance(error, sa.exc.SQLAlchemyError):
        return database_message(error)
    if isinstance(error, StorageUnavailable):
        return error.detail
    return str(error)


def _windowed(select: sa.Select[Any], query: Query, total: int) -> sa.Select[Any]:
    window = query.window
    if isinstance(window, Slice):
        select = select.offset(window.start)
        return select if window.stop is None else select.limit(max(0, window.stop - window.start))
    if isinstance(window, PageRequest):
        number = clamp_page(window, total) if window.clamp else window.number
        return select.offset((number - 1) * window.size).limit(window.size)
    return select
