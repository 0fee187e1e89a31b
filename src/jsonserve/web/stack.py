"""The middleware stack, declared: which layers wrap the routes, in which order, and when each is present.

Outermost first (a request meets them top to bottom, a response bottom to top)::

    observe     always                  request id (X-Request-ID), access log, request metrics
    hsts        --hsts SECONDS          Strict-Transport-Security on every answer over HTTPS
    cors        settings.cors_origins   CORS headers, preflights (204)
    catch-all   always                  an unexpected exception -> one logged problem+json 500
    rewrite     settings.routes         json-server's --routes rewrites
    auth        --auth                  the caller from ``Authorization: Bearer``; guard prefixes
    rate limit  --rate-limit(-writes)   the client's budgets: X-RateLimit-*/RateLimit headers, 429
    chaos       --chaos(-latency)       a fraction of API requests delayed, or answered 503
    policies    create_app(policies=)   any other pure-ASGI policy; empty by default
    gzip        always                  compress large bodies for clients that accept gzip
    fast lane   fast_reads, no --base,  GET /{collection}/{id} and GET /{collection}?query (lists)
                no --routes, no --delay answered without routing
    (routes)

Why in this order:

- Observe is outermost, so every answer (a preflight, a 429, a chaos 503, a 500) has a request id,
  an access-log line and its count in ``/metrics``, with the time the whole stack took.
- CORS is outermost, so every answer carries its headers (a policy's refusal, the lane's record, a
  500) and a preflight is answered before any policy: browsers send no credentials with one.
- The catch-all comes next, inside CORS: an exception from a policy, the lane or an endpoint is a
  problem+json 500 that a browser page can read, logged once, on a connection kept open.
- The rate limit comes after auth, so a signed-in user spends their own budget wherever they connect
  from; chaos comes after the rate limit, so a refused request is not also delayed; both come before
  the fast lane, which therefore cannot bypass them (``web/limiting.py``, ``web/chaos.py``).
- Policies come before the fast lane, so they apply to the requests it answers by construction. A
  policy is a pure-ASGI middleware, declared as ``starlette.middleware.Middleware(cls, **options)``;
  it sees every HTTP, WebSocket and lifespan scope and passes on what it does not handle.
- Gzip wraps the fast lane, so the lane's answers are compressed exactly as the routes' are.
- The rewrite comes before auth, so that json-server-auth's ``routes.json`` (``{"/notes*":
  "/600/notes$1"}``) works: the guard prefix it adds is what the auth layer takes off the path and
  applies. Policies see the rewritten path too (the resource actually asked for).
- The fast lane matches the path as the client sent it: it is absent when the routes are mounted
  under ``--base``, when ``--routes`` rewrites paths and when ``--delay`` slows the endpoints down.

Example:
    >>> [layer.name for layer in present(Parts(Settings(), service))]  # doctest: +SKIP
    ['observe', 'cors', 'catch-all', 'gzip', 'fast lane']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.config import Settings
from jsonserve.service import Service
from jsonserve.web import docs
from jsonserve.web.auth import AuthPolicy
from jsonserve.web.chaos import Chaos
from jsonserve.web.errors import CatchAll, problem
from jsonserve.web.fastpath import FastReads
from jsonserve.web.limiting import RateLimit
from jsonserve.web.observe import Observe
from jsonserve.web.ops import Ops
from jsonserve.web.presentation import parse_options
from jsonserve.web.resources import ALL_METHODS
from jsonserve.web.rewrite import RewriteMiddleware

# A browser page reads these on a cross-origin answer (a 401's challenge and a 429's wait included).
EXPOSED = ["X-Total-Count", "Link", "Location", "ETag", "WWW-Authenticate", "Retry-After", "X-Request-ID"]
EXPOSED += ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy"]
GZIP_MINIMUM = 1024  # bytes: smaller bodies are sent as they are, even to a gzip client


@dataclass(frozen=True)
class Parts:
    """What the layers are built from: the settings, the service and ``create_app``'s options."""

    settings: Settings
    service: Service
    policies: tuple[Middleware, ...] = ()
    fast_reads: bool = True
    given_ops: Ops | None = None  # create_app's; else built from the settings
    pages: frozenset[str] = frozenset()  # the routes' pages at /{name} (/db, /login…): not lists

    @functools.cached_property
    def ops(self) -> Ops:
        """The app's rate limiter, metrics and chaos state (``web/ops.py``)."""
        return self.given_ops or Ops.build(self.settings, self.service)


