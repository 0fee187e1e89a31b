"""The PostgreSQL backend: JSONB documents, a connection pool, several instances on one database.

Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried, never surfaced as 5xx.
Strings compare with ``COLLATE "C"`` (code point order, as the reference semantics say).

Example:
    >>> storage = PostgresStorage("postgresql://postgres@127.0.0.1/test")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from typing_extensions import override

from jsonserve.storage._sql import Expr, JsonAccess, Path
from jsonserve.storage.sql import SqlStorage

T = TypeVar("T")
RETRIED = {"40001", "40P01"}
ATTEMPTS = 8


def postgres_url(source: str) -> str:
    """``postgresql://user@host/db`` -> SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if source.startswith(prefix):
            return "postgresql+asyncpg://" + source.removeprefix(prefix)
    raise ValueError(f"not a PostgreSQL URL: {source!r}")


class PostgresJson(JsonAccess):
    """JSON access through JSONB operators."""

    def _value(self, path: Path) -> sa.ColumnElement[Any]:
        return self.doc.op("#>", return_type=postgresql.JSONB)(_text_array(path))

    @override
    def kind(self, path: Path) -> sa.ColumnElement[str]:
        value = self._value(path)
        kind = sa.func.jsonb_typeof(value)
        return sa.case((kind == "boolean", sa.cast(value, sa.Text)), else_=kind)

    @override
    def text(self, path: Path) -> sa.ColumnElement[str]:
        return self.doc.op("#>>", return_type=sa.Text)(_text_array(path))

    @override
    def number(self, path: Path) -> sa.ColumnElement[float]:
        return sa.cast(self.text(path), sa.Numeric)

    @override
    def lower(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return sa.func.lower(value)

    @override
    def binary(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return value.collate("C")

    @override
    def contains(self, haystack: sa.ColumnElement[str], needle: str) -> Expr:
        return sa.func.strpos(haystack, needle) > 0

    @override
    def like(self, path: Path, pattern: str) -> Expr:
        kind = self.kind(path)
        return sa.and_(kind.in_(("string", "number", "true", "false")), self.text(path).op("~*")(pattern))

    @override
    def raw(self, path: Path) -> sa.ColumnElement[Any]:
        return self._value(path)

    @override
    def raw_in(self, path: Path, text: str, number: float | None) -> Expr:
        values = [sa.literal(text, postgresql.JSONB)]
        if number is not None:
            values.append(sa.literal(number, postgresql.JSONB))
        return self.raw(path).in_(values)

    @override
    def search(self, needle: str) -> Expr:
        path: sa.ColumnElement[Any] = sa.literal_column("'strict $.**'::jsonpath")
        values = (
            sa.func.jsonb_path_query(self.doc, path)
            .table_valued(sa.column("value", postgresql.JSONB))
            .render_derived(name="v")
        )
        value = values.c.value
        text = value.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'::text[]"))
        kind = sa.func.jsonb_typeof(value)
        truthy = sa.or_(
            sa.and_(kind == "string", text != ""),
            sa.and_(kind == "number", sa.cast(text, sa.Numeric) != 0),
            sa.and_(kind == "boolean", text == "true"),
        )
        matched = sa.and_(truthy, sa.func.strpos(sa.func.lower(text), needle.lower()) > 0)
        return sa.exists(sa.select(sa.literal(1)).select_from(values).where(matched))


class PostgresStorage(SqlStorage):
    """PostgreSQL through asyncpg; ``schema`` isolates one data set (tests use one per case)."""

    def __init__(self, source: str, *, schema: str | None = None, pool_size: int = 10, **options: Any) -> None:
        connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}} if schema else {}
        engine = create_async_engine(
            postgres_url(source),
            json_serializer=lambda value: orjson.dumps(value).decode(),
            json_deserializer=orjson.loads,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args=connect_args,
        )
        super().__init__(engine, PostgresJson(), **options)
        self.schema = schema

    async def open(self) -> None:
        """Create the schema (when one is named), then the tables."""
        if self.schema:
            async with self.engine.begin() as connection:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        await super().open()

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Retry serialization failures and deadlocks with jittered backoff."""
        for attempt in range(ATTEMPTS):
            try:
                return await super().write(work)
            except DBAPIError as error:
                if _sqlstate(error) not in RETRIED or attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")


def _text_array(path: Path) -> sa.ColumnElement[Any]:
    return sa.cast(postgresql.array(path), postgresql.ARRAY(sa.Text))


def _sqlstate(error: DBAPIError) -> str | None:
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) or getattr(getattr(original, "__cause__", None), "sqlstate", None)


__all__ = ["PostgresStorage"]
