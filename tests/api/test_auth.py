"""The auth contract (reference/auth.md) over HTTP, on every backend: accounts, tokens, rules as filters.

Each point names the OWASP API Top 10 (2023) item it covers where one applies: API1 broken object
level authorization, API2 broken authentication, API3 broken object property level authorization
(excessive data exposure, mass assignment).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import orjson
import pytest

from jsonserve.service import Service
from jsonserve.testing import serve
from tests.support.hub import RecordingHub

pytestmark = pytest.mark.anyio

RULES = {"notes": "600", "posts": "644", "secrets": {"read": "admin", "write": "admin"}}
# json-server-auth's db.json: bcrypt hashes ($2a$, 10 rounds there; 4 here to keep the suite quick).
ADA_HASH = bcrypt.hashpw(b"ada-password", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
LINUS_HASH = bcrypt.hashpw(b"linus-password", bcrypt.gensalt(rounds=4)).decode()
DB: dict[str, Any] = {
    "users": [
        {"id": 1, "email": "ada@example.com", "password": ADA_HASH, "name": "Ada"},
        {"id": 2, "email": "linus@example.com", "password": LINUS_HASH, "name": "Linus"},
        {"id": 3, "email": "root@example.com", "password": ADA_HASH, "role": "admin"},
    ],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}, {"id": 2, "text": "linus's", "userId": 2}],
    "posts": [{"id": 1, "title": "by ada", "userId": 1}, {"id": 2, "title": "by linus", "userId": 2}],
    "comments": [{"id": 1, "body": "hi", "postId": 1}],
    "secrets": [{"id": 1, "value": "42"}],
}
PASSWORDS = {
    "ada@example.com": "ada-password",
    "linus@example.com": "linus-password",
    "root@example.com": "ada-password",
}


@contextlib.asynccontextmanager
async def auth_api(
    tmp_path: Path, rules_data: dict[str, Any] = RULES, data: dict[str, Any] = DB, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps(rules_data))
    async with serve(copy.deepcopy(data), auth=True, rules_file=rules, **options) as client:
        yield client


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with auth_api(tmp_path) as client:
        yield client


async def login(api: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await api.post("/login", json={"email": email, "password": PASSWORDS[email]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def service_of(api: httpx.AsyncClient) -> Service:
    service: Service = api._transport.app.state.service  # type: ignore[attr-defined]
    return service


def assert_no_hash(value: object) -> None:
    text = orjson.dumps(value).decode()
    assert "password" not in text and "$2" not in text and "$argon2" not in text
    assert "tokenVersion" not in text and "refreshTokens" not in text


# -- accounts ------------------------------------------------------------------------------------


async def test_register_login_and_me(api: httpx.AsyncClient) -> None:
    created = await api.post("/register", json={"email": "Grace@Example.com", "password": "hopper-123", "age": 36})
    assert created.status_code == 201
    assert set(created.json()) == {"accessToken", "refreshToken", "user"}
    assert created.json()["user"]["email"] == "Grace@Example.com" and created.json()["user"]["age"] == 36
    assert_no_hash(created.json())
    stored = await service_of(api).storage.get("users", str(created.json()["user"]["id"]))
    assert stored is not None and str(stored["password"]).startswith("$argon2id$")
    for path in ("/login", "/signin"):
        session = await api.post(path, json={"email": "grace@example.com", "password": "hopper-123"})
        assert session.status_code == 200
        me = await api.get("/auth/me", headers={"Authorization": f"Bearer {session.json()['accessToken']}"})
        assert me.json() == created.json()["user"]
    for alias in ("/signup", "/users"):
        other = await api.post(alias, json={"email": f"x{alias[1:]}@example.com", "password": "password-1"})
        assert other.status_code == 201 and "accessToken" in other.json()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "ADA@example.com", "password": "long-enough"}, "email_taken"),
        ({"email": "not-an-email", "password": "long-enough"}, "bad_request"),
        ({"password": "long-enough"}, "bad_request"),
        ({"email": "new@example.com", "password": "short"}, "bad_request"),
        ({"email": "new@example.com"}, "bad_request"),
    ],
)
async def test_registration_refusals(api: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    response = await api.post("/register", json=body)
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.parametrize("field", ["role", "roles", "isAdmin", "admin"])
async def test_privilege_fields_are_refused_at_registration_and_on_self_update(
    api: httpx.AsyncClient, field: str
) -> None:  # API3: mass assignment
    value: Any = ["admin"] if field == "roles" else "admin" if field == "role" else True
    response = await api.post("/register", json={"email": "m@example.com", "password": "password-1", field: value})
    assert response.status_code == 403
    ada = await login(api, "ada@example.com")
    assert (await api.patch("/users/1", json={field: value}, headers=ada)).status_code == 403
    root = await login(api, "root@example.com")
    assert (await api.patch("/users/1", json={field: value}, headers=root)).status_code == 200


async def test_login_errors_are_uniform_and_bcrypt_users_log_in_and_are_upgraded(
    api: httpx.AsyncClient,
) -> None:  # API2
    unknown = await api.post("/login", json={"email": "nobody@example.com", "password": "ada-password"})
    wrong = await api.post("/login", json={"email": "ada@example.com", "password": "not-adas"})
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()
    assert unknown.json()["code"] == "invalid_credentials"
    accounts = service_of(api).accounts
    assert accounts is not None and await accounts._legacy_hashes(), "bcrypt users: every login verifies both kinds"
    await login(api, "ada@example.com")  # json-server-auth's $2a$ hash
    await login(api, "linus@example.com")  # and a $2b$ one
    stored = await service_of(api).storage.get("users", "1")
    assert stored is not None and str(stored["password"]).startswith("$argon2id$")
    await login(api, "ada@example.com")  # the upgraded hash verifies


async def test_brute_force_is_throttled(api: httpx.AsyncClient) -> None:  # API2
    for _attempt in range(5):
        assert (await api.post("/login", json={"email": "ada@example.com", "password": "guess"})).status_code == 400
    blocked = await api.post("/login", json={"email": "ada@example.com", "password": "ada-password"})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 900
    await login(api, "linus@example.com")  # another account is not locked out by Ada's attacker


async def test_logout_and_password_change_revoke_earlier_tokens(api: httpx.AsyncClient) -> None:  # API2
    first, second = await login(api, "ada@example.com"), await login(api, "ada@example.com")
    assert (await api.post("/auth/logout", headers=first)).status_code == 204
    for token in (first, second):
        refused = await api.get("/auth/me", headers=token)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    third = await login(api, "ada@example.com")
    change = {"password": "ada-password", "newPassword": "a-new-password"}
    assert (await api.post("/auth/password", json={**change, "password": "wrong"}, headers=third)).status_code == 400
    assert (await api.post("/auth/password", json=change, headers=third)).status_code == 204
    assert (await api.get("/auth/me", headers=third)).status_code == 401
    assert (
        await api.post("/login", json={"email": "ada@example.com", "password": "a-new-password"})
    ).status_code == 200
    assert (await api.post("/auth/logout")).status_code == 401


async def test_a_deleted_users_token_stops_working(api: httpx.AsyncClient) -> None:  # API2
    ada = await login(api, "ada@example.com")
    assert (await api.delete("/users/1", headers=ada)).status_code == 200  # users are public in these rules
    assert (await api.get("/auth/me", headers=ada)).status_code == 401


def forged(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "1", "iat": now, "exp": now + 60, "iss": "jsonserve", "jti": "x", "ver": 0, "typ": "access"}
    payload.update(claims)
    return {"Authorization": f"Bearer {jwt.encode(payload, 'x' * 32, algorithm='HS256')}"}


NONE_ALG = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ."
BAD_TOKENS = {
    "another key": forged(),
    "alg none": {"Authorization": f"Bearer {NONE_ALG}"},
    "not bearer": {"Authorization": "Basic YWRhOnB3"},
    "garbage": {"Authorization": "Bearer garbage"},
}


@pytest.mark.parametrize("headers", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_refused_token_is_401_on_any_route(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for path in ("/posts", "/posts/1", "/auth/me", "/db"):  # /posts/1: the fast lane's, public
        response = await api.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["code"] == "invalid_token"


# -- rules as filters ----------------------------------------------------------------------------


async def test_a_token_is_needed_where_the_rules_say(api: httpx.AsyncClient) -> None:
    for path in ("/notes", "/notes/1", "/users/1/notes", "/secrets"):
        response = await api.get(path)
        assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer"), path
    assert (await api.get("/posts")).status_code == 200
    assert (await api.post("/posts", json={"title": "anonymous"})).status_code == 401
    assert (await api.post("/comments", json={"body": "public"})).status_code == 201  # unnamed: public


async def test_reads_are_filtered_everywhere(api: httpx.AsyncClient) -> None:  # API1
    ada = await login(api, "ada@example.com")
    assert [note["id"] for note in (await api.get("/notes", headers=ada)).json()] == [1]
    assert (await api.get("/notes?_page=1", headers=ada)).headers["x-total-count"] == "1"
    assert (await api.get("/notes?userId=2", headers=ada)).json() == []
    assert (await api.get("/notes?q=linus", headers=ada)).json() == []
    assert (await api.get("/notes/2", headers=ada)).status_code == 403  # fast lane
    assert (await api.get("/notes/2?_expand=user", headers=ada)).status_code == 403  # routes
    assert (await api.get("/users/2/notes", headers=ada)).json() == []
    embedded = (await api.get("/users?_embed=notes", headers=ada)).json()
    assert [[note["id"] for note in user["notes"]] for user in embedded] == [[1], [], []]
    assert (await api.get("/db", headers=ada)).json()["notes"] == [DB["notes"][0]]
    assert (await api.get("/db")).json()["notes"] == []
    assert (await api.get("/secrets", headers=ada)).json() == []
    root = await login(api, "root@example.com")
    assert len((await api.get("/notes", headers=root)).json()) == 2
    assert (await api.get("/secrets", headers=root)).json() == DB["secrets"]


async def test_hide_forbidden_answers_404(tmp_path: Path) -> None:
    async with auth_api(tmp_path, hide_forbidden=True) as api:
        ada = await login(api, "ada@example.com")
        assert (await api.get("/notes/2", headers=ada)).status_code == 404
        assert (await api.get("/notes/2?_embed=x", headers=ada)).status_code == 404


async def test_writes_by_the_owner_only_and_the_owner_field_never_moves(api: httpx.AsyncClient) -> None:  # API1, API3
    ada = await login(api, "ada@example.com")
    created = await api.post("/notes", json={"text": "new"}, headers=ada)
    assert created.status_code == 201 and created.json()["userId"] == 1
    assert (await api.post("/notes", json={"text": "x", "userId": 2}, headers=ada)).status_code == 403
    assert (await api.put("/notes/2", json={"text": "taken", "userId": 1}, headers=ada)).status_code == 403
    assert (await api.patch("/notes/2", json={"text": "taken"}, headers=ada)).status_code == 403
    assert (await api.delete("/notes/2", headers=ada)).status_code == 403
    assert (await api.patch("/notes/1", json={"userId": 2}, headers=ada)).status_code == 403
    assert (await api.put("/notes/1", json={"text": "edited"}, headers=ada)).json() == {
        "text": "edited", "id": 1, "userId": 1,
    }  # fmt: skip
    assert (await api.patch("/posts/2", json={"title": "mine"}, headers=ada)).status_code == 403
    assert (await api.delete("/notes/1", headers=ada)).status_code == 200


async def test_no_hash_in_any_response(api: httpx.AsyncClient) -> None:  # API3: excessive data exposure
    ada = await login(api, "ada@example.com")
    for path in ("/users", "/users/1", "/users/1?_embed=posts", "/posts?_expand=user", "/posts/1?_expand=user",
                 "/db", "/auth/me", "/notes?_expand=user", "/users?_per_page=2"):  # fmt: skip
        response = await api.get(path, headers=ada)
        assert response.status_code == 200, path
        assert_no_hash(response.json())
    patched = await api.patch("/users/1", json={"name": "Ada L."}, headers=ada)
    assert_no_hash(patched.json())
    for query in ("password=x", "password_like=^%5C$2", "_sort=password", "password:startsWith=$",
                  '_where={"password":{"contains":"$2"}}', "tokenVersion=0"):  # fmt: skip
        assert (await api.get(f"/users?{query}")).status_code == 400, query
    assert (await api.patch("/users/1", json={"password": "plain-text"}, headers=ada)).status_code == 403
    assert (await api.put("/users/1", json={"email": "ada@example.com"}, headers=ada)).status_code == 200
    await login(api, "ada@example.com")  # a PUT without the password kept it


async def test_q_on_users_never_searches_a_hash_and_finds_only_readable_users(tmp_path: Path) -> None:  # API3
    async with auth_api(tmp_path) as api:  # users unnamed in the rules: public
        await login(api, "ada@example.com")  # her $2a$ hash is now an argon2id one
        for needle in ("$2a$", "$2b$", LINUS_HASH[7:29], "$argon2id$", "argon2", "m=19456"):
            for query in (f"q={needle}", f"q={needle}&_per_page=5", f"q={needle}&_page=1&_limit=5"):
                response = await api.get("/users", params=dict(part.split("=", 1) for part in query.split("&")))
                assert response.status_code == 200, query
                found = response.json()
                assert (found["data"] if isinstance(found, dict) else found) == [], query
        found = (await api.get("/users", params={"q": "LINUS@example"})).json()
        assert [user["id"] for user in found] == [2]
        assert [user["id"] for user in (await api.get("/users", params={"q": "example.com"})).json()] == [1, 2, 3]
    async with auth_api(tmp_path, {**RULES, "users": "600"}) as api:
        assert (await api.get("/users", params={"q": "example.com"})).status_code == 401
        ada = await login(api, "ada@example.com")
        assert [user["id"] for user in (await api.get("/users?q=example.com", headers=ada)).json()] == [1]
        assert (await api.get("/users?q=linus", headers=ada)).json() == []
        assert (await api.get("/users?q=linus&_per_page=5", headers=ada)).json()["items"] == 0
        root = await login(api, "root@example.com")
        assert [user["id"] for user in (await api.get("/users?q=linus", headers=root)).json()] == [2]


async def test_guard_prefixes_apply_a_mode_on_top(api: httpx.AsyncClient) -> None:
    ada = await login(api, "ada@example.com")
    assert (await api.get("/664/posts")).status_code == 200
    assert (await api.post("/664/posts", json={"title": "x"})).status_code == 401
    assert [post["id"] for post in (await api.get("/600/posts", headers=ada)).json()] == [1]
    assert (await api.get("/600/posts/2", headers=ada)).status_code == 403
    assert (await api.get("/640/comments")).status_code == 401
    assert (await api.get("/640/comments/1", headers=ada)).status_code == 200


# -- cascades --------------------------------------------------------------------------------------

OWNED_COMMENTS = {**RULES, "comments": {"read": "public", "create": "auth", "update": "owner", "delete": "owner"}}
THREADS = {
    **DB,
    "comments": [
        {"id": 1, "body": "linus on ada's post", "postId": 1, "userId": 2},
        {"id": 2, "body": "ada on her post", "postId": 1, "userId": 1},
        {"id": 3, "body": "linus on his post", "postId": 2, "userId": 2},
    ],
}


async def test_a_cascade_never_deletes_what_the_caller_may_not_delete(
    tmp_path: Path, hub: RecordingHub
) -> None:  # API1
    async with auth_api(tmp_path, OWNED_COMMENTS, THREADS, compat="1", hub=hub) as api:
        ada, root = await login(api, "ada@example.com"), await login(api, "root@example.com")
        before, published = (await api.get("/db", headers=root)).json(), len(hub.changes)
        refused = await api.delete("/posts/1?_dependent=comments", headers=ada)  # linus's comment 1 hangs on it
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        assert "nothing was deleted" in refused.json()["detail"]
        assert (await api.delete("/users/1?_dependent=posts,comments", headers=ada)).status_code == 403  # deeper
        assert (await api.get("/db", headers=root)).json() == before  # nothing deleted, nothing nulled
        assert len(hub.changes) == published  # and nothing published
        assert (await api.delete("/posts/2?_dependent=comments", headers=root)).status_code == 200  # an admin may
        assert [comment["id"] for comment in (await api.get("/comments")).json()] == [1, 2]
        assert (await api.delete("/comments/1", headers=ada)).status_code == 403
        assert (await api.delete("/posts/1", headers=ada)).status_code == 200  # 1.x without _dependent: nulls keys
        assert [comment["postId"] for comment in (await api.get("/comments")).json()] == [None, None]
    async with auth_api(tmp_path, OWNED_COMMENTS, THREADS) as api:  # 0.17: every delete cascades
        ada, linus = await login(api, "ada@example.com"), await login(api, "linus@example.com")
        assert (await api.delete("/posts/1", headers=ada)).status_code == 403
        assert len((await api.get("/comments")).json()) == 3
        assert (await api.delete("/comments/1", headers=linus)).status_code == 200
        assert (await api.delete("/posts/1", headers=ada)).status_code == 200  # only her own comment left on it
        assert [comment["id"] for comment in (await api.get("/comments")).json()] == [3]


async def test_users_unnamed_in_the_rules_are_written_only_by_themselves(api: httpx.AsyncClient) -> None:  # API1
    ada, linus = await login(api, "ada@example.com"), await login(api, "linus@example.com")
    assert (await api.patch("/users/1", json={"name": "Mallory"})).status_code == 401
    for method in ("PATCH", "PUT", "DELETE"):
        body = {"email": "mallory@example.com"} if method != "DELETE" else None
        refused = await api.request(method, "/users/1", json=body, headers=linus)
        assert refused.status_code == 403, (method, refused.text)
    assert (await api.patch("/users/1", json={"name": "Ada L."}, headers=ada)).status_code == 200
    assert (await api.get("/users/1")).json()["name"] == "Ada L.", "reads stay public, as json-server-auth's"


async def test_guard_prefixes_in_routes_guard_the_whole_collection(tmp_path: Path) -> None:  # API1
    routes = {"/notes*": "/600/notes$1", "/posts*": "/644/posts$1"}
    async with auth_api(tmp_path, rules_data={}, routes=routes) as api:
        ada = await login(api, "ada@example.com")
        everyone = (await api.get("/db")).json()
        assert everyone["notes"] == [] and len(everyone["posts"]) == 2, "no rules: the guards' modes hold in /db"
        assert [note["id"] for note in (await api.get("/db", headers=ada)).json()["notes"]] == [1]
        embedded = (await api.get("/users/2?_embed=notes", headers=ada)).json()
        assert embedded.get("notes", []) == []
        assert [note["id"] for note in (await api.get("/notes", headers=ada)).json()] == [1]
        assert (await api.patch("/posts/2", json={"title": "mine now"}, headers=ada)).status_code == 403


async def test_a_user_cannot_take_another_users_email(api: httpx.AsyncClient) -> None:  # API1
    ada = await login(api, "ada@example.com")
    for method, body in (("PATCH", {"email": "LINUS@example.com"}), ("PUT", {"email": "linus@EXAMPLE.com"})):
        taken = await api.request(method, "/users/1", json=body, headers=ada)
        assert taken.status_code == 400 and taken.json()["code"] == "email_taken", taken.text
    assert (await api.patch("/users/1", json={"email": "not an email"}, headers=ada)).status_code == 400
    assert (await api.patch("/users/1", json={"email": "ADA@example.com"}, headers=ada)).status_code == 200
    assert (await api.post("/login", json={"email": "linus@example.com", "password": "linus-password"})).is_success


async def test_registration_follows_the_users_schema_and_timestamps(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas.json"
    users = {
        "type": "object",
        "required": ["email", "name"],
        "properties": {"email": {"type": "string"}, "name": {"type": "string", "minLength": 1}},
        "additionalProperties": False,  # the hidden fields (hash, token version) need not be listed
    }
    schemas.write_bytes(orjson.dumps({"users": users}))
    async with auth_api(tmp_path, schema_file=schemas, timestamps=True) as api:
        body = {"email": "grace@example.com", "password": "grace-password"}
        refused = await api.post("/register", json=body)
        assert refused.status_code == 422 and refused.json()["code"] == "validation_failed", refused.text
        assert (await api.post("/register", json={**body, "name": "Grace", "shoe": 38})).status_code == 422
        assert (await api.post("/login", json=body)).status_code == 400, "nothing was stored"
        registered = await api.post("/register", json={**body, "name": "Grace"})
        assert registered.status_code == 201, registered.text
        user = registered.json()["user"]
        assert user["createdAt"] == user["updatedAt"], user
        token = registered.json()["accessToken"]
        renamed = await api.patch(
            f"/users/{user['id']}", json={"name": "G."}, headers={"Authorization": f"Bearer {token}"}
        )
        assert renamed.status_code == 200 and renamed.json()["name"] == "G.", renamed.text
        assert_no_hash(registered.json())
