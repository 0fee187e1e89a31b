"""The accounts endpoints of ``--auth`` (``/register``, ``/login``, ``/auth/me``…) as OpenAPI operations.

Each endpoint is one row of :data:`ENDPOINTS` (data, not code): its route, what it takes, what it
answers and the problems it can give, with its own words where the shared ones would be vague
(a 400 at login is a wrong email or password). A new endpoint (``POST /auth/refresh``) is one more
row, and one more schema in :func:`auth_schemas` if it takes a new body.

The schemas and examples are synthetic: a document anyone may read shows no user of the data.

Example:
    >>> paths, schemas = auth_paths(None, "role")
    >>> sorted(paths)[:3], sorted(paths["/login"])
    (['/auth/logout', '/auth/me', '/auth/password'], ['post'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from jsonserve.auth.passwords import MIN_LENGTH
from jsonserve.auth.policy import PRIVILEGE_FIELDS
from jsonserve.openapi.models import STORED_ID
from jsonserve.openapi.responses import PROBLEM, PROBLEMS, json_response
from jsonserve.openapi.security import AUTH_PROBLEMS, OPTIONAL, REQUIRED, problem_ref
from jsonserve.service.accounts import EMAIL, MAX_EMAIL

Json = dict[str, Any]
Bearer = Literal["none", "optional", "required"]
TAG = "auth"
TOKEN_EXAMPLE = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZW1haWwiOiJhZGFAZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJl"  # noqa: S105 - a made-up example
USER_EXAMPLE: Json = {"id": 1, "email": "user@example.com"}
PASSPHRASE_EXAMPLE = "correct horse battery staple"  # noqa: S105 - an example body


@dataclass(frozen=True)
class AuthEndpoint:
    """One accounts endpoint: ``problems`` are ``(status, words)``, an empty text meaning the shared response."""

    path: str
    method: str
    name: str
    summary: str
    description: str
    request: str | None  # a schema of auth_schemas(), or None: no body
    answer: tuple[int, str | None]  # the status, and a schema of auth_schemas() (None: no body)
    problems: tuple[tuple[int, str], ...]
    bearer: Bearer = "none"  # whether it takes the token (optional: an admin's registers an admin)
    feature: str | None = None  # served only when this optional feature is on (``refresh``, ``jwks``)


_BODY_PROBLEMS = ((413, ""), (415, ""))
_REGISTER: dict[str, Any] = {
    "method": "post",
    "description": "Creates a user in `users`, with the password hashed (argon2id), and answers a token for them "
    "(json-server-auth's answer). The email must be valid and not registered yet (compared case-insensitively); "
    "the password at least {min_length} characters. Other fields are stored on the user, except {privileged}: "
    "only an admin's token may set those (403 otherwise).",
    "request": "AuthRegistration",
    "answer": (201, "AuthSession"),
    "problems": (
        (
            400,
            "A malformed body, an invalid email (`errors[].code`: `invalid_email`), a password shorter than "
            "{min_length} characters (`weak_password`), or an email already registered (`code`: `email_taken`).",
        ),
        (401, ""),
        (403, "Only an admin sets {privileged}."),
        *_BODY_PROBLEMS,
    ),
    "bearer": "optional",
}
_LOGIN: dict[str, Any] = {
    "method": "post",
    "description": "Answers a token for the right email and password. A wrong password and an unknown email get "
    "the same 400; repeated failures for one account or from one address get 429 until `Retry-After` has passed.",
    "request": "AuthCredentials",
    "answer": (200, "AuthSession"),
    "problems": (
        (400, "A malformed body, or a wrong email or password (`code`: `invalid_credentials`)."),
        *_BODY_PROBLEMS,
        (429, ""),
    ),
}

ENDPOINTS: tuple[AuthEndpoint, ...] = (
    AuthEndpoint("/register", name="register", summary="Register a user", **_REGISTER),
    AuthEndpoint("/signup", name="signup", summary="Register a user (as /register)", **_REGISTER),
    AuthEndpoint(
        "/users", name="register_users", summary="Register a user (json-server-auth's POST /users)", **_REGISTER
    ),
    AuthEndpoint("/login", name="login", summary="Log in", **_LOGIN),
    AuthEndpoint("/signin", name="signin", summary="Log in (as /login)", **_LOGIN),
    AuthEndpoint(
        "/auth/me",
        method="get",
        name="me",
        summary="Get the signed-in user",
        description="The user the token names (never their password hash).",
        request=None,
        answer=(200, "AuthUser"),
        problems=((401, ""),),
        bearer="required",
    ),
    AuthEndpoint(
        "/auth/refresh",
        method="post",
        name="refresh",
        summary="Trade a refresh token for a new pair",
        description="Takes the `refreshToken` of a login or an earlier refresh and answers a new access token and "
        "refresh token; the one sent stops working (single use). A refresh token used twice ends that login. "
        "The `Authorization` header is ignored here.",
        request="AuthRefresh",
        answer=(200, "AuthSession"),
        problems=(
            (400, ""),
            (401, "The refresh token is invalid, expired, already used, or revoked."),
            *_BODY_PROBLEMS,
        ),
        feature="refresh",
    ),
    AuthEndpoint(
        "/.well-known/jwks.json",
        method="get",
        name="jwks",
        summary="The public key that verifies tokens",
        description="The public half of `--jwt-private-key` as a JWK set (RFC 7517), so that another service can "
        "verify the access tokens without a shared secret.",
        request=None,
        answer=(200, "JwkSet"),
        problems=(),
        feature="jwks",
    ),
    AuthEndpoint(
        "/auth/logout",
        method="post",
        name="logout",
        summary="Log out",
        description="Every token issued to this user so far stops working.",
        request=None,
        answer=(204, None),
        problems=((401, ""),),
        bearer="required",
    ),
    AuthEndpoint(
        "/auth/password",
        method="post",
        name="password",
        summary="Change the password",
        description="Takes the current password and a new one (at least {min_length} characters); every token "
        "issued so far stops working (log in again). Failures are limited as at login.",
        request="AuthPasswordChange",
        answer=(204, None),
        problems=(
            (
                400,
                "A malformed body, a new password that is too short, or a wrong current password "
                "(`code`: `invalid_credentials`).",
            ),
            (401, ""),
            *_BODY_PROBLEMS,
            (429, ""),
        ),
        bearer="required",
    ),
)


def auth_paths(users_record: str | None, role_field: str, features: frozenset[str] = frozenset()) -> tuple[Json, Json]:
    """The accounts endpoints' path items and the schemas they use.

    ``users_record`` is the ``$ref`` of the users' record schema when ``users`` is a collection;
    ``role_field`` the rules' role field (a privilege, as ``role`` and ``isAdmin`` are); ``features``
    the optional endpoints that are on.
    """
    privileged = ", ".join(f"`{name}`" for name in sorted(PRIVILEGE_FIELDS | {role_field}))
    words = {"min_length": MIN_LENGTH, "privileged": privileged}
    paths: Json = {}
    for endpoint in ENDPOINTS:
        if endpoint.feature is not None and endpoint.feature not in features:
            continue
        paths.setdefault(endpoint.path, {})[endpoint.method] = _operation(endpoint, words)
    return paths, auth_schemas(users_record)


def _operation(endpoint: AuthEndpoint, words: dict[str, Any]) -> Json:
    status, schema = endpoint.answer
    answer: Json = {"description": "Done (no body)."}
    if schema is not None:
        answer = json_response(_ANSWERS[schema], _ref(schema), example=_EXAMPLES[schema])
    operation: Json = {
        "tags": [TAG],
        "operationId": f"auth_{endpoint.name}",
        "summary": endpoint.summary,
        "description": endpoint.description.format(**words),
        "responses": {
            str(status): answer,
            **{str(code): _problem(code, text.format(**words)) for code, text in endpoint.problems},
        },
    }
    if endpoint.request is not None:
        media = {"schema": _ref(endpoint.request), "example": _EXAMPLES[endpoint.request]}
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    if endpoint.bearer != "none":
        operation["security"] = REQUIRED if endpoint.bearer == "required" else OPTIONAL
    return operation


def _problem(status: int, text: str) -> Json:
    """The shared problem response of ``status``, or one in this endpoint's words."""
    if text:
        return {"description": text, "content": {PROBLEM: {"schema": _ref("Problem")}}}
    return problem_ref(status) if status in AUTH_PROBLEMS else {"$ref": f"#/components/responses/{PROBLEMS[status][0]}"}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def auth_schemas(users_record: str | None) -> Json:
    """The bodies the accounts endpoints take and answer; ``AuthUser`` is the users' record schema when there is one."""
    email = {"type": "string", "maxLength": MAX_EMAIL, "pattern": EMAIL.pattern, "examples": [USER_EXAMPLE["email"]]}
    password = {"type": "string", "format": "password"}
    user: Json = (
        {"$ref": users_record}
        if users_record is not None
        else {
            "type": "object",
            "required": ["id", "email"],
            "properties": {"id": STORED_ID, "email": {"type": "string"}},
        }
    )
    return {
        "AuthRegistration": {
            "type": "object",
            "required": ["email", "password"],
            "properties": {
                "email": {**email, "description": "Unique, compared case-insensitively."},
                "password": {**password, "minLength": MIN_LENGTH},
            },
            "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
            "description": "Any other field is stored on the user (privilege fields by an admin only).",
        },
        "AuthCredentials": {
            "type": "object",
            "required": ["email", "password"],
            "properties": {"email": {"type": "string"}, "password": password},
        },
        "AuthPasswordChange": {
            "type": "object",
            "required": ["password", "newPassword"],
            "properties": {"password": password, "newPassword": {**password, "minLength": MIN_LENGTH}},
        },
        "AuthRefresh": {
            "type": "object",
            "required": ["refreshToken"],
            "properties": {"refreshToken": {"type": "string"}},
        },
        "JwkSet": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
        },
        "AuthSession": {
            "type": "object",
            "required": ["accessToken", "user"],
            "properties": {
                "accessToken": {
                    "type": "string",
                    "description": "A JWT: send it as `Authorization: Bearer <accessToken>`.",
                },
                "refreshToken": {
                    "type": "string",
                    "description": "With refresh tokens on: trade it at `POST /auth/refresh` for a new pair (once).",
                },
                "user": _ref("AuthUser"),
            },
        },
        "AuthUser": {**user, "description": "A user as every answer shows one: never the password hash."},
    }


_ANSWERS = {
    "AuthSession": "A token and the user it names.",
    "AuthUser": "The signed-in user.",
    "JwkSet": "The public key as a JWK set.",
}
_EXAMPLES: dict[str, Json] = {
    "AuthSession": {"accessToken": TOKEN_EXAMPLE, "refreshToken": TOKEN_EXAMPLE, "user": USER_EXAMPLE},
    "AuthRefresh": {"refreshToken": TOKEN_EXAMPLE},
    "JwkSet": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]},
    "AuthUser": USER_EXAMPLE,
    "AuthRegistration": {"email": USER_EXAMPLE["email"], "password": PASSPHRASE_EXAMPLE},
    "AuthCredentials": {"email": USER_EXAMPLE["email"], "password": PASSPHRASE_EXAMPLE},
    "AuthPasswordChange": {"password": PASSPHRASE_EXAMPLE, "newPassword": "another long passphrase"},
}
