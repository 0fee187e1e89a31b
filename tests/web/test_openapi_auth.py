"""``/openapi.json`` under ``--auth``: what each operation asks of its caller, the accounts endpoints, no secrets.

The document must say what the server does: every operation it marks as needing a token answers 401
without one, and every operation it leaves open does not (checked against the running app, not only
the text; once per storage backend, since the examples and the answers are reads). It shows no
password hash, no token version and no user of the data, and stays a valid OpenAPI 3.1 document.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from openapi_spec_validator import validate

from jsonserve.testing import BACKENDS, serve
from tests.api.conftest import require_postgres

pytestmark = pytest.mark.anyio

RULES: dict[str, Any] = {
    "notes": "600",
    "posts": "644",
    "secrets": {"read": "admin", "write": "admin"},
    "profile": {"read": "auth", "write": "admin"},
}
ARGON = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
DB: dict[str, Any] = {
    "users": [{"id": 1, "email": "ada@example.com", "password": ARGON, "tokenVersion": 2, "name": "Ada"}],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}],
    "posts": [{"id": 1, "title": "by ada", "userId": 1}],
    "comments": [{"id": 1, "body": "hi", "postId": 1}],
    "secrets": [{"id": 1, "value": "42"}],
    "profile": {"name": "typicode"},
}
METHODS = ("get", "put", "post", "patch", "delete")
AUTH_ENDPOINTS = {
    ("post", "/register"), ("post", "/signup"), ("post", "/users"), ("post", "/login"), ("post", "/signin"),
    ("get", "/auth/me"), ("post", "/auth/logout"), ("post", "/auth/password"), ("post", "/auth/refresh"),
}  # fmt: skip
REQUIRED: list[dict[str, list[str]]] = [{"bearer": []}]
OPTIONAL: list[dict[str, list[str]]] = [{}, {"bearer": []}]


async def _auth_document(tmp_path: Path, data: dict[str, Any] = DB, **options: Any) -> tuple[dict[str, Any], Any]:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps(RULES))
    async with serve(copy.deepcopy(data), auth=True, rules_file=rules, **options) as http:
        registered = await http.post("/register", json={"email": "bob@example.com", "password": "bob-password"})
        assert registered.status_code == 201, registered.text
        document = (await http.get("/openapi.json")).json()
        answers = await _anonymous_answers(http, document)
    validate(document)  # a valid OpenAPI 3.1 document with auth on too
    return document, answers


async def _anonymous_answers(http: httpx.AsyncClient, document: dict[str, Any]) -> dict[tuple[str, str], int]:
    """The status each GET, and each POST to a collection, gets without a token (``{id}`` is 1)."""
    answers = {}
    for path, item in document["paths"].items():
        for method in ("get", "post"):
            if method not in item or (method, path) in AUTH_ENDPOINTS:
                continue
            url = path.replace("{id}", "1")
            response = await (http.get(url) if method == "get" else http.post(url, json={"text": "anonymous"}))
            answers[(method, path)] = response.status_code
    return answers


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.mark.parametrize("backend", BACKENDS)
async def test_each_operation_declares_what_the_rules_ask_and_the_server_agrees(tmp_path: Path, backend: str) -> None:
    if backend == "postgres":
        require_postgres()
    document, answers = await _auth_document(tmp_path, backend=backend)
    operations = _operations(document)
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "security" not in document  # no default: each operation says what it needs

    security = {key: operation.get("security") for key, operation in operations.items()}
    for path in ("/notes", "/notes/{id}", "/secrets", "/secrets/{id}", "/users/{id}/notes"):
        assert security[("get", path)] == REQUIRED, path
    for key in (("post", "/posts"), ("put", "/posts/{id}"), ("patch", "/notes/{id}"), ("delete", "/secrets/{id}")):
        assert security[key] == REQUIRED, key
    for key in (("put", "/profile"), ("get", "/profile"), ("get", "/auth/me"), ("post", "/auth/logout")):
        assert security[key] == REQUIRED, key
    # Open to anyone, same answer for everyone: nothing declared (no lock in Swagger UI).
    for key in (("get", "/posts"), ("get", "/comments/{id}"), ("post", "/comments"), ("post", "/login")):
        assert security[key] is None, key
    # Open to anyone, but a token changes the answer: /db, a list that can embed notes, registration (an admin's).
    for key in (("get", "/db"), ("get", "/users"), ("get", "/users/{id}"), ("post", "/register"), ("post", "/users")):
        assert security[key] == OPTIONAL, key

    # The server agrees: a declared requirement is a 401 without a token, and only then.
    for key, status in answers.items():
        assert (status == 401) is (security[key] == REQUIRED), (
            f"{key}: {status} without a token, declared {security[key]}"
        )

    unauthorized = {"$ref": "#/components/responses/Unauthorized"}
    forbidden = {"$ref": "#/components/responses/Forbidden"}
    for key, operation in operations.items():
        if security[key] is not None:
            assert operation["responses"]["401"] == unauthorized, key
    assert operations[("get", "/notes/{id}")]["responses"]["403"] == forbidden  # another user's note
    assert "403" not in operations[("get", "/notes")]["responses"]  # a list filters instead
    assert "WWW-Authenticate" in document["components"]["responses"]["Unauthorized"]["headers"]
    assert "rules" in document["components"]["responses"]["Forbidden"]["description"]
    text = operations[("get", "/notes")]["description"]
    assert "**Who may** (`--auth`): read notes: the owner (`userId` is their id) or an admin." in text

    # Guard prefixes (/600/notes) work as aliases, and are not documented as paths.
    assert not [path for path in document["paths"] if re.match(r"^/[0246]{3}(/|$)", path)]


async def test_the_accounts_endpoints_are_documented(tmp_path: Path) -> None:
    document, _answers = await _auth_document(tmp_path)
    operations = _operations(document)
    assert operations.keys() >= AUTH_ENDPOINTS
    assert document["tags"][0]["name"] == "auth"
    schemas = document["components"]["schemas"]
    register = operations[("post", "/register")]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AuthRegistration"
    }
    assert schemas["AuthRegistration"]["required"] == ["email", "password"]
    assert schemas["AuthRegistration"]["properties"]["password"]["minLength"] == 8
    assert register["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AuthSession"
    }
    assert schemas["AuthSession"]["required"] == ["accessToken", "user"]
    assert schemas["AuthUser"]["$ref"] == "#/components/schemas/users"  # the users' record schema
    assert "email_taken" in register["responses"]["400"]["description"]
    assert operations[("post", "/users")]["operationId"] == "auth_register_users"  # json-server-auth's alias
    assert set(document["paths"]["/users"]) == {"get", "post"}  # GET /users is still the collection
    login = operations[("post", "/login")]
    assert "invalid_credentials" in login["responses"]["400"]["description"]
    assert login["responses"]["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert document["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"]["required"] is True
    assert set(operations[("post", "/auth/logout")]["responses"]) == {"204", "401"}
    password = operations[("post", "/auth/password")]
    assert schemas[password["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]][
        "required"
    ] == ["password", "newPassword"]
    assert {"400", "401", "429"} <= set(password["responses"])
    refresh = operations[("post", "/auth/refresh")]
    assert refresh["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AuthRefresh")
    assert "refreshToken" in schemas["AuthSession"]["properties"]
    assert "/.well-known/jwks.json" not in document["paths"], "an HMAC key has no public half"


async def test_the_optional_accounts_endpoints_follow_the_options(tmp_path: Path) -> None:
    key = tmp_path / "ed25519.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    document, _answers = await _auth_document(tmp_path, refresh_ttl=0, jwt_private_key=key)
    assert "/auth/refresh" not in document["paths"], "refresh tokens are off"
    jwks = document["paths"]["/.well-known/jwks.json"]["get"]
    assert jwks["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/JwkSet")


async def test_no_hidden_field_and_no_unreadable_record_is_shown(tmp_path: Path) -> None:
    declared = tmp_path / "schemas.json"
    users_schema = {"type": "object", "required": ["email", "password"], "properties": {"password": {"type": "string"}}}
    declared.write_bytes(orjson.dumps({"users": users_schema}))
    variants: list[dict[str, Any]] = [{}, {"schema_file": declared, "hide_forbidden": True}]
    for options in variants:
        document, _answers = await _auth_document(tmp_path, **options)
        text = orjson.dumps(document).decode()
        assert "user@example.com" in text  # the accounts endpoints' made-up user
        assert "tokenVersion" not in text and "$argon2" not in text, options
        users = document["components"]["schemas"]["users"]
        assert not {"password", "tokenVersion"} & set(users["properties"]), options
        assert "password" not in users.get("required", []), options
        listing = {p.get("name"): p for p in document["paths"]["/users"]["get"]["parameters"]}
        assert "q" in listing, "q searches users (it skips the hidden fields)"
        assert "password" not in str(listing["filter"]["schema"]["patternProperties"])
        examples = _examples(document)
        assert "ada@example.com" not in text and "bob@example.com" not in text, "no user of the data is shown"
        assert not [where for where in examples if where[0] in ("/users", "/users/{id}")]
        assert not [where for where in examples if where[0].startswith(("/notes", "/secrets", "/profile"))]
        assert ("/posts", "get") in examples and ("/comments/{id}", "get") in examples  # public: shown
        body = document["paths"]["/posts"]["post"]["requestBody"]["content"]["application/json"]["example"]
        assert body == {"title": "by ada"}  # no userId: a record you create is yours
    # --hide-forbidden: one record the caller may not read is a 404, so no 403 is documented for reads.
    assert "403" not in document["paths"]["/notes/{id}"]["get"]["responses"]


def _examples(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, method) of every operation that shows an example of a request or a response body."""
    found = []
    for (method, path), operation in _operations(document).items():
        media = [operation.get("requestBody", {}).get("content", {}).get("application/json", {})]
        media += [
            response.get("content", {}).get("application/json", {}) for response in operation["responses"].values()
        ]
        if any("example" in item for item in media) and (method, path) not in AUTH_ENDPOINTS:
            found.append((path, method))
    return found
