"""Unexpected exceptions become one problem+json 500 with no trace, and the app keeps answering."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jsonserve.config import Settings
from jsonserve.service import build_service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client

pytestmark = pytest.mark.anyio


async def test_unexpected_error_is_a_problem_500_and_the_next_request_works(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings()
    service = build_service(settings, MemoryStorage({"posts": [{"id": 1}]}))

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    service.find = broken  # type: ignore[method-assign, assignment]
    async with open_client(create_app(settings, service)) as client:
        response = await client.get("/posts", headers={"Origin": "https://app.example"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["code"] == "internal_error"
        assert "secret" not in response.text and "Traceback" not in response.text
        assert (await client.get("/posts/1")).status_code == 200
    assert sum("unexpected error" in record.message for record in caplog.records) == 1


async def test_transport_does_not_see_the_exception() -> None:
    settings = Settings()
    service = build_service(settings, MemoryStorage({"posts": []}))

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError("boom")

    service.find = broken  # type: ignore[method-assign, assignment]
    app = create_app(settings, service)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/posts")).status_code == 500
