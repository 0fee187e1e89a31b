"""The small pure-ASGI layers of the stack (``web/stack.py`` declares where each goes): CORS, HSTS, gzip.

Example:
    >>> Middleware(Gzip, minimum_size=GZIP_MINIMUM)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.web.errors import problem

GZIP_MINIMUM = 1024  # bytes: smaller bodies are sent as they are, even to a gzip client
GZIP_LEVEL = 1
"""zlib's level for gzip answers: nginx's default, not Starlette's 9. A list of 100 posts (32 KB) takes
0.2 ms at 1 and 2.3 ms at 9, for 8.4 KB instead of 7.2 KB: at 9, compressing was half the time of an
indexed filter on a million records in SQLite."""


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
        if scope["type"] != "http" or has_header(scope["headers"], b"origin"):
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


def has_header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> bool:
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
    if not has_header(headers, b"vary"):  # the lane's answers and most others
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
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and accepts_gzip(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def accepts_gzip(scope: Scope) -> bool:
    """Whether an HTTP request's ``Accept-Encoding`` names gzip."""
    for name, value in scope["headers"]:  # noqa: SIM110 - a loop: any() over a generator costs more, on every request
        if name == b"accept-encoding" and b"gzip" in value:
            return True
    return False
