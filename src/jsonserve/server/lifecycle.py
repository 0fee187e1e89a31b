"""One server process: open the service, serve it with uvicorn until SIGINT/SIGTERM, close it.

The storage is opened before the server binds, so that a damaged, locked or unreachable store is
reported (:class:`CannotStart`) before anything is served or printed, and closed (flushing every
acknowledged write) after the last connection is done.

Example:
    >>> exit_code = run_coroutine(serve(Settings(source="db.json")))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn

from jsonserve.auth.access import RulesError
from jsonserve.auth.keys import WeakKey
from jsonserve.config import Settings
from jsonserve.errors import BackendUnavailable, StorageCorrupt, StorageLocked
from jsonserve.schema import Kind
from jsonserve.schema.declared import SchemaFileError
from jsonserve.server.protocol import protocol_factory
from jsonserve.service import Service, build_service
from jsonserve.web.app import create_app

OnReady = Callable[[dict[str, Kind]], None]
"""Called with the routable names once the storage is open, just before the server binds (the CLI's banner)."""

# What opening the data may raise that is the data's fault, not a bug: reported in one line.
OPEN_ERRORS = (StorageCorrupt, StorageLocked, BackendUnavailable, SchemaFileError, RulesError, WeakKey, OSError)


class CannotStart(Exception):
    """The data cannot be opened (damaged, locked, unreachable, or a bad ``--schema`` file); ``str()`` says why."""


@contextlib.asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[Service]:
    """The service ``settings`` describe, open; closed (writes flushed) on the way out.

    Raises :class:`CannotStart` when the data cannot be opened; errors while the service is in use
    propagate as they are.

    Example:
        >>> async with open_service(Settings(source="db.json")) as service:  # doctest: +SKIP
        ...     list(service.kinds())
        ['posts', 'comments', 'profile']
    """
    try:
        service = build_service(settings)
        await service.open()
    except OPEN_ERRORS as error:
        raise CannotStart(str(error)) from error
    async with contextlib.aclosing(service):
        yield service


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` / ``uvicorn.run`` for ``settings``.

    Our HTTP protocol brings problem+json errors, the read deadlines and the connection limit
    (:mod:`jsonserve.server.protocol`); uvicorn itself gets no ``limit_concurrency``.
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "lifespan": "on",
        "access_log": not settings.quiet,
        "log_level": "warning" if settings.quiet else "info",
        "server_header": False,
        "http": protocol_factory(settings.header_timeout, settings.body_timeout, settings.max_connections),
    }


async def serve(settings: Settings, on_ready: OnReady | None = None) -> int:
    """Serve ``settings`` in this process until SIGINT or SIGTERM; the exit code (1: it could not bind).

    Raises :class:`CannotStart` (before ``on_ready`` is called) when the data cannot be opened.
    """
    async with open_service(settings) as service:
        app = create_app(settings, service, manage_storage=False)
        server = GracefulServer(uvicorn.Config(app, **uvicorn_options(settings)))
        if on_ready is not None:
            on_ready(service.kinds())
        await server.serve()
    return 0 if server.started or not server.should_exit else 1


class GracefulServer(uvicorn.Server):
    """A ``uvicorn.Server`` that returns normally after SIGINT/SIGTERM.

    uvicorn re-raises the signal once it has shut down, which kills the process before the storage
    is flushed (and exits with a signal status); we handle the signals the same way but return.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to uvicorn's ``handle_exit`` for the server's lifetime, re-raising neither."""
        handlers = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
