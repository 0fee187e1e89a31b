"""Choose a backend from a source string, importing it only when chosen (uvicorn's pattern).

Example:
    >>> backend_name("db.json"), backend_name(None)
    ('json', 'memory')
"""

from __future__ import annotations

import importlib
from typing import Any

from jsonserve.errors import StorageCorrupt
from jsonserve.storage.base import Storage

BACKENDS = {
    "memory": "jsonserve.storage.memory:MemoryStorage",
    "json": "jsonserve.storage.jsonfile:JsonFileStorage",
}


def backend_name(source: str | None) -> str:
    """The backend a source names: ``None`` is the in-memory demo, ``*.json`` the JSON file."""
    if source is None:
        return "memory"
    if source.lower().endswith(".json"):
        return "json"
    raise StorageCorrupt(f"cannot serve {source!r}: give a .json file (SQLite and PostgreSQL come later)")


def load_backend(name: str) -> type[Storage]:
    """Import a backend class by its registry name."""
    module_name, _, attribute = BACKENDS[name].partition(":")
    cls: Any = getattr(importlib.import_module(module_name), attribute)
    return cls  # type: ignore[no-any-return]
