"""``jsonserve --workers N``: several uvicorn processes sharing one SQL database.

The parent opens the data once (creating the tables, seeding, building indexes, and reporting any
problem before a worker starts), puts the :class:`~jsonserve.config.Settings` in an environment
variable (inherited by the workers) and lets uvicorn's supervisor start the workers; uvicorn imports
:func:`app_from_env` by name in each, whose app's lifespan opens its own storage. Only the SQL
backends can be shared this way: the database, not a process, owns the data.

Example:
    >>> exit_code = serve_workers(Settings(source="app.db", workers=2))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import typing
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from jsonserve.config import Settings
from jsonserve.schema import Kind
from jsonserve.server.lifecycle import OnReady, listen, open_service, ready, uvicorn_options
from jsonserve.server.loop import run_coroutine
from jsonserve.server.protocol import ASGIApp
from jsonserve.storage.registry import backend_name
from jsonserve.web.app import create_app

log = logging.getLogger("jsonserve")
ENV = "JSONSERVE_SETTINGS"
APP = "jsonserve.server.workers:app_from_env"  # uvicorn's import string (the module of this function)


def _fields_of(kind: type) -> tuple[str, ...]:
    """The Settings fields whose type is ``kind`` (or ``kind | None``): JSON carries them as text or lists."""
    hints = typing.get_type_hints(Settings)
    return tuple(
        field.name
        for field in dataclasses.fields(Settings)
        if kind in (hints[field.name], typing.get_origin(hints[field.name]))
        or kind in {typing.get_origin(arg) or arg for arg in typing.get_args(hints[field.name])}
    )


# Derived from the annotations, so that a new path or tuple option crosses to the workers too.
_TUPLES = _fields_of(tuple)
_PATHS = _fields_of(Path)


def serve_workers(settings: Settings, on_ready: OnReady | None = None) -> int:
    """Serve ``settings`` with ``settings.workers`` uvicorn processes until SIGINT or SIGTERM; the exit code.

    Raises :class:`~jsonserve.server.lifecycle.CannotStart` (before ``on_ready`` is called) when the
    address cannot be bound or the data cannot be opened.
    """
    # uvicorn's supervisor binds the port itself (it takes no socket from us across the uvicorn
    # versions we support): hold it meanwhile, so that a port in use is reported in one line before
    # the data is touched, and port 0 becomes the free port the banner prints. It is free again for
    # uvicorn's bind a moment later (the only window another program could take it).
    with listen(settings.host, settings.port) as sock:
        settings = settings.replace(port=sock.getsockname()[1])
        kinds = run_coroutine(_prepare(settings))
    if on_ready is not None:
        on_ready(ready(settings, kinds, settings.port))
    if not settings.redis_url and backend_name(str(settings.source)) == "sqlite":
        log.warning(
            "realtime channels stay per worker on SQLite (changes reach every worker): "
            "give --redis URL to share channel messages between the %d workers",
            settings.workers,
        )
    os.environ[ENV] = encode_settings(settings)
    uvicorn.run(APP, factory=True, workers=settings.workers, **uvicorn_options(settings))
    return 0


async def _prepare(settings: Settings) -> dict[str, Kind]:
    """Open and close the data once: the tables, seed and indexes exist before the workers race to them."""
    async with open_service(settings) as service:
        return service.kinds()


def encode_settings(settings: Settings) -> str:
    """Settings as JSON text (for an environment variable).

    Example:
        >>> decode_settings(encode_settings(Settings(source="app.db"))).source
        'app.db'
    """
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


def app_from_env() -> ASGIApp:
    """A fresh app from the settings in ``$JSONSERVE_SETTINGS``; its lifespan opens the storage."""
    try:
        text = os.environ[ENV]
    except KeyError:
        raise RuntimeError(f"{ENV} is not set: start workers with `jsonserve SOURCE --workers N`") from None
    return create_app(decode_settings(text), freeze=True)
