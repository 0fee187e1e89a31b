"""The SQL family's streaming side: a database read as a document, and a document loaded into one.

:class:`SqlReader` reads the catalogue and pages each collection by ``(collection, pos)`` inside one
read snapshot, so memory stays bounded whatever the size. :class:`Loader` inserts sections in
batches in its caller's transaction (all or nothing): seeding (:meth:`SqlStorage.load_document`)
and ``import`` (:func:`write_database`) load through it. Loaded records sort before every later
insert, whose position is a change's ``seq`` (> 0).

Example:
    >>> async with write_database(storage, force=True) as loader:  # doctest: +SKIP
    ...     await pipe(reader.sections(), loader, "id", unique=False)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from jsonserve._types import Record
from jsonserve.storage.file.document import DocumentError, IdRules, Section
from jsonserve.storage.ids import id_key
from jsonserve.storage.sql.compile import records, resources
from jsonserve.storage.sql.indexes import analyze, create_indexes
from jsonserve.storage.stream import BATCH, Reader, TargetNotEmpty, TransferError, Writer

if TYPE_CHECKING:
    from jsonserve.storage.sql.base import SqlStorage

FIRST_POS = -(2**62)  # loaded records sort before every later insert, whose position is a change seq (> 0)


@contextlib.contextmanager
def sql_errors(storage: SqlStorage) -> Iterator[None]:
    """A database error (unreachable, refused, …) as a :class:`TransferError` naming the database as typed."""
    try:
        yield
    except (sa.exc.SQLAlchemyError, OSError) as error:  # OSError: e.g. the database server is unreachable
        raise TransferError(f"{storage.location()}: {storage.explain(error)}") from None


class SqlReader(Reader):
    """A database read in one snapshot, each collection paged by position."""

    unique_ids = True  # the records' key

    def __init__(self, connection: AsyncConnection, total: int) -> None:
        self.connection = connection
        self.total = total

    async def sections(self) -> AsyncIterator[Section]:
        """The catalogue in order; a collection's records are read as they are asked for."""
        columns = (resources.c.name, resources.c.kind, resources.c.high, resources.c.doc)
        catalogue = await self.connection.execute(sa.select(*columns).order_by(resources.c.position))
        for name, kind, high, doc in catalogue.all():
            if kind == "plural":
                yield Section(name, "plural", records=self._records(name), high=int(high))
            else:
                yield Section(name, kind, doc)

    async def _records(self, collection: str) -> AsyncIterator[Record]:
        last: int | None = None
        while True:
            select = sa.select(records.c.pos, records.c.doc).where(records.c.collection == collection)
            if last is not None:
                select = select.where(records.c.pos > last)
            rows = (await self.connection.execute(select.order_by(records.c.pos).limit(BATCH))).all()
            for _, doc in rows:
                yield doc
            if len(rows) < BATCH:
                return
            last = rows[-1][0]


@contextlib.asynccontextmanager
async def read_database(storage: SqlStorage) -> AsyncIterator[SqlReader]:
    """A reader of the (unopened) ``storage``'s database; closes ``storage`` at the end."""
    try:
        with sql_errors(storage):
            connection = await _snapshot(storage)
        try:
            with sql_errors(storage):
                total = (await connection.execute(sa.select(sa.func.count()).select_from(records))).scalar_one()
            yield SqlReader(connection, int(total))
        finally:
            await connection.close()
    finally:
        await storage.aclose()


async def _snapshot(storage: SqlStorage) -> AsyncConnection:
    """A connection that sees one state of the database throughout, if it holds jsonserve data."""
    location = storage.location()
    database = storage.engine.url.database
    if storage.engine.dialect.name == "sqlite" and not (database and Path(database).is_file()):
        raise TransferError(f"{location} does not exist")
    connection = await storage.engine.connect()
    if connection.dialect.name == "postgresql":
        await connection.execution_options(isolation_level="REPEATABLE READ")
    if not await connection.run_sync(lambda sync: sa.inspect(sync).has_table(resources.name)):
        await connection.close()
        raise TransferError(f"{location} holds no jsonserve data")
    return connection


class Loader(Writer):
    """Sections inserted into the resources and records tables, in the caller's transaction."""

    unique_ids = True  # the records' key refuses a repeated id

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.position = 0

    async def holds_data(self) -> bool:
        """Whether the database holds any resource."""
        count = (await self.connection.execute(sa.select(sa.func.count()).select_from(resources))).scalar_one()
        return bool(count)

    async def clear(self) -> None:
        """Delete every resource and record (the change log stays)."""
        for table in (records, resources):
            await self.connection.execute(table.delete())

    async def value(self, section: Section) -> None:
        """Insert a singular object or a ``$``-key."""
        await self._resource(section.name, section.kind, section.value)

    async def collection(self, name: str, stream: AsyncIterator[Record], ids: IdRules) -> None:
        """Insert a collection's records in batches, then its id high-water mark and id type."""
        await self._resource(name, "plural", None)
        batch: list[dict[str, Any]] = []
        pos = FIRST_POS
        async for record in stream:
            key = id_key(record[ids.id_field])  # type: ignore[arg-type]
            batch.append({"collection": name, "key": key, "pos": pos, "doc": record})
            pos += 1
            if len(batch) == BATCH:
                await self._insert(name, batch)
                batch = []
        if batch:
            await self._insert(name, batch)
        values = {"high": ids.high, "int_ids": ids.int_ids}
        await self.connection.execute(resources.update().where(resources.c.name == name).values(**values))

    async def _resource(self, name: str, kind: str, doc: Any) -> None:
        row = {"name": name, "position": self.position, "kind": kind, "high": 0, "int_ids": True, "doc": doc}
        await self.connection.execute(resources.insert().values(**row))
        self.position += 1

    async def _insert(self, name: str, batch: list[dict[str, Any]]) -> None:
        try:
            await self.connection.execute(records.insert(), batch)
        except sa.exc.IntegrityError:
            first, last = batch[0]["key"], batch[-1]["key"]
            raise DocumentError(f"{name} has two records with the same id (between ids {first} and {last})") from None


@contextlib.asynccontextmanager
async def write_database(
    storage: SqlStorage, *, force: bool = False, indexes: Sequence[str] = ()
) -> AsyncIterator[Loader]:
    """A loader that replaces the database's data if the ``async with`` body completes (one transaction).

    A database that holds data is replaced only with ``force`` (else :class:`TargetNotEmpty`).
    ``indexes`` (``COLLECTION.FIELD``) are built after the load. Closes ``storage`` at the end.
    """
    try:
        with sql_errors(storage):
            await storage.open()
            async with storage.transaction() as connection:
                loader = Loader(connection)
                if await loader.holds_data() and not force:
                    raise TargetNotEmpty(f"{storage.location()} already holds data (use --force to replace it)")
                await loader.clear()
                yield loader
            # Indexes are built after the load (one sort instead of a million updates), then statistics.
            async with storage.transaction() as connection:
                if not await create_indexes(connection, storage.access, indexes):
                    await analyze(connection)
    finally:
        await storage.aclose()
