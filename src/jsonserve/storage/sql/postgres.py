"""The PostgreSQL backend: JSONB documents, a connection pool, several instances on one database.

Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried, never surfaced as 5xx.
The database failing (unreachable, shut down, terminated connections, read-only, disk full, out of
resources, lock or statement timeouts) is a 503 (:meth:`PostgresStorage.outage`), never a 500.
Reads run in autocommit: one round trip each, on a statement asyncpg has prepared and cached; once
a read's SQL is known, straight on asyncpg (``direct.py``). Page totals are kept per filter under the
snapshot they were counted in (``counts.py``).
The reference semantics (``query/evaluate.py``) are followed thus:

* strings compare with ``COLLATE "C"`` (code point order);
* case-insensitive tests lower-case with ICU's root locale (``"und-x-icu"``), which is Python's
  ``str.lower`` whatever the database's own locale; a server built without ICU falls back to
  ``lower()`` under the database's collation;
* numbers compare as ``numeric`` (JSONB keeps their decimal digits) with query numbers bound as exact
  decimals, and their text is ``trim_scale(numeric)`` (plain decimal, no trailing zeros);
* ``_like`` uses ``regexp_match`` with flags ``ip``: case-insensitive, and ``.`` does not match a
  newline (RE2's default); on an array, it tests each element (``jsonb_array_elements``);
* a path segment that ``#>`` would read as an array index where Python does not (``-1``, `` 1``), or
  the reverse (non-ASCII digits), is looked up with ``->`` instead;
* a path is one ``text[]`` parameter, and an ``in`` list longer than a few values one array parameter
  (``unnest``, ``jsonb_array_elements``), so a query meets neither the 32,767-parameter limit nor
  grows with its lists.

Example:
    >>> storage = PostgresStorage("postgresql://postgres@127.0.0.1/test")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from typing_extensions import override

from jsonserve._types import Record
from jsonserve.errors import QueryError
from jsonserve.query.model import Page, Query
from jsonserve.query.text import number_value, to_number
from jsonserve.storage.follow import ChangeSignal, MessageBus
from jsonserve.storage.registry import masked
from jsonserve.storage.sql.base import Counted, Find, SqlStorage, stored
from jsonserve.storage.sql.compile import LISTED_VALUES, MAX_INDEX_READINGS, Expr, JsonAccess, Path
from jsonserve.storage.sql.counts import KeptCounts
from jsonserve.storage.sql.database import Outage, database_message, describe
from jsonserve.storage.sql.direct import FAILURES, DirectReads
from jsonserve.storage.sql.notify import PgChangeSignal, PgListener, PgMessageBus, install
from jsonserve.storage.sql.prepared import document

T = TypeVar("T")
log = logging.getLogger("jsonserve.storage")
RETRIED = {"40001", "40P01"}
# SQLSTATE classes and codes meaning "the database cannot serve this now": connection exception, invalid
# authorization, insufficient resources (disk full …), operator intervention (shutdown, terminated
# backend, statement timeout), system error (I/O); read-only transaction, idle-session timeout, lock
# not available, object in use, a database not accepting connections (55000), insufficient privilege,
# and a database that no longer exists.
UNAVAILABLE_CLASSES = ("08", "28", "53", "57", "58")
UNAVAILABLE = {"25006", "25P03", "55P03", "55006", "55000", "42501", "3D000"}
ATTEMPTS = 8


def postgres_url(source: str) -> str:
    """``postgresql://user@host/db`` -> SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if source.startswith(prefix):
            return "postgresql+asyncpg://" + source.removeprefix(prefix)
    raise ValueError(f"not a PostgreSQL URL: {source!r}")


