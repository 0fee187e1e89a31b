"""Copy a whole data set between any two backends (``jsonserve import`` / ``jsonserve export``).

The copy streams, so memory stays bounded whatever the size: a JSON source is read with ``ijson``
(one record at a time), a SQL source is paged through ``jsonserve_records`` by ``(collection, pos)``
inside one read snapshot; a SQL target is loaded with batched inserts in one transaction (all or
nothing), a JSON target is written record by record to a temporary file that then replaces the
target atomically. Ids, record order, singular objects, ``$``-keys and id high-water marks are kept.

Example:
    >>> await transfer("db.json", "app.db", indexes=["posts.userId"], progress=print)  # doctest: +SKIP
    Summary(resources=4, records=1000000)
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import ijson  # streaming JSON parser (C backend yajl2_c): a 1 GB file imports in bounded memory
import orjson

from jsonserve._types import JSONValue, Record
from jsonserve.errors import StorageCorrupt
from jsonserve.storage.file.atomic import atomic_write, fsync_dir, temp_prefix
from jsonserve.storage.file.journal import FileLock, encode_meta, read_journal
from jsonserve.storage.ids import id_key
from jsonserve.storage.registry import backend_name, load_backend

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from jsonserve.storage.sql.base import SqlStorage

BATCH = 1000
FIRST_POS = -(2**62)  # loaded records sort before every later insert, whose position is a change seq (> 0)
INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson (and so every backend) holds as an integer
PARSER = ijson.get_backend(ijson.backend_name)  # the fastest available: the C one (yajl2_c) when built
SectionKind = Literal["plural", "singular", "extra"]


class TransferError(Exception):
    """A copy that cannot start: same source and target, missing source, unsupported location."""


class TargetNotEmpty(TransferError):
    """The target already holds data and ``force`` was not given."""


class _IntegerOverflow(Exception):
    """The C parser met an integer beyond 63 bits."""


@dataclass(frozen=True)
class Endpoint:
    """A source or target: a location the registry understands, plus backend constructor options."""

    location: str
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. ``schema=`` for PostgreSQL

    @property
    def backend(self) -> str:
        """``json``, ``sqlite`` or ``postgresql``."""
        return backend_name(self.location)


@dataclass(frozen=True)
class Tally:
    """Progress so far: records copied, and ``done`` of ``total`` units (bytes of a JSON source, else records)."""

    records: int
    done: int
    total: int | None
    unit: Literal["bytes", "records"]


@dataclass(frozen=True)
class Summary:
    """What a finished copy wrote."""

    resources: int
    records: int


Progress = Callable[[Tally], None]


@dataclass
class Section:
    """One top-level key of the data, in order: a collection (records streamed) or one value."""

    name: str
    kind: SectionKind
    value: JSONValue = None
    records: AsyncIterator[Record] | None = None
    high: int = 0  # the id high-water mark the source declares (0: unknown)


class _Reader(ABC):
    """A source: its sections in order, and how far the reading has got."""

    unit: Literal["bytes", "records"] = "records"
    total: int | None = None

    def done(self, records: int) -> int:
        return records

    @abstractmethod
    def sections(self) -> AsyncIterator[Section]:
        """The source's top-level keys, in order, each with its value or a stream of records."""


async def transfer(
    source: str | Endpoint,
    target: str | Endpoint,
    *,
    force: bool = False,
    id_field: str = "id",
    indexes: Sequence[str] = (),
    progress: Progress | None = None,
) -> Summary:
    """Copy everything in ``source`` to ``target``, replacing the target only with ``force``.

    ``indexes`` (``COLLECTION.FIELD``) are created on a SQL target after the load; ``progress`` is
    called after every batch.
    """
    source, target = _endpoint(source), _endpoint(target)
    _check_pair(source, target)
    try:
        return await _copy(source, target, force, id_field, indexes, progress, PARSER)
    except _IntegerOverflow:  # yajl holds only 63-bit integers; Python's parser holds any (and is slower)
        return await _copy(source, target, force, id_field, indexes, progress, ijson.get_backend("python"))


