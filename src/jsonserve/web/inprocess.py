"""Answer requests in-process (no socket): for ``--get`` and for tests.

Example:
    >>> async with open_client(app) as client:  # doctest: +SKIP
    ...     (await client.get("/posts/1")).json()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette


@contextlib.asynccontextmanager
async def open_client(app: Starlette, base_url: str = "http://127.0.0.1:3000") -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an httpx client wired to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
