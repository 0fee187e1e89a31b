"""``app_client(data)``: a fresh app over ``data`` on any storage backend, and an httpx client to it.

The same data can be served by any storage backend (``backend="jsonfile" | "sqlite" | "postgres"``),
which is how one API test suite runs against all of them. The app runs on the caller's event loop.

Example:
    >>> async with app_client({"posts": [{"id": 1, "title": "a"}]}) as client:  # doctest: +SKIP
    ...     assert (await client.get("/posts/1")).json()["title"] == "a"
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.realtime.hub import Hub
from jsonserve.service import build_service
from jsonserve.storage.base import Storage
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client

BACKENDS = ("memory", "jsonfile", "sqlite", "postgres")
POSTGRES_URL = os.environ.get("JSONSERVE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULTS: dict[str, str] = {"backend": "memory"}
"""What :func:`app_client` uses when no ``backend`` is given (the test suite switches it per backend)."""


@contextlib.asynccontextmanager
async def app_client(
    data: dict[str, JSONValue] | None = None, *, backend: str | None = None, hub: Hub | None = None, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app over ``data`` (or, without data, the demo data).

    ``options`` are :class:`~jsonserve.config.Settings` fields, e.g. ``compat="1"`` or ``read_only=True``.
    ``hub`` receives every change the app's writes make (a test can subscribe to it, or record them).
    """
    settings = Settings(**options)
    async with (
        _storage(data, backend or DEFAULTS["backend"], settings) as storage,
        build_service(settings, storage, hub) as service,  # opens the storage; closes it (flushing writes) last
        open_client(create_app(settings, service, manage_storage=False)) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def _storage(
    data: dict[str, JSONValue] | None, backend: str, settings: Settings
) -> AsyncIterator[Storage | None]:
    if data is None:
        yield None  # the demo data, in memory
        return
    data = copy.deepcopy(data)
    if backend == "memory":
        yield MemoryStorage(data, id_field=settings.id_field)
        return
    with tempfile.TemporaryDirectory(prefix="jsonserve-") as folder:
        if backend == "jsonfile":
            path = Path(folder) / "db.json"
            path.write_bytes(encode_document(data))
            yield JsonFileStorage(path, id_field=settings.id_field)
        elif backend == "sqlite":
            from jsonserve.storage.sql.sqlite import SqliteStorage

            path = Path(folder) / "db.sqlite"
            await _copy_seeded(data, settings.id_field, path)
            yield SqliteStorage(str(path), id_field=settings.id_field, seed=data)
        elif backend == "postgres":
            async with _postgres(data, settings) as storage:
                yield storage
        else:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


_SEEDED: dict[tuple[str, str], Path] = {}  # a seeded SQLite file per data set and id field, per process
SEEDED_FILES = 64


@functools.cache
def _seeded_folder() -> tempfile.TemporaryDirectory[str]:
    """This process's folder of seeded files (removed when the process ends)."""
    return tempfile.TemporaryDirectory(prefix="jsonserve-seeded-")


async def _copy_seeded(data: dict[str, JSONValue], id_field: str, path: Path) -> None:
    """Put at ``path`` a copy of a SQLite file seeded with ``data``, seeding one the first time.

    Seeding takes a dozen fsyncs (tables, records, index statistics); a test suite serves the same
    few data sets hundreds of times, so each gets a copy of one seeded, cleanly closed file, which
    the storage then opens as it would any existing database. Data the storage refuses is left to
    it: nothing is copied, and its ``open()`` says what is wrong, as before.
    """
    from jsonserve.storage.sql.sqlite import SqliteStorage

    key = (repr(data), id_field)  # repr: keeps key order and types apart (1, 1.0, True), takes any integer
    seeded = _SEEDED.get(key)
    if seeded is None:
        if len(_SEEDED) >= SEEDED_FILES:
            _SEEDED.pop(next(iter(_SEEDED))).unlink(missing_ok=True)
        seeded = Path(_seeded_folder().name) / f"{uuid.uuid4().hex}.sqlite"
        storage = SqliteStorage(str(seeded), id_field=id_field, seed=copy.deepcopy(data))
        try:
            await storage.open()
        except Exception:  # any refusal is the test's to see, from its own storage's open()
            seeded.unlink(missing_ok=True)
            return
        finally:
            await storage.aclose()
        _SEEDED[key] = seeded
    shutil.copyfile(seeded, path)
    wal = seeded.with_name(seeded.name + "-wal")  # gone after a clean close; copied along if not
    if wal.exists():
        shutil.copyfile(wal, path.with_name(path.name + "-wal"))


@contextlib.asynccontextmanager
async def _postgres(data: dict[str, JSONValue], settings: Settings) -> AsyncIterator[Storage]:
    from jsonserve.storage.sql.postgres import PostgresStorage

    schema = f"jsonserve_test_{uuid.uuid4().hex[:12]}"
    try:
        yield PostgresStorage(POSTGRES_URL, schema=schema, pool_size=2, id_field=settings.id_field, seed=data)
    finally:
        cleaner = PostgresStorage(POSTGRES_URL, pool_size=1)
        async with cleaner.engine.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await cleaner.aclose()
