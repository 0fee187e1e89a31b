"""``jsonserve --auth`` end to end over a real socket, once per backend: a json-server-auth project as it is.

The project is what json-server-auth users have: a ``db.json`` whose users hold bcrypt hashes
(``$2a$`` as bcryptjs writes them, ``$2b$``), a ``routes.json`` of guard prefixes (``/664/posts``,
``/600/notes``), and a ``rules.json``. For SQLite and PostgreSQL it is first imported with ``jsonserve
import``, as a user would; the demo data (in memory) has no passwords, so there the users register.
Each test starts the CLI as a subprocess on a free loopback port, drives it with httpx (OWASP API
Top 10 2023: API1 object-level authorization, API2 authentication, API3 data exposure and mass
assignment, API8 CORS), stops it by PID, and then reads what was stored.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from jsonserve.auth.keys import ENV_SECRET
from tests.support.cli import run_cli
from tests.support.server import Server, start_server

pytestmark = pytest.mark.e2e

SECRET = "an end-to-end signing key, long enough for HS256"
JSON_SERVER_AUTH_SECRET = "json-server-auth-123456"  # hard-coded in json-server-auth: anyone can sign with it
PASSWORDS = {"ada@example.com": "ada-password", "linus@example.com": "linus-password", "root@example.com": "root-pw-1"}
ROUTES = {"/posts*": "/664/posts$1", "/notes*": "/600/notes$1"}  # json-server-auth's routes.json
RULES = {"users": "600", "notes": "600"}  # and the rules that also cover /db and joins
INVALID = 'Bearer error="invalid_token"'


def json_server_auth_db() -> dict[str, Any]:
    """A json-server-auth ``db.json``: bcryptjs's ``$2a$`` with its 10 rounds, and ``$2b$`` hashes."""

    def hashed(email: str, rounds: int, prefix: bytes) -> str:
        return bcrypt.hashpw(PASSWORDS[email].encode(), bcrypt.gensalt(rounds, prefix)).decode()

    return {
        "users": [
            {"id": 1, "email": "ada@example.com", "password": hashed("ada@example.com", 10, b"2a"), "name": "Ada"},
            {"id": 2, "email": "linus@example.com", "password": hashed("linus@example.com", 4, b"2b"), "name": "L"},
            {"id": 3, "email": "root@example.com", "password": hashed("root@example.com", 4, b"2a"), "role": "admin"},
        ],
        "posts": [{"id": 1, "title": "by ada", "userId": 1}, {"id": 2, "title": "by linus", "userId": 2}],
        "notes": [{"id": 1, "text": "ada's secret", "userId": 1}, {"id": 2, "text": "linus's secret", "userId": 2}],
    }


@dataclass
class Project:
    """A project folder, how to serve it, and where its data ends up."""

    folder: Path
    source: list[str]  # the SOURCE argument (none for the demo data)
    seeded: dict[str, Any] | None  # the json-server-auth users and records, or None (demo: users register)
    bodies: list[str] = field(default_factory=list)

    def stored_users(self) -> dict[int, dict[str, Any]]:
        """The users as stored, read without a server (``jsonserve export`` for the databases)."""
        path = self.folder / "db.json"
        if self.source != ["db.json"]:
            path = self.folder / "exported.json"
            exported = run_cli("export", self.source[0], str(path), "--quiet", cwd=self.folder)
            assert exported.returncode == 0, exported.stderr
        return {user["id"]: user for user in json.loads(path.read_bytes())["users"]}


