"""PostgreSQL reads whose SQL is known, run straight on asyncpg: no SQLAlchemy connection around them.

Once a read has run through SQLAlchemy, its final SQL and parameters are kept (``prepared.py``);
running them again through SQLAlchemy still costs a pool checkout, a greenlet, an execution context
and their events: at 64 clients of ``GET /posts/{id}``, about as much CPU as asyncpg's own work. Here
such a read is one ``fetch`` on a small asyncpg pool of its own, on a statement asyncpg has prepared
and cached on that connection: one round trip, and a few microseconds of Python.

The pool's connections decode JSON and JSONB as SQLAlchemy's asyncpg dialect has them decoded (the
same codecs, with orjson), so a row is the same whichever way it was read. Any error of this path
(the database down, a connection terminated) is left to the caller, which reads again through
SQLAlchemy: that path reports it as it always has (a 503, a retry on a fresh connection).

Example:
    >>> rows = await direct.fetch("SELECT doc FROM jsonserve_records WHERE key = $1", ("1",))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

FAILURES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,  # refused, unreachable, timed out
)
"""What this path may raise that the SQLAlchemy path then answers (and reports) instead."""


class DirectReads:
    """A pool of asyncpg connections for reads whose SQL and parameters are already known."""

    def __init__(self, dsn: str, *, size: int, schema: str | None = None) -> None:
        self.dsn = dsn
        self.size = size
        self.schema = schema
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[asyncpg.Record]:
        """The rows of ``sql`` with ``parameters`` (``$1``, ``$2``… in order), on a pooled connection."""
        pool = self._pool or await self._open()
        async with pool.acquire() as connection:
            return await connection.fetch(sql, *parameters)  # type: ignore[no-any-return]

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                settings = {"search_path": self.schema} if self.schema else None
                self._pool = await asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=self.size, init=_codecs, reset=_keep, server_settings=settings
                )
            return self._pool

    async def aclose(self) -> None:
        """Close the pool (if it was ever opened)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


async def _keep(_connection: asyncpg.Connection) -> None:
    """Nothing to reset between two reads (asyncpg's default, ``RESET ALL`` and more, is one more round trip).

    Every statement here is a ``SELECT`` in autocommit: none leaves a transaction, a setting, a lock
    or a ``LISTEN`` behind. (A connection whose read failed or was cancelled is closed by the pool.)
    """


async def _codecs(connection: asyncpg.Connection) -> None:
    """JSON and JSONB in and out as SQLAlchemy's asyncpg dialect sets them (binary format), with orjson."""
    await connection.set_type_codec(
        "json", encoder=str.encode, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
