"""``--auth`` over HTTP: the policy that reads ``Authorization: Bearer``, and the accounts endpoints.

The policy sits in the stack's auth slot (``web/stack.py``: after CORS, before the fast lane), so
every route and the fast lane see the caller it puts in the scope. A request without a token is
anonymous; a request with a refused one is a 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` whatever it asks for. json-server-auth's guard prefixes (``/664/posts``)
are taken off the path here and travel with the caller (:class:`~jsonserve.auth.principal.Guard`).

Endpoints (json-server-auth's, plus the safe parts it lacks): ``POST /register`` ``/signup``
``/users`` (201 ``{accessToken, refreshToken, user}``; ``refreshToken`` only with refresh tokens on),
``POST /login`` ``/signin`` (200, the same body), ``POST /auth/refresh`` (``{refreshToken}`` -> 200,
a new pair; 404 with refresh tokens off), ``GET /auth/me``, ``POST /auth/logout`` (204) and
``POST /auth/password`` (204); with a private key (RS256, EdDSA), ``GET /.well-known/jwks.json``
(the public key, for other services that verify our tokens).

``/auth/refresh`` is the one path where the policy does not read the ``Authorization`` header: a
client refreshes because its access token expired, and many send that stale token along.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.auth.principal import Guard, Principal
from jsonserve.errors import InvalidToken
from jsonserve.service.accounts import Accounts
from jsonserve.web.errors import domain_response
from jsonserve.web.http import PRINCIPAL_KEY, bearer_token, json_response, principal_of, read_json
from jsonserve.web.resources import options_or_405

Endpoint = Callable[[Request], Awaitable[Response]]
GUARD = re.compile(r"^/([0246]{3})(/[^/]+(?:/.*)?)$")
REFRESH_PATH = "/auth/refresh"
JWKS_PATH = "/.well-known/jwks.json"


class AuthPolicy:
    """Put the request's :class:`Principal` in the scope (``web.http.PRINCIPAL_KEY``); 401 for a refused token."""

    def __init__(self, app: ASGIApp, accounts: Accounts, base: str = "") -> None:
        self.app = app
        self.accounts = accounts
        self.base = base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        guard = self._unguard(scope)
        try:
            token = None if scope["path"] == self.base + REFRESH_PATH else bearer_token(scope)
            principal = Principal(guard=guard) if token is None else await self.accounts.authenticate(token, guard)
        except InvalidToken as error:
            await domain_response(error)(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    def _unguard(self, scope: Scope) -> Guard | None:
        """Take a guard prefix (``/600/notes/1`` -> ``/notes/1``) off the path, under ``--base`` if any."""
        path: str = scope["path"]
        if not path.startswith(self.base + "/"):
            return None
        match = GUARD.match(path[len(self.base) :])
        if match is None:
            return None
        mode, rest = match.groups()
        scope["path"] = self.base + rest
        scope["raw_path"] = scope["path"].encode("utf-8")
        return Guard(rest.split("/")[1], mode)


def auth_pages(accounts: Accounts, max_body: int, max_depth: int) -> dict[str, Endpoint]:
    """The single-segment endpoints (``/register``, ``/login``…), by name; ``users`` answers its POST only."""

    def client_address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def register(request: Request) -> Response:
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "registration takes a POST")
        body = await read_json(request, max_body, max_depth)
        session = await accounts.register(body, principal_of(request.scope))
        return json_response(request, session.payload(), 201)

    async def login(request: Request) -> Response:
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "login takes a POST")
        body = await read_json(request, max_body, max_depth)
        session = await accounts.login(body, client_address(request))
        return json_response(request, session.payload())

    return {"register": register, "signup": register, "login": login, "signin": login}


def auth_routes(accounts: Accounts, max_body: int, max_depth: int) -> dict[str, Endpoint]:
    """The ``/auth/{action}`` endpoints, by action."""

    async def me(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/auth/me is read-only")
        return json_response(request, await accounts.me(principal_of(request.scope)))

    async def logout(request: Request) -> Response:
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "logout takes a POST")
        await accounts.logout(principal_of(request.scope))
        return Response(status_code=204)

    async def password(request: Request) -> Response:
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "a password change takes a POST")
        body = await read_json(request, max_body, max_depth)
        address = request.client.host if request.client else "unknown"
        await accounts.change_password(principal_of(request.scope), body, address)
        return Response(status_code=204)

    async def refresh(request: Request) -> Response:
        accounts.require_refresh_tokens()
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "a refresh takes a POST")
        body = await read_json(request, max_body, max_depth)
        return json_response(request, (await accounts.refresh(body)).payload())

    return {"me": me, "logout": logout, "password": password, "refresh": refresh}


def jwks_page(accounts: Accounts) -> Endpoint | None:
    """``GET /.well-known/jwks.json``: the public key as a JWK Set; ``None`` for an HMAC secret (nothing public)."""
    jwk = accounts.tokens.key.jwk()
    if jwk is None:
        return None

    async def jwks(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "the key set is read-only")
        return json_response(request, {"keys": [jwk]})

    return jwks
