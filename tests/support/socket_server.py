"""The app on a real loopback socket, in a thread of this process, over any storage backend.

For tests whose client must speak HTTP over a socket (a GraphQL client library) while the test
still reaches the Service behind it (to count storage reads, or to look at what is stored). The
socket is bound and listening before the server thread starts, so a request sent at once waits in
the backlog rather than failing; the app's lifespan opens the storage in the server's event loop.

Example:
    >>> with socket_server({"posts": []}, "sqlite") as server:  # doctest: +SKIP
    ...     httpx.get(server.url + "/posts").json()
    []
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from jsonserve import testing
from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.service import Service, build_service
from jsonserve.storage.base import Storage
from jsonserve.web.app import create_app

JOIN_TIMEOUT = 15.0


@dataclass
class SocketServer:
    """A served app: its base URL and its Service."""

    url: str
    service: Service
    calls: dict[str, int] = field(default_factory=dict)

    def count_calls(self, *names: str) -> dict[str, int]:
        """Count calls of these storage methods from now on (``find``, ``get``...): the live counts, by name."""
        storage = self.service.storage
        for name in names:
            if name not in self.calls:
                setattr(storage, name, _counted(getattr(storage, name), name, self.calls))
            self.calls[name] = 0
        return self.calls


def _counted(method: Callable[..., Any], name: str, calls: dict[str, int]) -> Callable[..., Any]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return await method(*args, **kwargs)

    return counted


@contextlib.contextmanager
def socket_server(data: dict[str, JSONValue], backend: str | None = None, **options: Any) -> Iterator[SocketServer]:
    """Serve ``data`` from ``backend`` (default: the test suite's current one) on 127.0.0.1, for the block."""
    settings = Settings(**options)
    with asyncio.Runner() as runner:
        storages = testing.backends._storage(data, backend or testing.DEFAULTS["backend"], settings)
        storage: Storage | None = runner.run(storages.__aenter__())
        try:
            with _serving(build_service(settings, storage), settings) as server:
                yield server
        finally:
            runner.run(storages.__aexit__(None, None, None))


@contextlib.contextmanager
def _serving(service: Service, settings: Settings) -> Iterator[SocketServer]:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so (else each answer waits ~40 ms).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    app = create_app(settings, service)  # its lifespan opens the storage, and closes it at the end
    config = uvicorn.Config(app, lifespan="on", log_level="warning", loop="asyncio", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield SocketServer(f"http://127.0.0.1:{port}{settings.base}", service)
    finally:
        server.should_exit = True
        thread.join(JOIN_TIMEOUT)
        listener.close()
        if thread.is_alive():
            raise RuntimeError(f"the server thread did not stop within {JOIN_TIMEOUT}s")
