"""CORS with credentials under ``--auth`` (reference/auth.md, OWASP API8): who gets which CORS headers.

Credentials are allowed only for the origins listed with ``--cors``, each echoed exactly (with ``Vary:
Origin``); any other origin gets no CORS header at all; the wildcard never comes with credentials.
Refusals (401, 429) carry the headers too, so that a page can read them, and expose the challenge.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

APP, ADMIN, EVIL = "https://app.example", "https://admin.example", "https://evil.example"
HASH = bcrypt.hashpw(b"ada-password", bcrypt.gensalt(rounds=4)).decode()
DB: dict[str, Any] = {
    "users": [{"id": 1, "email": "ada@example.com", "password": HASH}],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}],
    "posts": [{"id": 1, "title": "public", "userId": 1}],
}
PREFLIGHT = {"Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "authorization, content-type"}


@contextlib.asynccontextmanager
async def auth_api(tmp_path: Path, origins: tuple[str, ...]) -> AsyncIterator[httpx.AsyncClient]:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"notes": "600"}))
    async with serve(DB, backend="memory", auth=True, rules_file=rules, cors_origins=origins) as client:
        yield client


async def bearer(api: httpx.AsyncClient) -> dict[str, str]:
    session = await api.post("/login", json={"email": "ada@example.com", "password": "ada-password"})
    assert session.status_code == 200, session.text
    return {"Authorization": f"Bearer {session.json()['accessToken']}"}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def listed(values: str) -> set[str]:
    return {value.strip().lower() for value in values.split(",")}


def assert_credentialed(response: httpx.Response, origin: str) -> None:
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in listed(response.headers["vary"])


async def test_listed_origins_get_credentials_others_get_nothing(tmp_path: Path) -> None:
    async with auth_api(tmp_path, (APP, ADMIN)) as api:
        ada = await bearer(api)
        for origin in (APP, ADMIN):
            for path in ("/notes", "/notes/1", "/posts/1", "/auth/me"):  # /posts/1: the fast lane's
                response = await api.get(path, headers={**ada, "Origin": origin})
                assert response.status_code == 200, path
                assert_credentialed(response, origin)
        login = await api.post(
            "/login", json={"email": "ada@example.com", "password": "ada-password"}, headers={"Origin": APP}
        )
        assert_credentialed(login, APP)
        for path in ("/notes", "/posts/1", "/nothing"):
            foreign = await api.get(path, headers={**ada, "Origin": EVIL})
            assert cors_headers(foreign) == {}, path  # no Allow-Origin, and no Allow-Credentials either
            assert "origin" in listed(foreign.headers["vary"])  # a shared cache keeps the answers apart
        for origin in (APP, "https://app.example.evil.example", "null"):
            preflight = await api.options("/notes/1", headers={**PREFLIGHT, "Origin": origin})
            if origin == APP:
                assert preflight.status_code == 204
                assert_credentialed(preflight, APP)
                assert {"authorization", "content-type"} <= listed(preflight.headers["access-control-allow-headers"])
                assert "DELETE" in preflight.headers["access-control-allow-methods"]
            else:
                assert preflight.status_code == 400
                assert preflight.headers["content-type"] == "application/problem+json"
                assert cors_headers(preflight) == {}


async def test_refusals_carry_cors_headers_and_expose_the_challenge(tmp_path: Path) -> None:
    async with auth_api(tmp_path, (APP,)) as api:
        anonymous = await api.get("/notes", headers={"Origin": APP})
        forged = await api.get("/posts/1", headers={"Origin": APP, "Authorization": "Bearer not.a.token"})
        for refused, challenge in ((anonymous, "Bearer"), (forged, 'Bearer error="invalid_token"')):
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == challenge
            assert_credentialed(refused, APP)
            assert {"www-authenticate", "retry-after"} <= listed(refused.headers["access-control-expose-headers"])
        wrong = {"email": "ada@example.com", "password": "wrong-password"}
        for _attempt in range(5):
            assert (await api.post("/login", json=wrong, headers={"Origin": APP})).status_code == 400
        throttled = await api.post("/login", json=wrong, headers={"Origin": APP})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert_credentialed(throttled, APP)
        assert cors_headers(await api.get("/notes", headers={"Origin": EVIL})) == {}


async def test_the_wildcard_never_comes_with_credentials(tmp_path: Path) -> None:
    async with auth_api(tmp_path, ("*",)) as api:
        ada = await bearer(api)
        credentials = {**ada, "Cookie": "session=1", "Origin": APP}
        answers = [
            await api.get("/notes", headers=credentials),
            await api.get("/posts/1", headers=credentials),
            await api.get("/notes", headers={"Origin": APP, "Cookie": "session=1"}),  # 401
            await api.options("/notes/1", headers={**PREFLIGHT, "Origin": APP, "Cookie": "session=1"}),
        ]
        assert [answer.status_code for answer in answers] == [200, 200, 401, 204]
        for answer in answers:
            assert answer.headers["access-control-allow-origin"] == "*"
            assert "access-control-allow-credentials" not in answer.headers
        assert {"authorization", "content-type"} <= listed(answers[-1].headers["access-control-allow-headers"])
