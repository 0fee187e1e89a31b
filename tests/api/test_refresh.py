"""Refresh tokens and RS256/EdDSA keys over HTTP (reference/auth.md): on the memory backend, plus one
end-to-end refresh flow on every backend (the single-use state lives in the user record, in the storage).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from jsonserve import testing
from jsonserve.auth import sessions
from jsonserve.config import Settings
from jsonserve.service import build_service
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client
from tests.api.conftest import require_postgres
from tests.api.test_auth import DB, PASSWORDS, assert_no_hash, auth_api, service_of

pytestmark = pytest.mark.anyio
INVALID = 'Bearer error="invalid_token"'


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The memory backend, unless a test is parametrized (``indirect``) with another (this overrides conftest's)."""
    name = str(getattr(request, "param", "memory"))
    if name == "postgres":
        require_postgres()
    previous, testing.DEFAULTS["backend"] = testing.DEFAULTS["backend"], name
    try:
        yield name
    finally:
        testing.DEFAULTS["backend"] = previous


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with auth_api(tmp_path) as client:
        yield client


async def login(api: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await api.post("/login", json={"email": email, "password": PASSWORDS[email]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(api: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await api.post("/auth/refresh", json={"refreshToken": token}, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == INVALID
    assert response.json()["code"] == "invalid_token"


async def assert_flow(api: httpx.AsyncClient) -> None:
    """Login, refresh, reuse refused, two concurrent refreshes (one wins), logout ends the session."""
    session = await login(api)
    assert set(session) == {"accessToken", "refreshToken", "user"}
    renewed = await refresh(api, session["refreshToken"])
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert set(pair) == {"accessToken", "refreshToken", "user"} and pair["user"]["email"] == "ada@example.com"
    assert_no_hash(pair)
    assert (await api.get("/auth/me", headers=bearer(pair["accessToken"]))).status_code == 200
    assert_refused(await refresh(api, session["refreshToken"]))  # single-use
    both = await asyncio.gather(refresh(api, pair["refreshToken"]), refresh(api, pair["refreshToken"]))
    assert sorted(response.status_code for response in both) == [200, 401]
    winner = next(response.json() for response in both if response.status_code == 200)
    assert (await api.post("/auth/logout", headers=bearer(winner["accessToken"]))).status_code == 204
    assert_refused(await refresh(api, winner["refreshToken"]))


@pytest.mark.parametrize("backend", testing.BACKENDS, indirect=True)
async def test_the_refresh_flow_on_every_backend(api: httpx.AsyncClient, backend: str) -> None:
    await assert_flow(api)
    stored = await service_of(api).storage.get("users", "1")
    assert stored is not None and stored["refreshTokens"] == []  # logout left no live refresh token


async def test_a_race_loser_leaves_the_winner_logged_in_but_reuse_later_ends_the_session(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await login(api)
    other = await login(api)  # another device: another family
    both = await asyncio.gather(*(refresh(api, session["refreshToken"]) for _ in range(2)))
    assert sorted(response.status_code for response in both) == [200, 401]
    winner = next(response.json() for response in both if response.status_code == 200)
    renewed = await refresh(api, winner["refreshToken"])  # the two tabs' race ended no session
    assert renewed.status_code == 200
    monkeypatch.setattr(sessions, "REUSE_GRACE", 0)  # as if the grace had passed
    assert_refused(await refresh(api, winner["refreshToken"]))  # a copied token: the family is revoked...
    assert_refused(await refresh(api, renewed.json()["refreshToken"]))  # ...its live token too
    assert (await refresh(api, other["refreshToken"])).status_code == 200  # the other device is unaffected


async def test_token_types_never_mix(api: httpx.AsyncClient) -> None:  # API2
    session = await login(api)
    assert_refused(await api.get("/auth/me", headers=bearer(session["refreshToken"])))
    assert_refused(await api.get("/notes", headers=bearer(session["refreshToken"])))
    assert_refused(await refresh(api, session["accessToken"]))
    assert_refused(await refresh(api, "garbage"))
    for body in ({}, {"refreshToken": 7}, {"refreshToken": ""}):
        response = await api.post("/auth/refresh", json=body)
        assert (response.status_code, response.json()["code"]) == (400, "bad_request"), body
    assert (await api.get("/auth/refresh")).status_code == 405


async def test_a_stale_access_token_does_not_block_a_refresh(api: httpx.AsyncClient) -> None:
    session = await login(api)
    assert (await refresh(api, session["refreshToken"], Authorization="Bearer expired.or.garbage")).status_code == 200


async def test_password_change_and_deletion_end_every_refresh_token(api: httpx.AsyncClient) -> None:  # API2
    first, second = await login(api), await login(api)
    change = {"password": "ada-password", "newPassword": "a-new-password"}
    assert (await api.post("/auth/password", json=change, headers=bearer(second["accessToken"]))).status_code == 204
    for session in (first, second):
        assert_refused(await refresh(api, session["refreshToken"]))
    linus = await login(api, "linus@example.com")
    assert (await api.delete("/users/2", headers=bearer(linus["accessToken"]))).status_code == 200
    assert_refused(await refresh(api, linus["refreshToken"]))


async def test_registration_returns_a_refresh_token_and_the_state_stays_hidden_and_bounded(
    api: httpx.AsyncClient,
) -> None:  # API3
    created = (await api.post("/register", json={"email": "new@example.com", "password": "password-1"})).json()
    assert (await refresh(api, created["refreshToken"])).status_code == 200
    first = await login(api)
    for _ in range(sessions.MAX_FAMILIES):
        await login(api)
    assert_refused(await refresh(api, first["refreshToken"]))  # the least recently used session was dropped
    stored = await service_of(api).storage.get("users", "1")
    live: Any = stored and stored["refreshTokens"]
    assert len(live) == sessions.MAX_FAMILIES
    ada = bearer(first["accessToken"])
    for path in ("/users", "/users/1", "/db", "/auth/me"):
        assert "refreshTokens" not in (await api.get(path, headers=ada)).text, path
    assert (await api.get("/users?refreshTokens_like=a")).status_code == 400
    assert (await api.patch("/users/1", json={"refreshTokens": []}, headers=ada)).status_code == 403


async def test_refresh_tokens_off(tmp_path: Path) -> None:
    async with auth_api(tmp_path, refresh_ttl=0) as api:
        session = await login(api)
        assert set(session) == {"accessToken", "user"}  # json-server-auth's body exactly
        for response in (await refresh(api, "anything"), await api.get("/auth/refresh")):
            assert (response.status_code, response.headers["content-type"]) == (404, "application/problem+json")
            assert "refresh tokens are off" in response.json()["detail"]
        assert (await api.get("/.well-known/jwks.json")).status_code == 404  # HS256: nothing public
        stored = await service_of(api).storage.get("users", "1")
        assert stored is not None and "refreshTokens" not in stored  # a login writes nothing


@contextlib.asynccontextmanager
async def restartable(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        build_service(settings) as service,
        open_client(create_app(settings, service, manage_storage=False)) as api,
    ):
        yield api


async def test_a_used_refresh_token_stays_used_after_a_restart(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_bytes(orjson.dumps(DB))
    settings = Settings(source=str(tmp_path / "db.json"), auth=True)  # the generated key file is kept beside it
    async with restartable(settings) as api:
        session = await login(api)
        pair = (await refresh(api, session["refreshToken"])).json()
    async with restartable(settings) as api:
        assert_refused(await refresh(api, session["refreshToken"]))
        assert (await refresh(api, pair["refreshToken"])).status_code == 200


def write_key(path: Path, key: Any) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return path


@pytest.mark.parametrize(("algorithm", "key"), [("EdDSA", ed25519.Ed25519PrivateKey.generate()),
                                                ("RS256", rsa.generate_private_key(65537, 2048))])  # fmt: skip
async def test_a_private_key_signs_and_its_public_half_is_published(tmp_path: Path, algorithm: str, key: Any) -> None:
    async with auth_api(tmp_path, jwt_private_key=write_key(tmp_path / "key.pem", key)) as api:
        session = await login(api)
        assert jwt.get_unverified_header(session["accessToken"])["alg"] == algorithm
        assert (await api.get("/auth/me", headers=bearer(session["accessToken"]))).status_code == 200
        assert (await refresh(api, session["refreshToken"])).status_code == 200
        jwks = (await api.get("/.well-known/jwks.json")).json()
        published = jwt.PyJWK(jwks["keys"][0])
        claims = jwt.decode(session["accessToken"], published.key, algorithms=[algorithm], issuer="jsonserve")
        assert claims["sub"] == "1"
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        as_root = {**claims, "sub": "3"}  # root, the admin
        assert_refused(await api.get("/auth/me", headers=bearer(hs256(as_root, public))))  # algorithm confusion
        assert_refused(await api.get("/auth/me", headers=bearer(hs256(as_root, None))))  # alg none


def hs256(payload: dict[str, Any], secret: bytes | None) -> str:
    """HS256 signed by hand with ``secret`` (PyJWT refuses a PEM as an HMAC key), or ``alg: none`` without one."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    head = f"{part({'alg': 'HS256' if secret else 'none', 'typ': 'JWT'})}.{part(payload)}"
    signature = hmac.new(secret, head.encode(), hashlib.sha256).digest() if secret else b""
    return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
