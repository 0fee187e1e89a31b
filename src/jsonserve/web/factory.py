"""The app of ``jsonserve --workers N``: uvicorn imports it by name in every worker process.

The CLI puts the :class:`~jsonserve.config.Settings` in an environment variable (inherited by the
workers); each worker builds its own app, whose lifespan opens its own storage. Only the SQL
backends can be shared this way: the database, not a process, owns the data.

Example:
    >>> os.environ[ENV] = encode_settings(Settings(source="app.db"))  # doctest: +SKIP
    >>> uvicorn.run("jsonserve.web.factory:app_from_env", factory=True, workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from jsonserve.config import Settings
from jsonserve.web.app import create_app

ENV = "JSONSERVE_SETTINGS"
_TUPLES = ("cors_origins", "indexes")
_PATHS = ("static_dir", "schema_file")


def encode_settings(settings: Settings) -> str:
    """Settings as JSON text (for an environment variable)."""
    data = dataclasses.asdict(settings)
    for name in _PATHS:
        data[name] = None if data[name] is None else str(data[name])
    return orjson.dumps(data).decode()


def decode_settings(text: str) -> Settings:
    """The inverse of :func:`encode_settings`."""
    data: dict[str, Any] = orjson.loads(text)
    for name in _TUPLES:
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    for name in _PATHS:
        if data.get(name) is not None:
            data[name] = Path(data[name])
    return Settings(**data)


def app_from_env() -> Starlette:
    """A fresh app from the settings in ``$JSONSERVE_SETTINGS``; its lifespan opens the storage."""
    try:
        text = os.environ[ENV]
    except KeyError:
        raise RuntimeError(f"{ENV} is not set: start workers with `jsonserve SOURCE --workers N`") from None
    return create_app(decode_settings(text))
