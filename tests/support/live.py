"""A real uvicorn server in the test's event loop, on a free loopback port, over any storage backend.

Realtime tests need a real socket (WebSocket upgrades, streamed SSE); starting the server in-process
keeps them fast and lets a test reach the service (its storage, its feed) directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from jsonserve import testing
from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.server.lifecycle import listen, uvicorn_options
from jsonserve.service import Service, build_service
from jsonserve.storage.base import Storage
from jsonserve.web.app import create_app


@dataclass
class Live:
    """A running server: its URLs and its service."""

    url: str
    service: Service

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/realtime"


@contextlib.asynccontextmanager
async def live_server(
    data: dict[str, JSONValue] | None,
    *,
    backend: str | None = None,
    storage: Storage | None = None,
    **options: Any,
) -> AsyncIterator[Live]:
    """Serve ``data`` from ``backend`` (default: the suite's current one), or ``storage``, with Settings ``options``."""
    settings = Settings(quiet=True, **options)
    async with contextlib.AsyncExitStack() as stack:
        if storage is None:
            storage = await stack.enter_async_context(
                testing.backends._storage(data, backend or testing.DEFAULTS["backend"], settings)
            )
        service = await stack.enter_async_context(build_service(settings, storage))
        yield await stack.enter_async_context(_serving(service, settings))


@contextlib.asynccontextmanager
async def _serving(service: Service, settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings, service, manage_storage=False)
    with listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        options = uvicorn_options(settings.replace(port=port))
        options.update(log_config=None, timeout_graceful_shutdown=5)  # the test process keeps its own logging
        server = uvicorn.Server(uvicorn.Config(app, **options))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.005)
        try:
            yield Live(f"http://127.0.0.1:{port}", service)
        finally:
            app.state.realtime.end_all()
            server.should_exit = True
            await task


class Client:
    """A WebSocket client of ``/realtime`` speaking JSON frames (the ``websockets`` library)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, **frame: Any) -> None:
        await self.connection.send(orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        return frame

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        frame = await self.recv(timeout)
        assert frame["type"] == kind, frame
        return frame

    async def subscribe(self, sub: str, **fields: Any) -> dict[str, Any]:
        """Subscribe and return the ``subscribed`` frame (a replay before it is an error here)."""
        await self.send(type="subscribe", id=sub, **fields)
        return await self.expect("subscribed")

    async def changes(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.expect("change", timeout) for _ in range(count)]

    async def silent(self, wait: float = 0.1) -> bool:
        """Whether nothing arrives within ``wait`` seconds (after a ping round trip)."""
        await self.send(type="ping")
        frame = await self.recv()
        if frame["type"] != "pong":
            raise AssertionError(f"unexpected frame {frame}")
        try:
            extra = await asyncio.wait_for(self.connection.recv(), wait)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame {extra!r}")


@contextlib.asynccontextmanager
async def ws_client(live: Live, path: str = "", *, slow: bool = False, **options: Any) -> AsyncIterator[Client]:
    """A client of ``live``; ``slow``: one with a tiny socket receive buffer that reads nothing unless asked."""
    if slow:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: caps the TCP window
        sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        options.update(sock=sock, max_queue=1)
    async with websockets.connect(live.ws + path, **options) as connection:
        yield Client(connection)


_LINES: weakref.WeakKeyDictionary[httpx.Response, AsyncIterator[str]] = weakref.WeakKeyDictionary()


def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The one line iterator of a streamed response (a second ``aiter_lines()`` would fail)."""
    lines = _LINES.get(response)
    if lines is None:
        lines = _LINES[response] = response.aiter_lines()
    return lines


async def sse_events(response: httpx.Response, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Read ``count`` events (``{"id", "event", "data"}``, data parsed) from a streamed SSE response."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    lines = sse_lines(response)
    while len(events) < count:
        line = await asyncio.wait_for(anext(lines), timeout)
        if line == "":
            if "event" in current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(": ")
            current[name] = orjson.loads(value) if name == "data" else value
    return events
