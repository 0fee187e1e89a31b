"""Settings -> a ready (not yet opened) Service: the one place that reads Settings for the data side.

Example:
    >>> service = build_service(Settings())  # the in-memory demo data
    >>> type(service.storage).__name__
    'MemoryStorage'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonserve.config import Settings
from jsonserve.demo import STARTER, demo_data
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import load_schemas
from jsonserve.service.core import Service
from jsonserve.service.options import ServiceOptions
from jsonserve.storage.base import Storage
from jsonserve.storage.registry import backend_name, load_backend

# Paths with routes of their own: a POST there never creates a collection (``--auto-create``).
RESERVED_NAMES = frozenset({"db", "docs", "redoc", "graphql"})


def build_storage(settings: Settings) -> Storage:
    """The storage backend the source names (imported only when chosen)."""
    name = backend_name(settings.source)
    cls: Any = load_backend(name)
    if name == "memory":
        return cls(demo_data(), id_field=settings.id_field)  # type: ignore[no-any-return]
    if name == "json":
        path = Path(str(settings.source))
        return cls(path, watch=settings.watching, id_field=settings.id_field, seed=STARTER)  # type: ignore[no-any-return]
    # A new, empty database starts with the sample data, as a missing JSON file does.
    return cls(settings.source, id_field=settings.id_field, seed=STARTER, indexes=settings.indexes)  # type: ignore[no-any-return]


def build_service(settings: Settings, storage: Storage | None = None, hub: Hub | None = None) -> Service:
    """A Service over ``storage`` (or the one ``settings.source`` names), publishing to ``hub`` (or a fresh one).

    Raises :class:`SchemaFileError` when ``--schema`` names a file that cannot be used.
    """
    options = ServiceOptions(
        compat=settings.compat,
        read_only=settings.read_only,
        fk_suffix=settings.fk_suffix,
        timestamps=settings.timestamps,
        auto_create=settings.auto_create,
        reserved=RESERVED_NAMES,
        max_page_size=settings.max_page_size,
    )
    schemas = load_schemas(settings.schema_file) if settings.schema_file else {}
    return Service(storage or build_storage(settings), hub or Hub(), options, schemas)
