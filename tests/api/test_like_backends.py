"""`_like` syntax RE2 accepts but PostgreSQL's engine does not: a 400 there, never a 500."""

from __future__ import annotations

import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("pattern", [r"\pL", "(?P<name>a)"])
async def test_re2_only_syntax(backend: str, pattern: str) -> None:
    async with serve({"posts": [{"id": 1, "title": "abc"}]}) as client:
        response = await client.get("/posts", params={"title_like": pattern})
    if backend == "postgres":
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_query"
    else:
        assert response.status_code == 200
        assert [post["id"] for post in response.json()] == [1]
