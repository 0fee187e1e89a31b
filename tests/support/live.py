"""A real uvicorn server in the test's event loop, on a free loopback port, over any storage backend.

Realtime tests need a real socket (WebSocket upgrades, streamed SSE); starting the server in-process
keeps them fast and lets a test reach the service (its storage, its feed) directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from jsonserve import testing
from jsonserve._types import JSONValue
from jsonserve.config import Settings
from jsonserve.server.lifecycle import listen, uvicorn_options
from jsonserve.service import Service, build_service
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
    data: dict[str, JSONValue] | None, *, backend: str | None = None, **options: Any
) -> AsyncIterator[Live]:
    """Serve ``data`` from ``backend`` (default: the suite's current one) with ``options`` as Settings fields."""
    settings = Settings(quiet=True, **options)
    async with (
        testing._storage(data, backend or testing.DEFAULTS["backend"], settings) as storage,
        build_service(settings, storage) as service,
    ):
        app = create_app(settings, service, manage_storage=False)
        with listen("127.0.0.1", 0) as sock:
            port = sock.getsockname()[1]
            config = uvicorn.Config(
                app, **uvicorn_options(settings.replace(port=port)), log_config=None, timeout_graceful_shutdown=5
            )
            server = uvicorn.Server(config)
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