async def _copy(
    source: Endpoint,
    target: Endpoint,
    force: bool,
    id_field: str,
    indexes: Sequence[str],
    progress: Progress | None,
    parser: Any,
) -> Summary:
    async with _open_reader(source, id_field, parser) as reader:
        counter = _Counter(reader, progress or (lambda _tally: None))
        if target.backend == "json":
            return await _write_json(Path(target.location), reader, counter, force, id_field, source.backend == "json")
        return await _write_sql(target, reader, counter, force, id_field, indexes)


def _endpoint(value: str | Endpoint) -> Endpoint:
    return value if isinstance(value, Endpoint) else Endpoint(value)


def _check_pair(source: Endpoint, target: Endpoint) -> None:
    for endpoint in (source, target):
        try:
            endpoint.backend  # noqa: B018 - validates the location
        except StorageCorrupt as error:
            raise TransferError(str(error).replace("cannot serve", "cannot copy")) from None
    same_file = source.backend == target.backend != "postgresql" and _local(source) == _local(target)
    if source.location == target.location or same_file:
        raise TransferError(f"the source and the target are the same: {source.location}")


def _local(endpoint: Endpoint) -> Path:
    location = endpoint.location
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        location = location.removeprefix(prefix)
    return Path(location).resolve()


class _Counter:
    """Counts copied records and reports progress once per batch."""

    def __init__(self, reader: _Reader, progress: Progress) -> None:
        self.reader = reader
        self.progress = progress
        self.records = 0

    def add(self, count: int) -> None:
        self.records += count
        reader = self.reader
        self.progress(Tally(self.records, reader.done(self.records), reader.total, reader.unit))


