"""Where a real server's data lives, per backend: its source argument, seeding, and direct (server-less) reads.

The reliability tests run one scenario against ``jsonfile``, ``sqlite`` and ``postgres`` by asking a
:class:`Store` for the ``jsonserve`` source argument, seeding it with a document before the server
starts, and reading what is *stored* without a server (the file; the SQLite file through ``sqlite3``;
the PostgreSQL database in-process). PostgreSQL data lives in a throw-away database
(:func:`throwaway_database`): the backend takes only a URL, so a database is the unit of isolation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from sqlalchemy.ext.asyncio import create_async_engine

from jsonserve import testing
from jsonserve.storage.file.document import encode_document
from tests.api.conftest import require_postgres
from tests.reliability.helpers import read_json_file

STORE_KINDS = ("jsonfile", "sqlite", "postgres")


def database_url(name: str) -> str:
    """:data:`jsonserve.testing.POSTGRES_URL` pointing at database ``name``."""
    return urlunparse(urlparse(testing.POSTGRES_URL)._replace(path=f"/{name}"))


async def _admin(statement: str) -> list[tuple[Any, ...]]:
    url = database_url("postgres").replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.exec_driver_sql(statement)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


def admin(statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on the server's ``postgres`` database (autocommit); its rows."""
    return asyncio.run(_admin(statement))


def database_name(url: str) -> str:
    return urlparse(url).path.lstrip("/")


@contextlib.contextmanager
def throwaway_database(prefix: str, settings: dict[str, str] | None = None) -> Iterator[str]:
    """``CREATE DATABASE <prefix>_<random>`` on the server of ``POSTGRES_URL``; its URL; dropped at the end.

    ``settings``: per-database defaults (``ALTER DATABASE … SET name TO value``), e.g. the isolation level.
    """
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        for setting, value in (settings or {}).items():
            admin(f"ALTER DATABASE \"{name}\" SET {setting} TO '{value}'")
        yield database_url(name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Store:
    """One backend's data for one server (``folder`` is the server's working directory and log folder)."""

    kind: str
    folder: Path
    postgres_url: str | None = None

    @property
    def source(self) -> str:
        """The ``jsonserve SOURCE`` argument (relative to ``folder`` for files)."""
        if self.kind == "postgres":
            assert self.postgres_url is not None
            return self.postgres_url
        return {"jsonfile": "db.json", "sqlite": "db.sqlite"}[self.kind]

    @property
    def path(self) -> Path:
        return self.folder / self.source

    def seed(self, document: dict[str, Any]) -> None:
        """Replace the stored data with ``document`` (no server may be running)."""
        if self.kind == "jsonfile":
            self.path.write_bytes(encode_document(document))
        else:
            asyncio.run(self._load(document))

    def read(self) -> dict[str, Any]:
        """The stored data as ``GET /db`` would show it, read without a server; ``ValueError`` if unreadable."""
        if self.kind == "jsonfile":
            return dict(read_json_file(self.path))
        if self.kind == "sqlite":
            try:
                return _read_sqlite(self.path)
            except sqlite3.Error as error:
                raise ValueError(f"{self.path.name}: {error}") from None
        return asyncio.run(self._load(None))

    def damage(self) -> list[str]:
        """What is wrong with the storage itself (after a crash): SQLite's ``PRAGMA integrity_check``."""
        if self.kind != "sqlite":
            return []  # a JSON file is checked by parsing it (read); PostgreSQL recovers on its own
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            found = [row[0] for row in db.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else [f"PRAGMA integrity_check: {found[:10]}"]

    async def _load(self, document: dict[str, Any] | None) -> dict[str, Any]:
        storage: Any
        if self.kind == "sqlite":
            from jsonserve.storage.sql.sqlite import SqliteStorage

            storage = SqliteStorage(str(self.path))
        else:
            from jsonserve.storage.sql.postgres import PostgresStorage

            storage = PostgresStorage(self.source, pool_size=1)
        try:
            await storage.open()
            if document is not None:
                await storage.load_document(document)
            return dict(await storage.dump())
        finally:
            await storage.aclose()


def _read_sqlite(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise sqlite3.OperationalError("no such file")
    result: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        catalogue = db.execute("SELECT name, kind, doc FROM jsonserve_resources ORDER BY position").fetchall()
        for name, kind, doc in catalogue:
            if kind == "plural":
                rows = db.execute("SELECT doc FROM jsonserve_records WHERE collection = ? ORDER BY pos", (name,))
                result[name] = [json.loads(row[0]) for row in rows]
            else:
                result[name] = None if doc is None else json.loads(doc)
    return result
