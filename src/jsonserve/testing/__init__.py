"""A real, stateful json-server-compatible API for tests, scripts and notebooks: ``with serve(data) as server``.

The pytest plugin (:mod:`jsonserve.pytest_plugin`, the ``jsonserve`` fixture) gives every test the
same :class:`JsonServer`; without pytest, :func:`serve` does (docs/testing.md)::

    with serve({"posts": [{"id": 1, "title": "a"}]}) as server:
        requests.get(f"{server.url}/posts/1").json()        # over a real socket
        server.client.post("/posts", json={"title": "b"})   # in-process
        server.data["posts"][-1], server.requests[-1].json  # what is stored, what was sent
        server.fail("/posts", status=503, times=2)          # the next two requests fail

``async with serve(data, backend=...) as client`` is the form the project's own API suite uses: an
``httpx.AsyncClient`` over a fresh app on the caller's event loop, on any storage backend.

Example:
    >>> with serve({"posts": [{"id": 1, "title": "a"}]}) as server:
    ...     server.client.get("/posts/1").json()["title"]
    'a'
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from jsonserve.realtime.hub import Hub
from jsonserve.testing.backends import BACKENDS, DEFAULTS, app_client
from jsonserve.testing.backends import POSTGRES_URL as POSTGRES_URL  # the PostgreSQL of the project's own tests
from jsonserve.testing.faults import Fault
from jsonserve.testing.recorder import RecordedRequest
from jsonserve.testing.server import Host, JsonServer

__all__ = ["BACKENDS", "DEFAULTS", "Fault", "JsonServer", "RecordedRequest", "serve"]


class serve:  # noqa: N801 - used as a function: ``with serve(data) as server``
    """Serve ``data`` (a dict, or the path of a JSON file; none: an empty database) for the ``with`` block.

    ``with serve(data, **options) as server`` yields a :class:`JsonServer` (its ``url`` starts a
    socket server in a thread on first use); everything stops when the block ends. ``options`` are
    the CLI's (``compat``, ``schema``, ``auth``, ``rules``, ``timestamps``, ``auto_create``, ``base``,
    ``routes``) or any :class:`~jsonserve.config.Settings` field; relative paths are read from the
    working directory.

    ``async with serve(data, backend=None, hub=None, **settings) as client`` yields an
    ``httpx.AsyncClient`` over a fresh app on the caller's loop, on any storage backend of
    :data:`BACKENDS` (without data: the demo data); ``hub`` hears every change.

    Example:
        >>> with serve({"posts": []}, auto_create=True) as server:
        ...     server.client.post("/notes", json={"text": "hi"}).status_code
        201
    """

    def __init__(
        self,
        data: Mapping[str, Any] | str | Path | None = None,
        *,
        backend: str | None = None,
        hub: Hub | None = None,
        **options: Any,
    ) -> None:
        self._data = data
        self._backend = backend
        self._hub = hub
        self._options = options
        self._host: Host | None = None
        self._async: contextlib.AbstractAsyncContextManager[httpx.AsyncClient] | None = None

    def __enter__(self) -> JsonServer:
        if self._backend not in (None, "memory") or self._hub is not None:
            raise TypeError("with serve(...) runs on the memory backend; backend= and hub= are for async with")
        host = self._host = Host(Path.cwd())
        try:
            server = host.server(self._options, self._data)
            server.reset(self._data)
        except BaseException:
            host.close()
            raise
        return server

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._host is not None:
            self._host.close()

    async def __aenter__(self) -> httpx.AsyncClient:
        if self._data is not None and not isinstance(self._data, dict):
            raise TypeError("async with serve(data) takes the data as a dict")
        self._async = app_client(self._data, backend=self._backend, hub=self._hub, **self._options)
        return await self._async.__aenter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        assert self._async is not None  # noqa: S101 - __aenter__ set it
        return await self._async.__aexit__(kind, error, traceback)
