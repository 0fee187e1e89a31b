"""The SQLite backend: documents in a JSON column, WAL, one writer, pooled readers.

Python functions registered on every connection give SQLite the reference semantics where SQL has
no equivalent: Python's ``str.lower`` (SQLite's is ASCII-only), RE2 for ``_like`` (on a scalar, or on
each element of an array), json-server's ``q`` full-text search, and the value of floats from 1e16 up
(their shortest decimal, see ``query/text.py``; SQLite only has the binary double).

An ``in`` list longer than a few values is bound as one JSON array (``json_each``), so its length
meets none of SQLite's limits (32,766 parameters, an expression depth of 1,000).

Reads first run synchronously, on a connection of the event loop's own thread: a point read takes
microseconds, less than handing it to aiosqlite's thread and back. A read still running after
:data:`READ_BUDGET` of CPU (a large count, an unindexed filter) is interrupted (SQLite's progress handler)
and run again on the pooled aiosqlite readers, so the event loop is never held for long; so is a
read that fails there, whose error the pooled path then reports as it always has. Each synchronous
read is its own read transaction on the WAL, begun after the request arrived: it sees every write
acknowledged before it (a write's 2xx is sent after its commit).

Failures: SQLite's "disk full", "locked", "read-only" and I/O errors are a 503, never a 500; after an
I/O error on a write (a failed ``fsync`` of the WAL, say) or in a WAL checkpoint, writes are refused
until restart, as for the ``jsonfile`` backend: the disk's state is unknown, and SQLite itself would
retry blindly. An existing
but empty (0-byte) file is refused at start instead of being filled with the sample data.

Example:
    >>> storage = SqliteStorage("sqlite:///app.db")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import SingletonThreadPool
from typing_extensions import override

from jsonserve._types import Record
from jsonserve.errors import StorageCorrupt, StorageUnavailable
from jsonserve.query.evaluate import like, search
from jsonserve.query.model import Page, Query
from jsonserve.query.text import (
    EXACT_FLOAT_LIMIT,
    INT64_MAX,
    INT64_MIN,
    compile_pattern,
    number_value,
    to_number,
    to_text,
)
from jsonserve.storage.follow import ChangeSignal, PollSignal
from jsonserve.storage.sql.base import PRUNE_EVERY, Counted, Find, SqlStorage, finished
from jsonserve.storage.sql.checkpoint import Checkpointer
from jsonserve.storage.sql.compile import LISTED_VALUES, Expr, JsonAccess, path_variants, records
from jsonserve.storage.sql.compile import Path as JsonPath
from jsonserve.storage.sql.counts import KeptCounts
from jsonserve.storage.sql.database import Outage, database_message
from jsonserve.storage.sql.group import GroupCommit
from jsonserve.storage.sql.patterns import Forms
from jsonserve.storage.sql.prepared import capture

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")
READ_BUDGET = 0.0005
"""CPU seconds a read may take synchronously on the event loop before it is moved to a reader thread."""
READ_WAIT = 0.005
"""Wall-clock seconds it may take (waiting for the disk, or for a busy machine's CPU) before it is moved."""
READER = "jsonserve_reader"  # a synchronous reader's number, in its connection's ``info``
EXACT_INTEGER = 2**53  # up to it every integer is a double too: ``float(n) == n`` (``exact_equals``)
_readers = itertools.count()
PROGRESS_STEPS = 1000  # SQLite VM instructions between two looks at the clock

POLL = 0.05  # seconds between reads of the change log when other workers write (``--workers``)
_KINDS = {"text": "string", "integer": "number", "real": "number"}
# SQLite's primary result codes that mean the database cannot serve now; the true ones stop writes until restart.
_OUTAGES = {
    3: False,  # SQLITE_PERM
    5: False,  # SQLITE_BUSY (another process held the lock past busy_timeout)
    6: False,  # SQLITE_LOCKED
    8: False,  # SQLITE_READONLY
    10: True,  # SQLITE_IOERR (write, fsync, truncate …)
    11: True,  # SQLITE_CORRUPT
    13: False,  # SQLITE_FULL (SQLite rolls back cleanly; writes resume once there is room)
    14: False,  # SQLITE_CANTOPEN
    15: False,  # SQLITE_PROTOCOL
    26: True,  # SQLITE_NOTADB
}


def sqlite_url(source: str) -> str:
    """``app.db`` or ``sqlite:///app.db`` -> SQLAlchemy's aiosqlite URL.

    An in-memory database (``sqlite://``, ``sqlite:///:memory:``) is refused: each of our connections
    would see a database of its own.
    """
    url = source
    if source == ":memory:":  # sqlite3's name for it; as a path it would be a file named ":memory:"
        url = "sqlite+aiosqlite:///:memory:"
    elif source.startswith("sqlite://"):
        url = "sqlite+aiosqlite://" + source.removeprefix("sqlite://")
    elif not source.startswith("sqlite+aiosqlite://"):
        return f"sqlite+aiosqlite:///{Path(source).resolve()}"
    database = url.removeprefix("sqlite+aiosqlite://").removeprefix("/")
    if database in ("", ":memory:") or "mode=memory" in database:
        raise StorageCorrupt(
            f"cannot serve {source!r}: an in-memory SQLite database is not supported (the server's connections "
            "would each see their own); give a file, e.g. sqlite:///app.db, or no source for in-memory demo data"
        )
    return url


class SqliteJson(JsonAccess):
    """JSON access through SQLite's JSON1 functions."""

    def _path(self, variant: tuple[str | int, ...]) -> str:
        return "$" + "".join(
            f"[{part}]" if isinstance(part, int) else '."' + part.replace('"', '""') + '"' for part in variant
        )

    def _first(self, function: str, path: JsonPath) -> sa.ColumnElement[Any]:
        calls = [getattr(sa.func, function)(self.doc, self._path(variant)) for variant in path_variants(path)]
        return calls[0] if len(calls) == 1 else sa.func.coalesce(*calls)

    @override
    def kind(self, path: JsonPath) -> sa.ColumnElement[str]:
        raw = self._first("json_type", path)
        # ``CASE raw WHEN …``: SQLite evaluates (parses the document for) ``raw`` once, not once per WHEN.
        return sa.case(_KINDS, value=raw, else_=raw)

    @override
    def text(self, path: JsonPath) -> sa.ColumnElement[str]:
        return self._first("json_extract", path)

    @override
    def number(self, path: JsonPath) -> sa.ColumnElement[float]:
        value = self._first("json_extract", path)
        large_float = sa.and_(self._first("json_type", path) == "real", sa.func.abs(value) >= EXACT_FLOAT_LIMIT)
        return sa.case((large_float, sa.func.jsonserve_number(value)), else_=value)

    @override
    def number_param(self, number: float) -> sa.ColumnElement[float]:
        return sa.literal(_sqlite_number(number))

    @override
    def value_forms(self, text: str) -> tuple[str, Forms] | None:
        number = to_number(text)
        if number is None:
            return "text", (text,)
        forms = (text, number, float(number), _sqlite_number(number))  # what equals() and raw_in() bind
        exact = "exact" if _exact(number) else "typed"  # exact_equals() or not
        return ",".join([exact, *(type(form).__name__ for form in forms)]), forms

    @override
    def exact_equals(self, path: JsonPath, text: str) -> Expr | None:
        """The indexed ``IN`` and one ``json_type`` test, where that is what :func:`equals` means.

        ``json_extract`` gives a JSON string as SQL text and a number as an integer or a real; SQLite's
        ``IN`` compares text with text only, and an integer with a real by value. So with ``IN (text,
        number, float(number))`` matched, the typed tests of :func:`equals` reduce to the JSON type
        (not an array or object whose JSON text it is, nor ``true``/``false``, which are 1 and 0)
        while the number is within ±2**53: there ``float(number)`` is the number itself, and a float
        below 1e16 compares as its binary value. A read of a ten-row filter at 100,000 posts: 55 µs
        in SQLite with the typed tests, 28 µs with this.
        """
        number = to_number(text)
        if len(path_variants(path)) > 1 or not _exact(number):
            return None
        kinds = ("text",) if number is None else ("text", "integer", "real")
        return sa.and_(self.raw_in(path, (text,)), sa.func.json_type(self.doc, self._path(path)).in_(kinds))

    @override
    def lower(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return sa.func.jsonserve_lower(value)

    @override
    def binary(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return value  # SQLite's default BINARY collation compares UTF-8 bytes: code point order

    @override
    def contains(self, haystack: sa.ColumnElement[str], needle: str) -> Expr:
        return sa.func.instr(haystack, needle) > 0

    @override
    def like(self, path: JsonPath, pattern: str) -> Expr:
        return sa.func.jsonserve_like(pattern, self._first("json_type", path), self.text(path)) == 1

    @override
    def search(self, needle: str, skip: frozenset[str]) -> Expr:
        doc = sa.func.json_remove(self.doc, *(self._path((name,)) for name in sorted(skip))) if skip else self.doc
        return sa.func.jsonserve_q(needle.lower(), doc) == 1

    @override
    def raw(self, path: JsonPath) -> sa.ColumnElement[Any]:
        # A literal path: SQLite matches an expression index only against the same literal text.
        return sa.func.json_extract(self.doc, sa.literal(self._path(path), literal_execute=True))

    @override
    def raw_in(self, path: JsonPath, texts: Sequence[str]) -> Expr:
        if len(path_variants(path)) > 1:
            return sa.true()
        values: list[object] = list(texts)
        for number in (to_number(text) for text in texts):
            if number is not None:
                # ``number_value`` equates a large float and an integer by the float's shortest decimal: list both.
                values += [number, float(number) if isinstance(number, int) else _sqlite_number(number)]
        return self.raw(path).in_(values if len(texts) <= LISTED_VALUES else _elements(values))

    @override
    def among_texts(self, value: sa.ColumnElement[str], texts: Sequence[str]) -> Expr:
        return value.in_(_elements(texts))

    @override
    def among_numbers(self, value: sa.ColumnElement[float], numbers: Sequence[float]) -> Expr:
        return value.in_(_elements([_sqlite_number(number) for number in numbers]))


def _elements(values: Sequence[object]) -> sa.Select[tuple[Any]]:
    """``SELECT value FROM json_each(?)``: a list as one parameter (each element keeps its SQL type)."""
    elements = sa.func.json_each(sa.literal(_dumps(list(values)), sa.Text)).table_valued("value")
    return sa.select(elements.c.value)


def _like(pattern: str, kind: str | None, value: object) -> int:
    """``evaluate.like`` on what JSON1 gives: a scalar's SQL value, or an array's JSON text."""
    if kind is None or kind in ("null", "object"):
        return 0
    if kind == "array":
        return int(like(orjson.loads(value), pattern))  # type: ignore[arg-type]
    scalar = {"true": True, "false": False}.get(kind, value)
    return int(compile_pattern(pattern).search(to_text(scalar)) is not None)  # type: ignore[arg-type]


def _sqlite_number(number: float) -> float:
    """``number_value`` as SQLite can hold it: an integer within 64 bits, else the double (same order)."""
    value = number_value(number)
    return value if isinstance(value, float) or INT64_MIN <= value <= INT64_MAX else float(value)


def _number(value: object) -> object:
    return _sqlite_number(value) if isinstance(value, float) else value


def _q(needle: str, doc: str) -> int:
    return int(search(orjson.loads(doc), needle))


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def register_functions(dbapi_connection: Any, _record: object) -> None:
    """Python functions and pragmas on every new connection; transactions are begun explicitly."""
    dbapi_connection.isolation_level = None  # no implicit BEGIN from the sqlite3 module
    dbapi_connection.create_function("jsonserve_lower", 1, _lower, deterministic=True)
    dbapi_connection.create_function("jsonserve_like", 3, _like, deterministic=True)
    dbapi_connection.create_function("jsonserve_q", 2, _q, deterministic=True)
    dbapi_connection.create_function("jsonserve_number", 1, _number, deterministic=True)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000", "foreign_keys=OFF"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class SqliteStorage(SqlStorage):
    """SQLite: WAL with ``synchronous=FULL`` (a 2xx survives power loss), one writer at a time."""

    def __init__(self, source: str, **options: Any) -> None:
        url = sqlite_url(source)
        readers = _engine(url, "BEGIN", pool_size=4, max_overflow=4)
        super().__init__(readers, SqliteJson(), **options)
        self.write_engine = _engine(url, "BEGIN IMMEDIATE", pool_size=1, max_overflow=0)
        self._writer = asyncio.Lock()
        self.sync_engine = _sync_engine(url)
        self.counts = KeptCounts()  # see remembered_count
        self._point_readers = threading.local()
        self._opened_point_readers: list[sqlite3.Connection] = []
        self._pruning: asyncio.Task[None] | None = None

        # The record writes' own connection (the standard ``sqlite3`` module, in the group's thread).
        self.group_engine = _group_engine(url)
        # Its WAL checkpoints, off the writer's path (``checkpoint.py``); none for an in-memory database.
        path = self.path
        self.checkpointer = None if path is None else Checkpointer(path, failed=self._checkpoint_failed)
        self._group = GroupCommit(
            self.group_engine.connect,
            self._writer,
            lambda error: self.unavailable(error, writing=True) or error,
            self._refusal,
            None if self.checkpointer is None else self.checkpointer.after_commit,
        )

    async def get(self, collection: str, record_id: str) -> Record | None:
        """A point read straight on this thread's ``sqlite3`` connection once its statement is known.

        One primary-key lookup: microseconds, bounded, so it needs no budget; without SQLAlchemy's
        connection checkout and execution context around it, it costs about a tenth as much. Any
        ``sqlite3`` error sends it down the usual path, which reports it as it always has.
        """
        self._plural(collection)
        sql = self.statements.sql("get")
        if sql is not None and self.path is not None:
            try:
                rows = self._point_reader().execute(sql, (collection, record_id)).fetchall()
            except sqlite3.Error:
                pass
            else:
                return orjson.loads(rows[0][0]) if rows else None
        return await super().get(collection, record_id)

    def _point_reader(self) -> sqlite3.Connection:
        """This thread's connection for point reads (opened on first use, closed with the storage)."""
        reader: sqlite3.Connection | None = getattr(self._point_readers, "connection", None)
        if reader is None:
            assert self.path is not None  # noqa: S101 - get() checked it
            # mode=rw: a database deleted meanwhile is an error (answered by the usual path), not a new file.
            reader = sqlite3.connect(
                f"{self.path.as_uri()}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
            )
            try:
                register_functions(reader, None)
                reader.execute("PRAGMA query_only=ON")
            except sqlite3.Error:
                reader.close()  # not a database (any more): nothing kept open
                raise
            self._point_readers.connection = reader
            self._point_readers.number = next(_readers)  # names its data_version (remembered_count)
            self._opened_point_readers.append(reader)
        return reader

    async def remembered_count(
        self, find: Find, connection: object | None, key: Hashable, count: Callable[[], Awaitable[Counted]]
    ) -> int:
        """A count kept until the database changes (``PRAGMA data_version``): a page of a large collection.

        ``COUNT(*)`` walks every match (100,000 index entries for page 2 of ``/posts``), and json-server's
        pages need it for ``X-Total-Count``. A synchronous reader notes the version its read sees, and a
        count is kept (``counts.py``, as PostgreSQL keeps its own) under the reader and that version,
        served only to a read of the same reader at the same version. ``data_version`` numbers are only
        comparable on one connection, hence the reader in the key (one synchronous reader per thread;
        the direct reads' connection is one too); on one connection they only grow, so a count made on
        the pooled readers after a write, kept under the older version, is never served again.
        """
        version = self._reader_version(connection)
        if version is not None:
            find.version = version
            kept = self.counts.get((version[0], key), version[1])
            if kept is not None:
                return kept
        counted = (await count())[0]
        if isinstance(find.version, tuple):
            reader, seen = find.version
            self.counts.keep((reader, key), seen, counted)
        return counted

    def _reader_version(self, connection: object | None) -> tuple[int, int] | None:
        """``(reader, data_version)`` read on a synchronous reader (SQLAlchemy's or the direct one), else ``None``."""
        if isinstance(connection, sa.Connection) and connection.engine is self.sync_engine:
            version = int(connection.exec_driver_sql("PRAGMA data_version").scalar_one())
            return connection.connection.info.setdefault(READER, next(_readers)), version
        if isinstance(connection, sqlite3.Connection):
            return self._point_readers.number, connection.execute("PRAGMA data_version").fetchone()[0]
        return None

    @override
    async def find(self, query: Query) -> Page:
        """A read whose statements have all run before goes straight to ``sqlite3`` (:meth:`_find_direct`)."""
        self._plural(query.collection)
        find = Find(self, query)
        if self.path is not None and find.known(find.rows_key()) is not None:
            try:
                return self._find_direct(find)
            except _NotDirect:
                pass  # the usual path builds the statement (and its reader notes its own version)
            except sqlite3.OperationalError as error:
                if _interrupted(error):  # past the budget: to the pooled readers, as read_sync's second try
                    return await super().read_sync(find.run)
            except sqlite3.Error:
                pass  # the usual path reports it as it always has
        return await self.read_sync(find.run)

    def _find_direct(self, find: Find) -> Page:
        """``find`` on this thread's point reader, its known statements run by ``sqlite3`` itself.

        Like :meth:`get`, without SQLAlchemy's connection checkout, transaction events and result
        objects around each statement: for a filter of ten rows those took about half of the request.
        One read transaction holds the rows and the count (``BEGIN`` … ``ROLLBACK``; a read with no
        window is one statement, its own transaction), within
        :data:`READ_BUDGET` as on the synchronous reader. A statement not known yet (a count the page
        needs for the first time) raises :class:`_NotDirect`: the usual path builds it.
        """
        reader = self._point_reader()

        async def execute(key: tuple[Any, ...], _build: Callable[[], sa.Select[Any]]) -> Sequence[Sequence[Any]]:
            known = find.known(key)
            if known is None:
                raise _NotDirect
            return reader.execute(*known).fetchall()

        if find.query.window is None:  # one statement (no count): its own read transaction
            return _within_raw_budget(reader, lambda: finished(find.read(execute, reader)))
        reader.execute("BEGIN")
        try:
            return _within_raw_budget(reader, lambda: finished(find.read(execute, reader)))
        finally:
            with contextlib.suppress(sqlite3.Error):
                reader.execute("ROLLBACK")
            if reader.in_transaction:  # never read on it again: its point reads would see an old snapshot
                self._point_readers.connection = None

    async def read_sync(self, work: Callable[[sa.Connection], T]) -> T:
        """``work`` on this thread's synchronous reader within :data:`READ_BUDGET`, else on the pooled readers."""
        try:
            with self.sync_engine.connect() as connection:
                return _within_budget(connection, work)
        except (sa.exc.DBAPIError, sqlite3.Error):  # interrupted past the budget, or failing: the pooled path decides
            return await super().read_sync(work)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One writer at a time; ``BEGIN IMMEDIATE`` takes SQLite's write lock up front."""
        async with self._writer, self.write_engine.begin() as connection:
            yield connection

    @override
    async def commit(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in the next group commit (see ``group.py``): many writes, one transaction, one fsync."""
        self._refuse_if_failed()
        result = await self._group.submit(work)
        await self.written()
        return result

    @override
    async def written(self) -> None:
        """Count a committed write; every :data:`PRUNE_EVERY` writes, queue a prune of the change log.

        The prune is one more item of the next group commit (its own savepoint, no transaction or
        fsync of its own), and no request waits for it: it used to take the writer's lock for a
        transaction of its own, holding up every batch behind it, and the 1,000th write's answer.
        """
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0 and (self._pruning is None or self._pruning.done()):
            self._pruning = asyncio.create_task(self._prune(), name="jsonserve-sqlite-prune")

    async def _prune(self) -> None:
        try:  # housekeeping: must never fail or repeat a committed write
            await self._group.submit(self._changes.prune_sync)
        except (sa.exc.SQLAlchemyError, StorageUnavailable):
            log.warning("change-log prune failed; it is retried after the next 1,000 writes", exc_info=True)

    def _checkpoint_failed(self, error: sqlite3.Error) -> None:
        """A checkpoint's I/O error refuses writes until restart, as a commit's does (``checkpoint.py``)."""
        if (outage := _outage(error)) is not None and outage.until_restart:
            self.refuse_writes(f"{outage.reason} in a WAL checkpoint", failed="a WAL checkpoint")

    def _refusal(self) -> StorageUnavailable | None:
        try:
            self._refuse_if_failed()
        except StorageUnavailable as error:
            return error
        return None

    async def open(self) -> None:
        """Refuse an existing empty file that would be seeded (it is not a database), then open as usual."""
        path = self.path
        if path is not None and not path.parent.is_dir():
            raise StorageCorrupt(f"cannot open the database {path}: the folder {path.parent} does not exist")
        if self._seed is not None and path is not None and _empty_file(path):
            raise StorageCorrupt(
                f"{path} is empty (0 bytes), not a SQLite database; remove it to start a new database there"
            )
        await super().open()
        try:
            await self._analyze()
        except sa.exc.SQLAlchemyError as error:  # statistics only speed reads up: serve without them
            log.warning("could not gather index statistics (ANALYZE): %s", database_message(error))

    async def _analyze(self) -> None:
        """Index statistics (a full ``ANALYZE``) when an index has none, as after seeding or a new ``--index``.

        Without them SQLite's planner prefers the index that gives insertion order for a filtered
        list (one JSON parse per record of the collection) to the expression index that finds the
        matches (``?userId=3`` at 1,000 posts: about 1.5 ms against 30 µs). Sampled statistics
        (``PRAGMA analysis_limit``) mislead it the same way: a sample of N rows of one collection
        says "about N rows per collection", so at 1,000,000 posts the insertion-order scan looked
        cheap and ``?userId=`` took 500 ms instead of 0.6 ms. A full ``ANALYZE`` of 1,000,000
        records takes about 0.2 s, once.
        """
        unanalyzed = sa.text(
            "SELECT count(*) FROM sqlite_master AS m WHERE m.type = 'index' AND m.tbl_name = :table "
            "AND m.name NOT IN (SELECT s.idx FROM sqlite_stat1 AS s WHERE s.idx IS NOT NULL)"
        )
        async with self.transaction() as connection:
            has_stats = (
                await connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            ).first()
            if has_stats and not (await connection.execute(unanalyzed, {"table": records.name})).scalar_one():
                return
            await connection.exec_driver_sql(f"ANALYZE {records.name}")
        await self._drop_readers()

    async def _drop_readers(self) -> None:
        """Close the idle reader connections, so that every reader plans with the new statistics.

        SQLite reads them when a connection loads the schema: a reader opened before the ``ANALYZE``
        would go on planning without them (with 3,000 posts, ``?userId=`` scanned every post).
        """
        if self.path is None:  # an in-memory database lives in its one connection
            return
        await self.engine.dispose()
        self._close_sync_readers()

    def _close_sync_readers(self) -> None:
        """Close the synchronous readers: the pooled ones and every thread's point reader."""
        self.sync_engine.dispose()
        while self._opened_point_readers:
            self._opened_point_readers.pop().close()
        self._point_readers = threading.local()
        self.counts = KeptCounts()  # their counts go with them

    @override
    def follow_changes(self, shared: bool) -> ChangeSignal | None:
        """With other workers writing (``shared``), a poll of the change log every :data:`POLL` seconds.

        SQLite has no notifications; one process alone needs none (it hears its own writes).
        """
        return PollSignal(POLL) if shared else None

    async def aclose(self) -> None:
        """Commit the queued writes, then close the writer and both connection pools."""
        await self._group.close()
        if self._pruning is not None:  # settled by close(): committed, or refused
            await asyncio.wait({self._pruning}, timeout=1.0)
        if self.checkpointer is not None:
            await self.checkpointer.close()
        self.group_engine.dispose()
        await super().aclose()
        await self.write_engine.dispose()
        self._close_sync_readers()

    @functools.cached_property
    def path(self) -> Path | None:
        """The database file (``None`` for an in-memory database); the engine's, which never changes."""
        database = self.engine.url.database
        return None if not database or database == ":memory:" or database.startswith("file:") else Path(database)

    @override
    def location(self) -> str:
        return str(self.path or self.engine.url.render_as_string())

    @override
    def outage(self, error: sa.exc.DBAPIError) -> Outage | None:
        return _outage(error.orig) or super().outage(error)

    @override
    def insert_ignoring_conflicts(self, table: sa.Table, **values: Any) -> sa.Insert:
        return sqlite.insert(table).values(**values).on_conflict_do_nothing()


def _exact(number: float | None) -> bool:
    """Whether :meth:`SqliteJson.exact_equals` holds for a query text with this number (``None``: no number)."""
    return number is None or abs(number) <= EXACT_INTEGER


def _outage(error: BaseException | None) -> Outage | None:
    """The :class:`Outage` a ``sqlite3`` error means (one of :data:`_OUTAGES`), else ``None``."""
    code = getattr(error, "sqlite_errorcode", None)
    if error is None or not isinstance(code, int) or (code & 0xFF) not in _OUTAGES:
        return None
    name = getattr(error, "sqlite_errorname", "SQLite error")
    return Outage(f"{database_message(error)} ({name})", until_restart=_OUTAGES[code & 0xFF])


def _empty_file(path: Path) -> bool:
    """A 0-byte file with no write-ahead log holding its pages."""
    try:
        if path.stat().st_size:
            return False
        wal = path.with_name(path.name + "-wal")
        return not wal.exists() or wal.stat().st_size == 0
    except FileNotFoundError:
        return False


def _engine(url: str, begin: str, **pool: Any) -> AsyncEngine:
    engine = create_async_engine(url, json_serializer=_dumps, json_deserializer=orjson.loads, **pool)
    event.listen(engine.sync_engine, "connect", register_functions)
    event.listen(engine.sync_engine, "begin", lambda connection: connection.exec_driver_sql(begin))
    return engine


def _sync_engine(url: str) -> sa.Engine:
    """Synchronous readers (the standard ``sqlite3`` module): one connection per thread, reading only."""
    engine = sa.create_engine(
        url.replace("sqlite+aiosqlite://", "sqlite+pysqlite://", 1),
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        poolclass=SingletonThreadPool,
        connect_args={"check_same_thread": False},  # disposed from whichever thread closes the storage
    )

    def connect(dbapi_connection: Any, record: object) -> None:
        register_functions(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA query_only=ON")

    event.listen(engine, "connect", connect)
    event.listen(engine, "before_cursor_execute", capture)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def _within_budget(connection: sa.Connection, work: Callable[[sa.Connection], T]) -> T:
    """``work``, interrupted (an ``OperationalError``) past :data:`READ_BUDGET` of CPU or :data:`READ_WAIT`.

    CPU time of this thread, so that a short read is not moved (and begun again) only because a
    busy machine paused the process; the wall clock still bounds a read waiting on the disk.
    """
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)  # noqa: S101 - the synchronous engine is pysqlite's
    return _within_raw_budget(raw, lambda: work(connection))


def _within_raw_budget(raw: sqlite3.Connection, work: Callable[[], T]) -> T:
    """``work()`` on ``raw``, interrupted past the budget (see :func:`_within_budget`).

    The clocks start at SQLite's first look at them (after :data:`PROGRESS_STEPS` instructions), not
    before ``work``: the budget is the database's. Building and compiling a statement never run
    before is Python's bounded work, and it used to count: a filter on a new value (``?userId=`` at a
    million records) ran out of budget before SQLite began, and was built again on a pooled reader.
    """
    deadlines: list[float] = []

    def past() -> bool:
        if not deadlines:
            deadlines.extend((time.thread_time() + READ_BUDGET, time.perf_counter() + READ_WAIT))
            return False
        return time.thread_time() > deadlines[0] or time.perf_counter() > deadlines[1]

    raw.set_progress_handler(past, PROGRESS_STEPS)
    try:
        return work()
    finally:
        raw.set_progress_handler(None, 0)


def _interrupted(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` is the progress handler's interruption (the budget), not a failure."""
    return "interrupted" in str(error)


class _NotDirect(Exception):
    """A direct read needs a statement not known yet: the usual path builds it."""


def _group_engine(url: str) -> sa.Engine:
    """The group commit's engine: the same database through the standard ``sqlite3`` module.

    No pool: the group keeps its one connection open, and opens another only if SQLite drops it.
    """
    sync_url = sa.make_url(url).set(drivername="sqlite+pysqlite")
    engine = sa.create_engine(
        sync_url, json_serializer=_dumps, json_deserializer=orjson.loads, poolclass=sa.pool.NullPool
    )
    event.listen(engine, "connect", register_functions)
    event.listen(engine, "connect", _no_autocheckpoint)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _no_autocheckpoint(dbapi_connection: Any, _record: object) -> None:
    """The group's commits never checkpoint the WAL themselves: :class:`Checkpointer` does, beside them."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