@dataclass(frozen=True)
class Layer:
    """One named layer of the stack: when it is present, and the middleware it adds then."""

    name: str
    present: Callable[[Parts], bool]
    build: Callable[[Parts], Sequence[Middleware]]


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, answering preflights with 204 and no body as json-server does.

    Only an allowed origin gets CORS headers: Starlette adds ``Access-Control-Allow-Credentials`` and
    ``Access-Control-Expose-Headers`` to the answers of every origin (only ``Allow-Origin`` is kept
    for the allowed ones), and its refused preflight still lists the methods and credentials; here a
    foreign origin gets neither, and a refused preflight is a problem+json 400 with no CORS header.
    With ``--cors '*'`` credentials are never allowed (see :func:`_cors`), so ``*`` is sent, never an
    echoed origin with ``Allow-Credentials``.

    A request without an ``Origin`` (curl, a server, a same-origin page) takes a shorter path: all
    Starlette does for it is add ``Origin`` to the response's ``Vary``, and its general path (request
    and response header objects per request) costs as much as the whole fast lane.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_header(scope["headers"], b"origin"):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = vary_origin(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_varying)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        """Starlette's headers for an allowed origin; for any other, only ``Origin`` added to ``Vary``."""
        origin = request_headers.get("origin")
        if message["type"] != "http.response.start" or origin is None or self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return
        message["headers"] = vary_origin(message.get("headers", ()))
        await send(message)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            refused_for = bytes(response.body).decode().removeprefix("Disallowed CORS ")  # "origin, method"...
            refused = problem(400, f"CORS preflight refused; not allowed: {refused_for}", "bad_request")
            refused.headers["Vary"] = response.headers["vary"]
            return refused
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return Response(status_code=204, headers=headers)


def _has_header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> bool:
    for name, _value in headers:  # noqa: SIM110 - a loop: any() over a generator costs more, on every request
        if name == wanted:
            return True
    return False


def vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers with ``Origin`` added to ``Vary`` as Starlette's CORS does: one header, where the first was.

    Example:
        >>> vary_origin([(b"vary", b"Accept-Encoding"), (b"etag", b'"x"')])
        [(b'vary', b'Accept-Encoding, Origin'), (b'etag', b'"x"')]
    """
    headers = list(headers)
    if not _has_header(headers, b"vary"):  # the lane's answers and most others
        headers.append((b"vary", b"Origin"))
        return headers
    found = [index for index, (name, _value) in enumerate(headers) if name == b"vary"]
    merged = (b"vary", b", ".join([*(headers[index][1] for index in found), b"Origin"]))
    for index in reversed(found[1:]):
        del headers[index]
    headers[found[0]] = merged
    return headers


class Hsts:
    """``Strict-Transport-Security: max-age=N`` on every HTTP answer sent over HTTPS (RFC 6797: never over http).

    The scheme is the connection's, or ``X-Forwarded-Proto``'s from a proxy of ``--forwarded-allow-ips``
    (uvicorn sets it), so HSTS also works behind a proxy that ends TLS. Pure ASGI.
    """

    def __init__(self, app: ASGIApp, max_age: int) -> None:
        self.app = app
        self.header = (b"strict-transport-security", f"max-age={max_age}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_hsts)


class Gzip:
    """Starlette's gzip for clients that accept it; every other request goes straight to the app.

    (Starlette's middleware wraps every response, compressed or not, to add ``Vary``; an
    uncompressed body is valid for every client, so that hop is skipped. Pure ASGI.)
    """

    def __init__(self, app: ASGIApp, minimum_size: int = GZIP_MINIMUM) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:  # a loop: any() over a generator costs more, on every request
                if name == b"accept-encoding" and b"gzip" in value:
                    await self.gzip(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _cors(parts: Parts) -> list[Middleware]:
    origins = parts.settings.cors_origins or ()
    wildcard = "*" in origins
    return [
        Middleware(
            Cors,
            allow_origins=["*"] if wildcard else list(origins),
            allow_credentials=not wildcard,  # never "any origin" together with credentials
            allow_methods=ALL_METHODS,
            allow_headers=["*"],  # echo any requested header, as json-server 0.17 and 1.x do
            expose_headers=EXPOSED,
            max_age=600,
        )
    ]


def _auth(parts: Parts) -> list[Middleware]:
    accounts = parts.service.accounts
    return [] if accounts is None else [Middleware(AuthPolicy, accounts=accounts, base=parts.settings.base)]


def _observe(parts: Parts) -> list[Middleware]:
    ops = parts.ops
    return [Middleware(Observe, paths=ops.paths, metrics=ops.metrics, access_log=not parts.settings.quiet)]


def _rate_limit(parts: Parts) -> list[Middleware]:
    limiter = parts.ops.limiter
    return [] if limiter is None else [Middleware(RateLimit, limiter=limiter, paths=parts.ops.paths)]


def _has_chaos(parts: Parts) -> bool:
    return parts.settings.chaos is not None or parts.settings.chaos_latency is not None


def _chaos(parts: Parts) -> list[Middleware]:
    ops, settings = parts.ops, parts.settings
    return [
        Middleware(
            Chaos,
            paths=ops.paths,
            fraction=settings.chaos or 0.0,
            latency=settings.chaos_latency,
            rng=ops.rng,
            on_failure=ops.count_chaos,
        )
    ]


def _has_fast_lane(parts: Parts) -> bool:
    settings = parts.settings
    return parts.fast_reads and not (settings.base or settings.routes or settings.delay_ms)


def _fast_lane(parts: Parts) -> list[Middleware]:
    reserved = frozenset({docs.ASSETS_PATH.strip("/"), "realtime", "_"})  # "_": the data browser
    options = parse_options(parts.settings)
    return [Middleware(FastReads, service=parts.service, options=options, reserved=reserved, pages=parts.pages)]


def _rewrite(parts: Parts) -> list[Middleware]:
    return [Middleware(RewriteMiddleware, rules=parts.settings.routes)]


STACK: tuple[Layer, ...] = (
    Layer("observe", lambda _parts: True, _observe),
    Layer("hsts", lambda parts: parts.settings.hsts > 0, lambda parts: [Middleware(Hsts, max_age=parts.settings.hsts)]),
    Layer("cors", lambda parts: bool(parts.settings.cors_origins), _cors),
    Layer("catch-all", lambda _parts: True, lambda _parts: [Middleware(CatchAll)]),
    Layer("rewrite", lambda parts: bool(parts.settings.routes), _rewrite),
    Layer("auth", lambda parts: parts.service.accounts is not None, _auth),
    Layer("rate limit", lambda parts: parts.ops.limiter is not None, _rate_limit),
    Layer("chaos", _has_chaos, _chaos),
    Layer("policies", lambda parts: bool(parts.policies), lambda parts: parts.policies),
    Layer("gzip", lambda _parts: True, lambda _parts: [Middleware(Gzip, minimum_size=GZIP_MINIMUM)]),
    Layer("fast lane", _has_fast_lane, _fast_lane),
)
"""The layers, outermost first (see the table above)."""


def present(parts: Parts) -> tuple[Layer, ...]:
    """The layers of :data:`STACK` present for these parts, outermost first."""
    return tuple(layer for layer in STACK if layer.present(parts))


def middleware(parts: Parts) -> list[Middleware]:
    """The Starlette middleware list (outermost first) for these parts."""
    return [item for layer in present(parts) for item in layer.build(parts)]
