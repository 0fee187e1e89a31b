"""A server in a thread: an event loop of its own in a daemon thread, and uvicorn serving an app on it.

The testing helpers (:mod:`jsonserve.testing`) run one app on such a loop and reach it three ways:
in-process clients hand their requests to the loop, and :func:`serve_http` puts the same app on a
real socket, served by uvicorn on the same loop (only this package imports uvicorn).

Example:
    >>> thread = LoopThread()
    >>> thread.run(asyncio.sleep(0, result=42))
    42
    >>> thread.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from jsonserve.config import Settings
from jsonserve.server.lifecycle import display_host, listen, uvicorn_options
from jsonserve.server.loop import loop_factory

T = TypeVar("T")
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class LoopThread:
    """An event loop (uvloop's when installed) running in a daemon thread until :meth:`close`."""

    def __init__(self, name: str = "jsonserve") -> None:
        self.loop = loop_factory()()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
        self._thread.start()
        ready.wait()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; its future (cancelling it cancels the coroutine)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or exception) in this thread."""
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and wait for the thread to end (idempotent)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        try:
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()


class _ThreadedServer(uvicorn.Server):
    """A ``uvicorn.Server`` that leaves the process's signals alone (the thread's owner decides when it stops)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        """Install no signal handler: the server stops when :meth:`HttpServer.stop` is awaited."""
        yield


@dataclass
class HttpServer:
    """An app served over HTTP on the running loop: where, and how to stop it."""

    url: str
    _server: uvicorn.Server
    _task: asyncio.Task[None]
    _on_exit: Callable[[], None] | None

    async def stop(self) -> None:
        """Close the listening socket and the connections (ending streams with ``on_exit``), then return."""
        self._server.should_exit = True
        if self._on_exit is not None:
            self._on_exit()
        await self._task


async def serve_http(app: ASGIApp, settings: Settings, on_exit: Callable[[], None] | None = None) -> HttpServer:
    """Serve ``app`` with uvicorn on ``settings.host`` (port 0: a free one), on the running loop.

    The socket listens before this returns, so the URL can be used at once: connections made before
    uvicorn's first turn wait in the backlog. uvicorn gets the options of :func:`uvicorn_options`
    (the hardened protocol) with no lifespan (the caller owns the app's service) and no logging
    configuration of its own. ``on_exit`` runs when :meth:`HttpServer.stop` begins (end the streams).

    Raises :class:`~jsonserve.server.lifecycle.CannotStart` when the address cannot be bound.
    """
    sock = listen(settings.host, settings.port)
    port = sock.getsockname()[1]
    options = {**uvicorn_options(settings.replace(port=port)), "lifespan": "off", "log_config": None}
    server = _ThreadedServer(uvicorn.Config(app, **options))

    async def run() -> None:
        with sock:
            await server.serve(sockets=[sock])

    task = asyncio.get_running_loop().create_task(run())
    return HttpServer(f"http://{display_host(settings.host)}:{port}", server, task, on_exit)
