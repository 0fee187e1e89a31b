"""Expression indexes on filtered or sorted fields (``--index posts.userId``) for the SQL backends.

Each index is on ``(collection, <JsonAccess.raw(path)>)``: the very expression the compiled equality
filter adds as an index-friendly conjunct (``raw_in``), so the planner can use it for ``?userId=3``.
Names are deterministic, so opening the same database twice creates nothing new.

Example:
    >>> parse_index("posts.author.name")
    ('posts', ('author', 'name'))
    >>> index_name("posts", ("userId",))
    'jsonserve_idx_posts_userId_03eeb2a5'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from jsonserve.storage.sql.compile import JsonAccess, records

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def parse_index(spec: str) -> tuple[str, tuple[str, ...]]:
    """``COLLECTION.FIELD[.SUBFIELD…]`` -> (collection, path); the collection is what precedes the first dot."""
    collection, _, field = spec.partition(".")
    path = tuple(field.split("."))
    if not collection or not field or not all(path):
        raise ValueError(f"--index takes COLLECTION.FIELD (e.g. posts.userId or posts.author.name), not {spec!r}")
    return collection, path


def index_name(collection: str, path: tuple[str, ...]) -> str:
    """A deterministic name within PostgreSQL's 63-character limit: readable part + a hash of the exact spec."""
    digest = hashlib.sha256("\0".join((collection, *path)).encode()).hexdigest()[:8]
    readable = _UNSAFE.sub("_", f"{collection}_{'_'.join(path)}").strip("_")[:36]
    return f"jsonserve_idx_{readable}_{digest}"


def index_ddl(access: JsonAccess, specs: Iterable[str], dialect: sa.Dialect) -> dict[str, str]:
    """``CREATE INDEX IF NOT EXISTS`` statements by index name (duplicates dropped).

    The DDL is rendered as text, with the path inlined, rather than as an ``sa.Index`` on the shared
    ``records`` table: an ``Index`` would attach itself to that module-level table, and from there to
    every other database's ``create_all``.
    """
    statements: dict[str, str] = {}
    for spec in specs:
        collection, path = parse_index(spec)
        name = index_name(collection, path)
        expression = access.raw(path).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True, "include_table": False}
        )
        statements[name] = (
            f"CREATE INDEX IF NOT EXISTS {name} ON {records.name} ({records.c.collection.name}, ({expression}))"
        )
    return statements


async def create_indexes(connection: AsyncConnection, access: JsonAccess, specs: Iterable[str]) -> list[str]:
    """Create the missing expression indexes, then refresh the planner's statistics; return the new names.

    Without statistics SQLite prefers the ``(collection, pos)`` index, which yields rows already in
    insertion order, to a selective expression index followed by a sort: one ``ANALYZE`` fixes that.
    """
    statements = index_ddl(access, specs, connection.dialect)
    existing = await existing_indexes(connection)
    missing = [name for name in statements if name.lower() not in existing]
    for name in missing:
        await connection.exec_driver_sql(statements[name])
    if missing:
        await analyze(connection)
    return missing


async def existing_indexes(connection: AsyncConnection) -> set[str]:
    """The (lower-cased) names of the indexes on ``jsonserve_records``."""
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jsonserve_records'"
    else:
        query = (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'jsonserve_records'"
        )
    return {str(name).lower() for (name,) in await connection.exec_driver_sql(query)}


async def analyze(connection: AsyncConnection) -> None:
    """Refresh the planner statistics of ``jsonserve_records`` (after a bulk load or a new index)."""
    await connection.exec_driver_sql(f"ANALYZE {records.name}")
