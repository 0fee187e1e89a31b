"""A first scenario through the in-process client (the pattern the API tests follow)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_get_post_by_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/posts/1")
    assert response.status_code == 200
    assert response.json()["title"] == "json-server"
    assert response.headers["content-type"] == "application/json"
    assert response.text.startswith('{\n  "id": 1')


async def test_create_then_read_back(client: httpx.AsyncClient) -> None:
    created = await client.post("/posts", json={"title": "new"})
    assert created.status_code == 201
    assert created.json() == {"title": "new", "id": 4}
    assert created.headers["location"].endswith("/posts/4")
    assert (await client.get("/posts/4")).json() == {"title": "new", "id": 4}
