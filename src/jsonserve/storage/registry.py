"""Choose a backend from a source string, importing it only when chosen (uvicorn's pattern).

Example:
    >>> backend_name("db.json"), backend_name(None), backend_name("postgresql://localhost/app")
    ('json', 'memory', 'postgresql')
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jsonserve.errors import BackendUnavailable, StorageCorrupt
from jsonserve.storage.base import Storage

BACKENDS = {
    "memory": "jsonserve.storage.file.memory:MemoryStorage",
    "json": "jsonserve.storage.file.jsonfile:JsonFileStorage",
    "sqlite": "jsonserve.storage.sql.sqlite:SqliteStorage",
    "postgresql": "jsonserve.storage.sql.postgres:PostgresStorage",
}
# The modules a backend needs beyond its own (SQLAlchemy imports its driver only when it connects).
DRIVERS = {"sqlite": ("sqlalchemy", "aiosqlite"), "postgresql": ("sqlalchemy", "asyncpg")}
# What to install when one is missing: SQLite comes with jsonserve itself, PostgreSQL with an extra.
INSTALL = {"sqlite": "pip install --force-reinstall jsonserve", "postgresql": "pip install 'jsonserve[postgres]'"}
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def backend_name(source: str | None) -> str:
    """The backend a source names: none (demo data), ``*.json``, ``*.db``/``sqlite://``, ``postgresql://``."""
    if source is None:
        return "memory"
    lowered = source.lower()
    if lowered.startswith(("http://", "https://")):
        # json-server 0.17 serves a remote JSON document (a read-only snapshot); jsonserve writes to its data.
        raise StorageCorrupt(
            f"cannot serve {source!r}: a URL is not supported, jsonserve serves (and writes) local data; "
            f"download it first, e.g. curl -o db.json {source}, then: jsonserve db.json"
        )
    if lowered.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        return "postgresql"
    if lowered.startswith("sqlite") or lowered.endswith(SQLITE_SUFFIXES):
        return "sqlite"
    if lowered.endswith(".json"):
        return "json"
    raise StorageCorrupt(
        f"cannot serve {source!r}: give a .json file, a SQLite file (.db, sqlite:///path) or a postgresql:// URL"
    )


def local_path(source: str) -> Path | None:
    """The file a ``.json`` or SQLite source names, resolved (``None`` for PostgreSQL)."""
    if backend_name(source) == "postgresql":
        return None
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        source = source.removeprefix(prefix)
    return Path(source).resolve()


def load_backend(name: str) -> type[Storage]:
    """Import a backend class by its registry name; a missing driver names what to install."""
    module_name, _, attribute = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
        for driver in DRIVERS.get(name, ()):
            importlib.import_module(driver)
    except ImportError as error:
        raise BackendUnavailable(
            f"the {name} backend needs {error.name}: {INSTALL.get(name, 'pip install jsonserve')}"
        ) from None
    cls: Any = getattr(module, attribute)
    return cls  # type: ignore[no-any-return]


def masked(source: str) -> str:
    """``source`` as the user typed it, with any password shown as ``***`` (in messages and logs).

    Both places a PostgreSQL URL can hold one are masked: ``user:password@`` and ``?password=``.

    Example:
        >>> masked("postgres://app:s3cret@db.local/app?sslmode=require&password=s3cret")
        'postgres://app:***@db.local/app?sslmode=require&password=***'
    """
    try:
        parts = urlsplit(source)
    except ValueError:  # not a URL (e.g. an unbalanced "[" in a file name): nothing to mask
        return source
    netloc, query = parts.netloc, parts.query
    user_info, at, host = netloc.rpartition("@")
    if at and ":" in user_info:
        netloc = f"{user_info.split(':', 1)[0]}:***@{host}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        query = urlencode([(key, "***" if key == "password" else value) for key, value in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return source  # unchanged, to the character
    return urlunsplit(parts._replace(netloc=netloc, query=query))
