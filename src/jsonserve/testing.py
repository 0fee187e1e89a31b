"""Serve data in-process for tests: a json-server-compatible API with no socket and no files.

Example:
    >>> async with serve({"posts": [{"id": 1, "title": "a"}]}) as client:  # doctest: +SKIP
    ...     assert (await client.get("/posts/1")).json()["title"] == "a"
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx

from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.service import Service, build_service
from jsonserve.storage.memory import MemoryStorage
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client


@contextlib.asynccontextmanager
async def serve(data: dict[str, JSONValue] | None = None, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app over ``data`` (or ``options["source"]``, or the demo data).

    ``options`` are :class:`~jsonserve.config.Settings` fields, e.g. ``compat="1"`` or ``read_only=True``.
    """
    settings = Settings(**options)
    storage = MemoryStorage(copy.deepcopy(data), id_field=settings.id_field) if data is not None else None
    service: Service = build_service(settings, storage)
    app = create_app(settings, service)
    async with open_client(app) as client:
        yield client