class PostgresJson(JsonAccess):
    """JSON access through JSONB operators."""

    def __init__(self) -> None:
        self.case_collation: str | None = ICU_ROOT  # None without ICU (set when the storage opens)

    def _value(self, path: Path) -> sa.ColumnElement[Any]:
        value: sa.ColumnElement[Any] = self.doc
        run: list[str] = []
        # A segment read both ways repeats the path before it: past a few, they are keys (as path_variants).
        both_ways = sum(part.isdecimal() and not part.isascii() for part in path) <= MAX_INDEX_READINGS
        for part in path:
            if _plain(part):
                run.append(part)
                continue
            if run:
                value, run = value.op("#>", return_type=postgresql.JSONB)(_text_array(tuple(run))), []
            value = _step(value, part, both_ways)
        if run or value is self.doc:
            value = value.op("#>", return_type=postgresql.JSONB)(_text_array(tuple(run)))
        return value

    @override
    def kind(self, path: Path) -> sa.ColumnElement[str]:
        value = self._value(path)
        kind = sa.func.jsonb_typeof(value)
        return sa.case((kind == "boolean", sa.cast(value, sa.Text)), else_=kind)

    @override
    def text(self, path: Path) -> sa.ColumnElement[str]:
        if all(_plain(part) for part in path):
            return self.doc.op("#>>", return_type=sa.Text)(_text_array(path))
        return _as_text(self._value(path))

    @override
    def number(self, path: Path) -> sa.ColumnElement[float]:
        value = self._value(path)
        number = sa.cast(value, sa.Numeric)
        # ``number_value``: -2.0**63, stored as its shortest decimal, is the 64-bit minimum.
        low, floor = _numeric(_INT64_MIN), _numeric(_INT64_MIN_FLOAT)
        clamped = sa.case((sa.and_(number < low, number >= floor), low), else_=number)
        return sa.case((sa.func.jsonb_typeof(value) == "number", clamped), else_=None)

    @override
    def number_param(self, number: float) -> sa.ColumnElement[float]:
        return _numeric(_decimal(number))

    @override
    def lower(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return sa.func.lower(self._cased(value))

    def _cased(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return value.collate(self.case_collation) if self.case_collation else value

    @override
    def binary(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return value.collate("C")

    @override
    def contains(self, haystack: sa.ColumnElement[str], needle: str) -> Expr:
        return sa.func.strpos(haystack, needle) > 0

    @override
    def like(self, path: Path, pattern: str) -> Expr:
        value = self._value(path)
        elements = (
            sa.func.jsonb_array_elements(value).table_valued(sa.column("value", postgresql.JSONB)).render_derived("e")
        )
        any_element = sa.exists(
            sa.select(sa.literal(1)).select_from(elements).where(self._like(elements.c.value, pattern))
        )
        # CASE, not AND: jsonb_array_elements fails on a scalar, and AND does not fix an evaluation order.
        return sa.case((sa.func.jsonb_typeof(value) == "array", any_element), else_=self._like(value, pattern))

    def _like(self, value: sa.ColumnElement[Any], pattern: str) -> Expr:
        kind = sa.func.jsonb_typeof(value)
        matched = sa.func.regexp_match(self._cased(_scalar_text(value)), pattern, "ip").is_not(None)
        return sa.and_(kind.in_(("string", "number", "boolean")), matched)

    @override
    def raw(self, path: Path) -> sa.ColumnElement[Any]:
        return self._value(path)

    @override
    def raw_in(self, path: Path, texts: Sequence[str]) -> Expr:
        values: list[object] = list(texts)
        for number in (to_number(text) for text in texts):
            if number is not None:
                # JSONB compares decimals; ``number_value`` also makes -2.0**63 equal -2**63, either way round.
                value = number_value(number)
                extra = float(number) if isinstance(number, int) else value
                values += [v for v in (number, extra) if _fits_json(v)]
        if len(texts) <= LISTED_VALUES:
            return self.raw(path).in_([sa.literal(value, postgresql.JSONB) for value in values])
        elements = sa.func.jsonb_array_elements(sa.literal(values, postgresql.JSONB))
        return self.raw(path).in_(sa.select(elements))

    @override
    def among_texts(self, value: sa.ColumnElement[str], texts: Sequence[str]) -> Expr:
        return value.in_(sa.select(sa.func.unnest(_array(list(texts), sa.Text))))

    @override
    def among_numbers(self, value: sa.ColumnElement[float], numbers: Sequence[float]) -> Expr:
        return value.in_(sa.select(sa.func.unnest(_array([_decimal(number) for number in numbers], sa.Numeric))))

    @override
    def search(self, needle: str, skip: frozenset[str]) -> Expr:
        path: sa.ColumnElement[Any] = sa.literal_column("'strict $.**'::jsonpath")
        doc = self.doc.op("-", return_type=postgresql.JSONB)(_array(sorted(skip), sa.Text)) if skip else self.doc
        values = (
            sa.func.jsonb_path_query(doc, path)
            .table_valued(sa.column("value", postgresql.JSONB))
            .render_derived(name="v")
        )
        value = values.c.value
        kind = sa.func.jsonb_typeof(value)
        truthy = sa.case(
            (kind == "string", _as_text(value) != ""),
            (kind == "number", sa.cast(value, sa.Numeric) != 0),
            (kind == "boolean", _as_text(value) == "true"),
            else_=sa.false(),
        )
        matched = sa.and_(truthy, sa.func.strpos(self.lower(_scalar_text(value)), needle.lower()) > 0)
        return sa.exists(sa.select(sa.literal(1)).select_from(values).where(matched))


ICU_ROOT = "und-x-icu"
SNAPSHOT = sa.select(sa.cast(sa.func.pg_current_snapshot(), sa.Text)).scalar_subquery()
"""The statement's snapshot as text (``xmin:xmax:xip,…``): which transactions it sees (PostgreSQL 13+)."""
_INT64_MIN = -(2**63)
_INT64_MIN_FLOAT = int(Decimal(repr(float(_INT64_MIN))))  # -9223372036854776000


def _fits_json(value: object) -> bool:
    """Whether orjson can write it: floats, and integers of 64 bits."""
    return not isinstance(value, int) or _INT64_MIN <= value < -_INT64_MIN


def _numeric(value: Decimal | int) -> sa.ColumnElement[Any]:
    return sa.cast(sa.literal(Decimal(value), sa.Numeric), sa.Numeric)


def _decimal(number: float) -> Decimal:
    """A query number as the exact decimal it compares as (``number_value``)."""
    value = number_value(number)
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _array(values: list[Any], item: Any) -> sa.ColumnElement[Any]:
    """A list as one typed array parameter (``CAST($1 AS TEXT[])``): asyncpg cannot infer ``unnest``'s type."""
    return sa.cast(sa.literal(values, postgresql.ARRAY(item)), postgresql.ARRAY(item))


# What ``#>`` parses as an array index (C's strtol: blanks, a sign, digits) where Python's lookup does not.
_PG_INDEX = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


def _plain(part: str) -> bool:
    """Whether ``#>`` reads this path segment as ``evaluate.lookup`` does (key, and index iff ASCII digits)."""
    if part.isdecimal():
        return part.isascii()
    return _PG_INDEX.fullmatch(part) is None


def _step(value: sa.ColumnElement[Any], part: str, both_ways: bool) -> sa.ColumnElement[Any]:
    """One segment that ``#>`` would misread: a key, or (non-ASCII digits, ``both_ways``) a key or an index."""
    key = value.op("->", return_type=postgresql.JSONB)(sa.cast(sa.literal(part), sa.Text))
    if both_ways and part.isdecimal() and int(part) < 2**31:
        index = value.op("->", return_type=postgresql.JSONB)(sa.cast(sa.literal(int(part)), sa.Integer))
        return sa.func.coalesce(key, index)
    return key


def _as_text(value: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return value.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'::text[]"))


def _scalar_text(value: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``to_text`` of a JSONB scalar: numbers in plain decimal without trailing zeros."""
    number = sa.cast(sa.func.trim_scale(sa.cast(value, sa.Numeric)), sa.Text)
    return sa.case((sa.func.jsonb_typeof(value) == "number", number), else_=_as_text(value))


class PostgresStorage(SqlStorage):
    """PostgreSQL through asyncpg; ``schema`` isolates one data set (tests use one per case)."""

    def __init__(self, source: str, *, schema: str | None = None, pool_size: int = 10, **options: Any) -> None:
        """At most ``pool_size`` connections through SQLAlchemy, and as many for reads straight on asyncpg."""
        connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}} if schema else {}
        engine = create_async_engine(
            postgres_url(source),
            json_serializer=lambda value: orjson.dumps(value).decode(),
            json_deserializer=orjson.loads,
            # No overflow: SQLAlchemy closes an overflow connection as soon as it is returned to a
            # full pool, and under load that meant a new connection (a PostgreSQL backend forked, TLS
            # tried first) for many requests: 837 connections in 5 s of GET by id at 64 clients, and
            # a third fewer requests served. The pool opens connections as concurrency needs them.
            pool_size=pool_size,
            max_overflow=0,
            connect_args=connect_args,
            # Row locks (FOR UPDATE) give correctness; a stricter database default would only abort
            # every collision on a collection's id row (40001) instead of waiting for it.
            isolation_level="READ COMMITTED",
        )
        self.json = PostgresJson()
        super().__init__(engine, self.json, **options)
        # Reads outside a transaction: no BEGIN before and no ROLLBACK after, so a read is one round
        # trip (asyncpg's prepared statement, cached per connection). Each statement of a read sees its
        # own snapshot, as under the READ COMMITTED transaction it ran in before.
        self.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.schema = schema
        self.source = source
        self.direct = DirectReads(self.dsn, size=pool_size, schema=schema)
        """Reads whose SQL is known, on asyncpg without SQLAlchemy around them (``direct.py``)."""
        self.counts = KeptCounts()
        """Page totals, each kept under the snapshot it was counted in (``counts.py``)."""
        self.listener = PgListener(self)
        """The one LISTEN connection of realtime across instances (``notify.py``)."""

    @property
    def dsn(self) -> str:
        """The URL as asyncpg takes it (for the LISTEN connection, which is not one of the pool's)."""
        return "postgresql://" + postgres_url(self.source).removeprefix("postgresql+asyncpg://")

    async def aclose(self) -> None:
        """Close the LISTEN connection (if a user forgot to), then the pools."""
        await self.listener.shutdown()
        await self.direct.aclose()
        await super().aclose()

    @override
    def follow_changes(self, shared: bool) -> ChangeSignal:
        """The trigger's notifications, plus a safety poll: other instances may write at any time."""
        del shared
        return PgChangeSignal(self.listener)

    @override
    def message_bus(self) -> MessageBus:
        """Channel messages through ``NOTIFY`` on this database (``notify.py``)."""
        return PgMessageBus(self, self.listener)

    @override
    def location(self) -> str:
        """The URL as the user typed it (``postgres://``, no driver name), its password masked."""
        return masked(self.source)

    @override
    def explain(self, error: BaseException) -> str:
        """A missing database says how to create it (``createdb NAME``): a new user's first step."""
        reason = describe(error)
        if isinstance(error, DBAPIError) and _sqlstate(error) == "3D000" and self.engine.url.database:
            return f"{reason} (create it first: createdb {self.engine.url.database})"
        return reason

    @override
    def insert_ignoring_conflicts(self, table: sa.Table, **values: Any) -> sa.Insert:
        return postgresql.insert(table).values(**values).on_conflict_do_nothing()

    async def open(self) -> None:
        """Create the schema (when one is named), then the tables; see whether ICU is there to lower-case."""
        if self.schema:
            async with self.engine.begin() as connection:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        await super().open()
        try:
            async with self.engine.begin() as connection:
                await install(connection)  # the change log's NOTIFY trigger (realtime across instances)
        except DBAPIError as error:  # e.g. a read-only user: realtime falls back on the 1 s safety read
            log.warning(
                "realtime: cannot install the change-log trigger (%s); changes from other instances "
                "arrive within a second, and channel messages over 8000 bytes cannot be sent",
                describe(error),
            )
        async with self.engine.connect() as connection:
            icu = await connection.execute(
                sa.text("SELECT 1 FROM pg_collation WHERE collname = :name"), {"name": ICU_ROOT}
            )
            self.json.case_collation = ICU_ROOT if icu.first() else None

    @override
    async def get(self, collection: str, record_id: str) -> Record | None:
        """By id straight on asyncpg once the statement is known (``direct.py``), else as every SQL backend."""
        self._plural(collection)
        sql = self.statements.sql("get")
        if sql is not None:
            with contextlib.suppress(*FAILURES):  # the usual path reads again, and reports what failed
                rows = await self.direct.fetch(sql, (collection, record_id))
                return document(rows[0][0]) if rows else None
        return await super().get(collection, record_id)

    @override
    async def find(self, query: Query) -> Page:
        """Straight on asyncpg when every statement is known (``direct.py``), else as every SQL backend.

        A pattern PostgreSQL's regex engine rejects is the client's 400.
        """
        self._plural(query.collection)
        with contextlib.suppress(Unknown, *FAILURES):  # the usual path reads again, and reports what failed
            return await Find(self, query).read(self._direct)
        try:
            return await super().find(query)
        except DBAPIError as error:
            if _sqlstate(error) == "2201B":  # invalid_regular_expression: RE2 accepted it, PostgreSQL not
                raise QueryError(
                    "`_like` uses regular-expression syntax this PostgreSQL backend does not support"
                ) from None
            raise

    async def _direct(self, key: tuple[Any, ...], build: Callable[[], sa.Select[Any]]) -> Sequence[Sequence[Any]]:
        """One statement of a :class:`Find` on asyncpg, if its SQL is known (else :class:`Unknown`)."""
        del build  # built (and kept) by the usual path only
        known = self.statements.known(key) if stored(key) else None
        if known is None:
            raise Unknown
        return await self.direct.fetch(*known)

    @override
    def versioned(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """``select`` and its statement's snapshot (``counts.py``): one more column, no more round trips."""
        return select.add_columns(SNAPSHOT)

    @override
    async def remembered_count(
        self, find: Find, connection: object | None, key: Hashable, count: Callable[[], Awaitable[Counted]]
    ) -> int:
        """The count kept for the snapshot the page's rows were read in, else ``count()`` (then kept).

        The count's own statement names the snapshot it counted in; it is served again only to a page
        read in an equal snapshot, which sees the same data (``counts.py``).
        """
        if find.version is not None and (kept := self.counts.get(key, find.version)) is not None:
            return kept
        counted, version = await count()
        if version is not None:
            self.counts.keep(key, version, counted)
        return counted

    @override
    def outage(self, error: sa.exc.DBAPIError) -> Outage | None:
        state = _sqlstate(error)
        if state is not None and (state[:2] in UNAVAILABLE_CLASSES or state in UNAVAILABLE):
            return Outage(f"{database_message(error)} (SQLSTATE {state})")
        return super().outage(error)

    async def run_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Retry serialization failures and deadlocks with jittered backoff (only the transaction)."""
        for attempt in range(ATTEMPTS):
            try:
                return await super().run_transaction(work)
            except DBAPIError as error:
                if _sqlstate(error) not in RETRIED or attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")


class Unknown(Exception):
    """A statement of a read has not run yet: the read goes through SQLAlchemy (which keeps its SQL)."""


def _text_array(path: Path) -> sa.ColumnElement[Any]:
    # One parameter per path, not one per segment: 100 conditions on a 120-segment path went past the
    # 32,767 parameters a statement may have.
    return _array(list(path), sa.Text)


def _sqlstate(error: DBAPIError) -> str | None:
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) or getattr(getattr(original, "__cause__", None), "sqlstate", None)


__all__ = ["PostgresStorage"]