class _Ids:
    """Checks each record's id like ``parse_document``, gives id-less records the next integers (at the end).

    Tracks the high-water mark (the declared one, or the largest integer id) and whether every id is an integer.
    """

    def __init__(self, section: Section, id_field: str, unique: bool) -> None:
        self.name = section.name
        self.id_field = id_field
        self.declared = section.high
        self.largest = 0
        self.int_ids = True
        self.missing: list[Record] = []  # json-server 1.x gives id-less records an id on load
        self.seen: set[str] | None = set() if unique else None

    @property
    def high(self) -> int:
        return max(self.declared, self.largest)

    async def records(self, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        index = 0
        async for record in records:
            if not isinstance(record, dict):
                raise StorageCorrupt(f"{self.name}[{index}] is not an object")
            value = record.get(self.id_field)
            if value is None:
                self.missing.append(record)
            else:
                self._check(index, value)
                yield record
            index += 1
        for record in self.missing:
            self.largest = self.high + 1
            record[self.id_field] = self.largest
            yield record

    def _check(self, index: int, value: JSONValue) -> None:
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise StorageCorrupt(f"{self.name}[{index}] has an id that is not a number or a string: {value!r}")
        if isinstance(value, int):
            self.largest = max(self.largest, value)
        else:
            self.int_ids = False
        if self.seen is not None:
            key = id_key(value)  # type: ignore[arg-type]
            if key in self.seen:
                raise StorageCorrupt(f"{self.name} has two records with id {value!r}")
            self.seen.add(key)


# -- sources ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _open_reader(source: Endpoint, id_field: str, parser: Any) -> AsyncIterator[_Reader]:
    if source.backend == "json":
        async with _json_reader(Path(source.location), id_field, parser) as json_reader:
            yield json_reader
        return
    storage = _sql_storage(source, id_field)
    sql_reader: _SqlReader | None = None
    try:
        with _sql_errors(source.location):
            sql_reader = await _SqlReader.open(storage, source.location)
        yield sql_reader
    finally:
        if sql_reader is not None:
            await sql_reader.connection.close()
        await storage.aclose()


@contextlib.asynccontextmanager
async def _json_reader(path: Path, id_field: str, parser: Any) -> AsyncIterator[_JsonReader]:
    path = path.resolve()
    if not path.is_file():
        raise TransferError(f"{path} does not exist")
    journal = path.with_name(f".{path.name}.journal")
    replay = read_journal(journal)
    if replay.commits or replay.torn:
        await _compact(path, id_field)  # writes a crash left in the journal go into the file first
        replay = read_journal(journal)
    lock = FileLock(path.with_name(f".{path.name}.lock"), path)
    lock.acquire()  # no server may write the file while it is read
    try:
        with path.open("rb") as file:
            yield _JsonReader(file, path.stat().st_size, replay.high, parser)
    finally:
        lock.release()


async def _compact(path: Path, id_field: str) -> None:
    from jsonserve.storage.file.jsonfile import JsonFileStorage

    storage = JsonFileStorage(path, id_field=id_field)
    await storage.open()  # replays the journal into the file
    await storage.aclose()


class _JsonReader(_Reader):
    """A json-server document read as a stream of parser events (``ijson``'s C backend)."""

    unit: Literal["bytes", "records"] = "bytes"

    def __init__(self, file: IO[bytes], size: int, highs: dict[str, int], parser: Any) -> None:
        self.file = file
        self.total = size
        self.highs = highs
        self.parser = parser

    def done(self, records: int) -> int:
        return self.file.tell()

    async def sections(self) -> AsyncIterator[Section]:
        events = self.parser.parse(self.file, use_float=True)
        with self._parsing():
            for section in _json_sections(events, self.highs, self.parser):
                if section.records is not None:
                    section.records = self._guarded(section.records)
                yield section
                if section.records is not None:
                    async for _record in section.records:  # drain what the writer left unread
                        pass

    async def _guarded(self, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        with self._parsing():
            async for record in records:
                yield record

    @contextlib.contextmanager
    def _parsing(self) -> Iterator[None]:
        try:
            yield
        except ijson.JSONError as error:
            if "integer overflow" in str(error):
                raise _IntegerOverflow from None
            raise StorageCorrupt(f"{self.file.name} is not valid JSON: {error}") from None


def _json_sections(events: Iterator[tuple[str, str, Any]], highs: dict[str, int], parser: Any) -> Iterator[Section]:
    _, event, _ = next(events, ("", "end", None))
    if event != "start_map":
        raise StorageCorrupt("the data must be a JSON object whose keys are resources")
    for _, event, name in events:
        if event == "end_map":
            return
        prefix, event, value = next(events)
        if event == "start_array" and not name.startswith("$"):
            records = _aiter(_json_records(events, name, parser))
            yield Section(_routable(name), "plural", records=records, high=highs.get(name, 0))
            continue
        value = _json_value(events, (prefix, event, value), parser)
        if name.startswith("$"):
            yield Section(name, "extra", value)
        elif isinstance(value, dict):
            yield Section(_routable(name), "singular", value)
        else:
            raise StorageCorrupt(f"resource {name!r} must be an array or an object, not {type(value).__name__}")


def _routable(name: str) -> str:
    if not name or "/" in name or not name.isprintable():
        raise StorageCorrupt(f"resource name {name!r} cannot be routed (empty, '/' or control characters)")
    return name


def _json_records(events: Iterator[tuple[str, str, Any]], name: str, parser: Any) -> Iterator[Record]:
    """The items of the top-level array ``name``, built by ijson's C builder from the shared event stream."""
    built: list[Any] = ijson.utils.sendable_list()
    builder = parser.items_basecoro(built, f"{name}.item")
    send = builder.send
    for event in events:
        if event[1] == "end_array" and event[0] == name:
            return
        send(event)
        if built:
            yield from (_checked(item) for item in built)
            del built[:]


def _json_value(events: Iterator[tuple[str, str, Any]], first: tuple[str, str, Any], parser: Any) -> JSONValue:
    built: list[Any] = ijson.utils.sendable_list()
    builder = parser.items_basecoro(built, first[0])
    builder.send(first)
    while not built:
        builder.send(next(events))
    value: JSONValue = _checked(built[0])
    return value


def _checked(value: Any) -> Any:
    """``value`` as orjson would have parsed it: integers beyond 64 bits become floats."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        value = _narrow(value)
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError as error:
            raise StorageCorrupt(f"a value cannot be stored: {error}") from None
    return value


def _narrow(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _narrow(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_narrow(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return float(value)
    return value


async def _aiter(items: Iterator[Record]) -> AsyncIterator[Record]:
    for item in items:
        yield item


def _sql_storage(endpoint: Endpoint, id_field: str, **options: Any) -> SqlStorage:
    cls: Any = load_backend(endpoint.backend)
    return cls(endpoint.location, id_field=id_field, **{**endpoint.options, **options})  # type: ignore[no-any-return]


class _SqlReader(_Reader):
    """A SQL database read in one snapshot, each collection paged by position."""

    def __init__(self, storage: SqlStorage, connection: AsyncConnection, total: int) -> None:
        self.storage = storage
        self.connection = connection
        self.total = total

    @classmethod
    async def open(cls, storage: SqlStorage, location: str) -> _SqlReader:
        import sqlalchemy as sa

        from jsonserve.storage.sql.compile import records

        database = storage.engine.url.database
        if storage.engine.dialect.name == "sqlite" and not (database and Path(database).is_file()):
            raise TransferError(f"{location} does not exist")
        connection = await storage.engine.connect()
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="REPEATABLE READ")
        if not await connection.run_sync(lambda sync: sa.inspect(sync).has_table("jsonserve_resources")):
            await connection.close()
            raise TransferError(f"{location} holds no jsonserve data")
        total = (await connection.execute(sa.select(sa.func.count()).select_from(records))).scalar_one()
        return cls(storage, connection, int(total))

    async def sections(self) -> AsyncIterator[Section]:
        import sqlalchemy as sa

        from jsonserve.storage.sql.compile import resources

        columns = (resources.c.name, resources.c.kind, resources.c.high, resources.c.doc)
        catalogue = await self.connection.execute(sa.select(*columns).order_by(resources.c.position))
        for name, kind, high, doc in catalogue.all():
            if kind == "plural":
                yield Section(name, "plural", records=self._records(name), high=int(high))
            else:
                yield Section(name, kind, doc)

    async def _records(self, collection: str) -> AsyncIterator[Record]:
        import sqlalchemy as sa

        from jsonserve.storage.sql.compile import records

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


# -- targets ---------------------------------------------------------------------------------------


async def _write_json(
    path: Path, reader: _Reader, counter: _Counter, force: bool, id_field: str, unique: bool
) -> Summary:
    path = path.resolve()
    if path.exists() and path.stat().st_size and not force:
        raise TargetNotEmpty(f"{path} already exists (use --force to replace it)")
    lock = FileLock(path.with_name(f".{path.name}.lock"), path)
    lock.acquire()  # no server may be serving the file we replace
    temp = path.with_name(f"{temp_prefix(path)}{os.getpid()}-transfer")
    try:
        with temp.open("wb", buffering=1024 * 1024) as file:
            resources, highs = await _stream_document(file, reader, counter, id_field, unique)
            file.flush()
            os.fsync(file.fileno())
        # The journal first: a stale one (its writes belong to the replaced data) must never be replayed.
        journal = path.with_name(f".{path.name}.journal")
        if highs:
            atomic_write(journal, encode_meta(0, highs))
        else:
            journal.unlink(missing_ok=True)
        temp.replace(path)
        fsync_dir(path.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        lock.release()
    return Summary(resources, counter.records)


async def _stream_document(
    file: IO[bytes], reader: _Reader, counter: _Counter, id_field: str, unique: bool
) -> tuple[int, dict[str, int]]:
    """Write the document as ``encode_document`` would (two-space indent); return (resources, lost highs)."""
    file.write(b"{")
    resources = 0
    highs: dict[str, int] = {}  # high-water marks above the largest id: only the journal can keep them
    async for section in reader.sections():
        file.write(b"\n  " if resources == 0 else b",\n  ")
        file.write(orjson.dumps(section.name) + b": ")
        resources += 1
        if section.records is None:
            file.write(orjson.dumps(section.value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  "))
            continue
        ids = _Ids(section, id_field, unique)
        count = 0
        async for record in ids.records(section.records):
            file.write(b"[\n    " if count == 0 else b",\n    ")
            file.write(orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    "))
            count += 1
            if count % BATCH == 0:
                counter.add(BATCH)
        file.write(b"\n  ]" if count else b"[]")
        counter.add(count % BATCH)
        if ids.high > ids.largest:
            highs[section.name] = ids.high
    file.write(b"\n}\n" if resources else b"}\n")
    return resources, highs


async def _write_sql(
    target: Endpoint, reader: _Reader, counter: _Counter, force: bool, id_field: str, indexes: Sequence[str]
) -> Summary:
    from jsonserve.storage.sql.indexes import analyze, create_indexes

    storage = _sql_storage(target, id_field)
    try:
        with _sql_errors(target.location):
            await storage.open()
            async with storage.transaction() as connection:
                resources = await _load_sql(connection, reader, counter, force, id_field, target.location)
            # Indexes are built after the load (one sort instead of a million updates), then statistics.
            async with storage.transaction() as connection:
                if not await create_indexes(connection, storage.access, indexes):
                    await analyze(connection)
    finally:
        await storage.aclose()
    return Summary(resources, counter.records)


@contextlib.contextmanager
def _sql_errors(location: str) -> Iterator[None]:
    """A database error (unreachable, refused, …) as a :class:`TransferError` naming the location."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.SQLAlchemyError as error:
        raise TransferError(f"{location}: {getattr(error, 'orig', None) or error}") from None
    except OSError as error:  # e.g. the database server is unreachable
        raise TransferError(f"{location}: {error}") from None


async def _load_sql(
    connection: AsyncConnection, reader: _Reader, counter: _Counter, force: bool, id_field: str, location: str
) -> int:
    import sqlalchemy as sa

    from jsonserve.storage.sql.compile import records, resources

    if (await connection.execute(sa.select(sa.func.count()).select_from(resources))).scalar_one() and not force:
        raise TargetNotEmpty(f"{location} already holds data (use --force to replace it)")
    await connection.execute(records.delete())
    await connection.execute(resources.delete())
    position = 0
    async for section in reader.sections():
        row: dict[str, Any] = {"name": section.name, "position": position, "kind": section.kind, "high": 0}
        row.update(int_ids=True, doc=None if section.records is not None else section.value)
        await connection.execute(resources.insert().values(**row))
        position += 1
        if section.records is None:
            continue
        ids = _Ids(section, id_field, unique=False)
        await _insert_records(connection, section.name, ids.records(section.records), counter, id_field)
        await connection.execute(
            resources.update().where(resources.c.name == section.name).values(high=ids.high, int_ids=ids.int_ids)
        )
    return position


async def _insert_records(
    connection: AsyncConnection, name: str, stream: AsyncIterator[Record], counter: _Counter, id_field: str
) -> None:
    from jsonserve.storage.sql.compile import records

    insert = records.insert()
    batch: list[dict[str, Any]] = []
    pos = FIRST_POS
    async for record in stream:
        batch.append({"collection": name, "key": id_key(record[id_field]), "pos": pos, "doc": record})  # type: ignore[arg-type]
        pos += 1
        if len(batch) == BATCH:
            await _insert(connection, insert, batch, name)
            counter.add(len(batch))
            batch = []
    if batch:
        await _insert(connection, insert, batch, name)
        counter.add(len(batch))


async def _insert(connection: AsyncConnection, insert: Any, batch: list[dict[str, Any]], name: str) -> None:
    import sqlalchemy as sa

    try:
        await connection.execute(insert, batch)
    except sa.exc.IntegrityError:
        first, last = batch[0]["key"], batch[-1]["key"]
        raise StorageCorrupt(f"{name} has two records with the same id (between ids {first} and {last})") from None
