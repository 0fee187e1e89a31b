"""In process (tests, ``--get``) no HTTP parser bounds a URL to 64 KiB: the query parser's bounds still hold.

``tests/api/test_query_limits.py`` runs the bounds on every backend through HTTP-sized requests;
here the app is called as ASGI with query strings past 64 KiB (httpx itself refuses such URLs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import ASGIApp

from jsonserve.config import Settings
from jsonserve.query.limits import MAX_VALUES
from jsonserve.service import build_service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client
from tests.support.asgi import raw_get

pytestmark = pytest.mark.anyio


async def asgi_get(app: ASGIApp, path: str, query: str) -> tuple[int, Any]:
    """GET ``path?query`` straight through ASGI: the status and the decoded JSON body."""
    status, body = await raw_get(app, path.encode(), query.encode())
    return status, json.loads(body)


async def test_queries_past_64_kib_get_a_2xx_or_the_same_400() -> None:
    data: dict[str, Any] = {"posts": [{"id": n} for n in range(1, 41)]}
    settings = Settings()
    app = create_app(settings, build_service(settings, MemoryStorage(data)))
    async with open_client(app):
        at_most = "&".join(f"id={n}" for n in range(1, MAX_VALUES + 1))
        assert len(at_most) > 64 * 1024
        status, body = await asgi_get(app, "/posts", at_most)
        assert (status, len(body)) == (200, 40)
        status, body = await asgi_get(app, "/posts", "&".join(f"id={n}" for n in range(40_000)))
        assert status == 400
        assert body["errors"][0]["code"] == "too_many_values"
        status, body = await asgi_get(app, "/posts", "&".join(f"f{n}_gt=1" for n in range(20_000)))
        assert status == 400
        assert body["errors"][0]["code"] == "too_many_conditions"
