"""The fast lane for plain record reads answers exactly as the full application does.

Every request below is sent to an app with the lane and to one without it; status, headers (but
``date``) and body must be identical. A spy counts which requests the lane answered itself, so the
comparison cannot pass because the lane never ran.
"""

from __future__ import annotations

from typing import Any

import pytest

from jsonserve.testing import serve
from jsonserve.web import app as app_module
from jsonserve.web import fastpath

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "héllo ✓", "userId": 1},
        {"id": "a b", "title": "spaced id"},
        {"id": 3, "body": "x" * 2000},
    ],
    "comments": [{"id": 1, "postId": 1}],
    "profile": {"name": "typicode"},
}
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/posts/1", {}),
    ("GET", "/posts/a%20b", {}),
    ("GET", "/posts/3", {"Accept-Encoding": "identity"}),
    ("GET", "/posts/3", {"Accept-Encoding": "gzip"}),
    ("GET", "/posts/1", {"Accept-Encoding": "gzip, deflate"}),
    ("GET", "/posts/1", {"Origin": "https://app.example"}),
    ("GET", "/posts/1", {"If-None-Match": '"nope"'}),
    ("GET", "/posts/99", {}),
    ("GET", "/profile/1", {}),
    ("GET", "/nothing/1", {}),
    ("GET", "/posts/1?_embed=comments", {}),
    ("GET", "/posts/1/", {}),
    ("HEAD", "/posts/1", {}),
    ("GET", "/comments/1", {}),
]
ANSWERED_BY_THE_LANE = {0, 1, 2, 4, 13}


def _seen(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k != "date")
    return response.status_code, headers, response.content


@pytest.mark.parametrize("cors", [True, False])
async def test_the_lane_answers_as_the_full_application(monkeypatch: pytest.MonkeyPatch, cors: bool) -> None:
    answered: list[int] = []
    current = [-1]  # the index of the request being sent
    original = fastpath.FastRecordReads._answer

    async def spy(self: fastpath.FastRecordReads, scope: Any) -> Any:
        answer = await original(self, scope)
        if answer is not None:
            answered.append(current[0])
        return answer

    monkeypatch.setattr(fastpath.FastRecordReads, "_answer", spy)
    options: dict[str, Any] = {} if cors else {"cors_origins": None}
    fast: list[tuple[int, list[tuple[str, str]], bytes]] = []
    async with serve(DATA, **options) as client:
        for index, (method, path, headers) in enumerate(REQUESTS):
            current[0] = index
            fast.append(_seen(await client.request(method, path, headers=headers)))
    monkeypatch.setattr(app_module, "FAST_READS", False)
    async with serve(DATA, **options) as client:
        for index, (method, path, headers) in enumerate(REQUESTS):
            assert _seen(await client.request(method, path, headers=headers)) == fast[index], (method, path)
    assert set(answered) == ANSWERED_BY_THE_LANE


async def test_the_lane_is_off_with_a_base_path(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(DATA, base="/api") as client:
        response = await client.get("/api/posts/1")
        assert response.status_code == 200
        assert response.json()["title"] == "héllo ✓"