@pytest.fixture(params=["jsonfile", "sqlite", "postgres", "demo"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    (tmp_path / "routes.json").write_text(json.dumps(ROUTES))
    (tmp_path / "rules.json").write_text(json.dumps(RULES))
    if request.param == "demo":
        return Project(tmp_path, [], None)
    document = json_server_auth_db()
    (tmp_path / "db.json").write_text(json.dumps(document, indent=2))
    if request.param == "jsonfile":
        return Project(tmp_path, ["db.json"], document)
    target = "app.db" if request.param == "sqlite" else str(request.getfixturevalue("pg_database"))
    imported = run_cli("import", "db.json", target, "--quiet", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    return Project(tmp_path, [target], document)


@pytest.fixture
def server(project: Project) -> Iterator[Server]:
    demo = [] if project.seeded else ["--auto-create"]  # the demo data has no notes: the first POST makes them
    args = [*project.source, "--auth", "--rules", "rules.json", "--routes", "routes.json", *demo]
    started = start_server(args, project.folder, timeout=30, env={ENV_SECRET: SECRET})
    try:
        yield started
    finally:
        started.stop()  # SIGTERM to its PID: a clean stop writes everything out


def test_a_json_server_auth_project_end_to_end(project: Project, server: Server) -> None:
    def keep(response: httpx.Response) -> None:
        response.read()
        project.bodies.append(response.text)

    with httpx.Client(base_url=server.url, event_hooks={"response": [keep]}, timeout=10) as http:
        ada, linus, notes = _sign_in(http, project)
        _guard_prefixes(http, ada, notes)
        _refused_tokens(http, ada)
        mallory = _mass_assignment(http, project)
        _reads_are_filtered(http, ada, mallory, notes)
        _brute_force(http)
        cors = http.get("/notes", headers={"Origin": "https://app.example"})  # default --cors '*'
        assert (cors.status_code, cors.headers["access-control-allow-origin"]) == (401, "*")
        assert "access-control-allow-credentials" not in cors.headers
        assert (http.get("/auth/me", headers=linus)).status_code == 200  # a throttled account keeps its token
    leaked = [body[:200] for body in project.bodies if "$2" in body or "$argon2" in body or "tokenVersion" in body]
    assert len(project.bodies) > 50 and not leaked  # every answer above, users and /db included
    server.stop()
    if project.seeded:
        users = project.stored_users()
        assert str(users[1]["password"]).startswith("$argon2id$")  # upgraded at login
        assert str(users[2]["password"]).startswith("$argon2id$")
        assert users[3]["password"] == project.seeded["users"][2]["password"]  # never logged in: as it was
        assert users[1]["name"] == "Ada" and "role" not in users[4]


def _bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (200, 201), response.text
    assert set(response.json()) == {
        "accessToken",
        "refreshToken",
        "user",
    }  # json-server-auth's body, plus a refresh token
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def _sign_in(http: httpx.Client, project: Project) -> tuple[dict[str, str], dict[str, str], list[int]]:
    """Ada and Linus signed in (with json-server-auth's hashes, or registered), and the ids of their notes."""
    if project.seeded:
        ada = _bearer(http.post("/login", json={"email": "ada@example.com", "password": PASSWORDS["ada@example.com"]}))
        linus = _bearer(http.post("/signin", json={"email": "LINUS@example.com", "password": "linus-password"}))
        return ada, linus, [1, 2]
    people = [_bearer(http.post("/register", json={"email": email, "password": PASSWORDS[email]})) for email in
              ("ada@example.com", "linus@example.com")]  # fmt: skip
    notes = [http.post("/notes", json={"text": "a secret"}, headers=person) for person in people]
    assert [note.status_code for note in notes] == [201, 201]
    return people[0], people[1], [note.json()["id"] for note in notes]


def _guard_prefixes(http: httpx.Client, ada: dict[str, str], notes: list[int]) -> None:
    """routes.json's /664/posts (everyone reads, signed-in users write) and /600/notes (the owner only)."""
    assert http.get("/posts").status_code == 200
    anonymous = http.post("/posts", json={"title": "spam"})
    assert (anonymous.status_code, anonymous.headers["www-authenticate"]) == (401, "Bearer")
    me = http.get("/auth/me", headers=ada).json()
    assert http.post("/posts", json={"title": "hello", "userId": me["id"]}, headers=ada).status_code == 201
    assert http.get("/notes").status_code == 401
    assert [note["id"] for note in http.get("/notes", headers=ada).json()] == notes[:1]
    assert http.get(f"/notes/{notes[1]}", headers=ada).status_code == 403
    assert http.patch(f"/notes/{notes[1]}", json={"text": "mine"}, headers=ada).status_code == 403
    assert http.delete(f"/notes/{notes[1]}", headers=ada).status_code == 403
    own_posts = http.get("/600/posts", headers=ada).json()  # a prefix in the request itself
    assert own_posts and {post["userId"] for post in own_posts} == {me["id"]}


def _refused_tokens(http: httpx.Client, ada: dict[str, str]) -> None:
    """json-server-auth's secret, ``alg: none``, an expired token: 401 with the challenge, on every route."""
    claims = jwt.decode(ada["Authorization"].split()[1], options={"verify_signature": False})
    now = int(time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # json-server-auth's key is that short
        json_server_auth = {"email": claims["email"], "sub": claims["sub"], "iat": now, "exp": now + 3600}
        forged = [
            jwt.encode(json_server_auth, JSON_SERVER_AUTH_SECRET, algorithm="HS256"),
            jwt.encode(claims, JSON_SERVER_AUTH_SECRET, algorithm="HS256"),
        ]
    forged.append(jwt.encode(claims, "", algorithm="none"))
    forged.append(jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, SECRET, algorithm="HS256"))
    for token in forged:
        for path in ("/notes", "/auth/me", "/posts/1", "/db"):
            refused = http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, INVALID), (path, token)


def _mass_assignment(http: httpx.Client, project: Project) -> dict[str, str]:
    """Registering as an admin is refused; a PUT cannot take over another user's record or grant a role."""
    for privilege in ({"role": "admin"}, {"isAdmin": True}):
        body = {"email": "mallory@example.com", "password": "mallory-pw", **privilege}
        assert http.post("/register", json=body).status_code == 403
    assert http.post("/login", json={"email": "mallory@example.com", "password": "mallory-pw"}).status_code == 400
    mallory = _bearer(http.post("/users", json={"email": "mallory@example.com", "password": "mallory-pw"}))
    me = http.get("/auth/me", headers=mallory).json()
    assert "role" not in me
    ada_id = 1 if project.seeded else me["id"] - 2
    takeover = {"email": "mallory@example.com", "name": "pwned"}
    assert http.put(f"/users/{ada_id}", json=takeover, headers=mallory).status_code == 403
    assert http.patch(f"/users/{ada_id}", json={"name": "pwned"}, headers=mallory).status_code == 403
    assert http.put(f"/users/{me['id']}", json={**me, "role": "admin"}, headers=mallory).status_code == 403
    assert http.patch(f"/users/{me['id']}", json={"password": "reset-by-me"}, headers=mallory).status_code == 403
    assert http.put(f"/users/{me['id']}", json={**me, "id": ada_id}, headers=mallory).json()["id"] == me["id"]
    return mallory


def _reads_are_filtered(http: httpx.Client, ada: dict[str, str], mallory: dict[str, str], notes: list[int]) -> None:
    """``/db`` and ``_embed`` show only what the caller may read (API1)."""
    me = http.get("/auth/me", headers=ada).json()
    mine = http.get("/db", headers=ada).json()
    assert [user["id"] for user in mine["users"]] == [me["id"]]
    assert [note["id"] for note in mine["notes"]] == notes[:1]
    anonymous = http.get("/db").json()
    assert anonymous["users"] == [] and anonymous["notes"] == []
    assert http.get("/db", headers=mallory).json()["notes"] == []
    embedded = http.get("/users?_embed=notes", headers=ada).json()
    assert [(user["id"], [note["id"] for note in user["notes"]]) for user in embedded] == [(me["id"], notes[:1])]
    assert http.get(f"/users/{me['id']}?_embed=notes", headers=mallory).status_code == 403
    assert http.get("/users?q=example.com", headers=mallory).json() == [http.get("/auth/me", headers=mallory).json()]


def _brute_force(http: httpx.Client) -> None:
    """Five wrong passwords lock the account for a while: 429 with Retry-After, even for the right one."""
    wrong = {"email": "linus@example.com", "password": "not-his"}
    assert [http.post("/login", json=wrong).status_code for _ in range(5)] == [400] * 5
    for body in (wrong, {"email": "linus@example.com", "password": "linus-password"}):
        throttled = http.post("/login", json=body)
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= 900


def test_auth_with_workers_on_sqlite(tmp_path: Path) -> None:
    """``--workers 2`` with ``--rules`` and a key file: every worker gets the paths, and one key signs for all."""
    (tmp_path / "rules.json").write_text(json.dumps({"notes": "600"}))
    (tmp_path / "key").write_text("k" * 40)
    assert run_cli("import", "db.json", "app.db", "--quiet", cwd=tmp_path).returncode != 0  # no db.json yet
    (tmp_path / "db.json").write_text(json.dumps({"users": [], "notes": []}))
    assert run_cli("import", "db.json", "app.db", "--quiet", cwd=tmp_path).returncode == 0
    args = ["app.db", "--auth", "--rules", "rules.json", "--jwt-secret-file", "key", "--workers", "2"]
    server = start_server(args, tmp_path, timeout=30)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            tokens = []
            for n in range(6):  # new connections: the requests spread over both workers
                with httpx.Client(base_url=server.url, timeout=10) as fresh:
                    body = {"email": f"user{n}@example.com", "password": "a long password"}
                    registered = fresh.post("/register", json=body)
                    assert registered.status_code == 201, registered.text
                    tokens.append({"Authorization": f"Bearer {registered.json()['accessToken']}"})
            for n, token in enumerate(tokens):
                assert http.post("/notes", json={"text": f"note {n}"}, headers=token).status_code == 201
            for n, token in enumerate(tokens):
                with httpx.Client(base_url=server.url, timeout=10) as fresh:
                    assert [note["text"] for note in fresh.get("/notes", headers=token).json()] == [f"note {n}"]
            assert http.get("/notes").status_code == 401
    finally:
        server.stop()
