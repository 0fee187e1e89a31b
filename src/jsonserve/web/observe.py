"""The outermost layer: a request id for every request, one access-log line, and the request metrics.

The id is the client's ``X-Request-ID`` when it is sane (1 to 128 characters of letters, digits and
``-_.:/+=@``: nothing that could forge a log line), else a new one; either way it is echoed in the
response's ``X-Request-ID`` and kept in the scope (:data:`REQUEST_ID_KEY`) for anything that logs.

The access-log line (logger ``jsonserve.access``, INFO) names the client, the method, the path with
its query string, the route template, the status, the duration and the id. Secrets never appear:
no header is logged, and the values of query parameters that carry credentials (``?token=``,
``access_token``, ``password``…) are replaced by ``[redacted]``. With ``--log-format json`` the
same fields are JSON keys (``server/logs.py`` formats them).

Example:
    >>> Middleware(Observe, paths=paths, metrics=None, access_log=True)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.web.paths import Paths, route_of

if TYPE_CHECKING:
    from jsonserve.web.metrics import Metrics

REQUEST_ID_KEY = "jsonserve.request_id"
"""The ASGI scope key of the request's id."""
RESPONSE_HEADERS_KEY = "jsonserve.response_headers"
"""The ASGI scope key of headers every answer to the request gets (the id's, the rate limit's): a layer
inside may extend the list rather than wrap ``send`` once more (one wrapper per request, not one per layer)."""
SANE_ID = re.compile(rb"^[A-Za-z0-9\-_.:/+=@]{1,128}$")
SECRET_PARAMS = frozenset(
    {"token", "access_token", "accesstoken", "refresh_token", "refreshtoken", "id_token", "password", "secret"}
    | {"api_key", "apikey", "key", "jwt", "auth", "authorization", "code", "client_secret", "signature"}
)
REDACTED = b"[redacted]"
access_log = logging.getLogger("jsonserve.access")


class RequestIds:
    """New request ids: a random prefix per process and a counter (cheap, unique, sortable within a process).

    Example:
        >>> ids = RequestIds("a1b2")
        >>> ids(), ids()
        ('a1b2-1', 'a1b2-2')
    """

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or os.urandom(6).hex()
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}-{next(self._count)}"


def request_id(headers: list[tuple[bytes, bytes]], new_id: Callable[[], str]) -> str:
    """The client's ``X-Request-ID`` when it is sane, else a new id.

    Example:
        >>> new = lambda: "new"
        >>> request_id([(b"x-request-id", b"abc-1")], new), request_id([(b"x-request-id", b"a b")], new)
        ('abc-1', 'new')
    """
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("ascii") if SANE_ID.match(value) else new_id()
    return new_id()


def redacted_query(query_string: bytes) -> bytes:
    """The query string with the values of credential-carrying parameters replaced.

    Example:
        >>> redacted_query(b"_page=2&token=abc&Password=x")
        b'_page=2&token=[redacted]&Password=[redacted]'
    """
    if not query_string:
        return query_string
    parts = []
    for part in query_string.split(b"&"):
        name, equals, _value = part.partition(b"=")
        if equals and unquote_plus(name.decode("latin-1")).lower() in SECRET_PARAMS:
            part = name + b"=" + REDACTED
        parts.append(part)
    return b"&".join(parts)


class Observe:
    """Give each HTTP and WebSocket request an id, then log it and count it once it is answered."""

    def __init__(
        self,
        app: ASGIApp,
        paths: Paths,
        metrics: Metrics | None = None,
        access_log: bool = True,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.app = app
        self.paths = paths
        self.metrics = metrics
        self.access_log = access_log
        self.new_id = new_id or RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        rid = request_id(scope["headers"], self.new_id)
        scope[REQUEST_ID_KEY] = rid
        # Read before the app runs: the auth and rewrite layers change the path in the scope.
        template, seen = route_of(scope, self.paths).template, Seen(path_of(scope), scope["query_string"], rid)
        added = scope[RESPONSE_HEADERS_KEY] = [(b"x-request-id", rid.encode("ascii"))]
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept", "websocket.http.response.start"):
                status = message.get("status", 101)
                message["headers"] = [*message.get("headers", ()), *added]
            elif kind == "websocket.close" and not status:
                status = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            method = scope["method"] if kind == "http" else "WEBSOCKET"
            self.record(scope, method, template, seen, status, time.perf_counter() - began)

    def record(self, scope: Scope, method: str, template: str, seen: Seen, status: int, seconds: float) -> None:
        """Count an answered request in the metrics and write its access-log line (the front lane's answers too)."""
        if self.metrics is not None:
            self.metrics.observe(template, method, status, seconds)
        if self.access_log and access_log.isEnabledFor(logging.INFO):
            _log(scope, method, seen.path, seen.query, template, status, seconds, seen.rid)


class Seen(NamedTuple):
    """A request as it arrived (before a layer rewrote it), for its access-log line."""

    path: str  # as the client sent it, percent-escapes kept
    query: bytes
    rid: str


def path_of(scope: Scope) -> str:
    """The path as the client sent it (percent-escapes kept), for the access log."""
    raw_path: bytes | None = scope.get("raw_path")
    path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
    return path


def _log(scope: Scope, method: str, path: str, query: bytes, route: str, status: int, seconds: float, rid: str) -> None:
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else "-"
    target = path + ("?" + redacted_query(query).decode("latin-1") if query else "")
    if not target.isprintable():  # a log line is one line: no control character from a client
        target = target.encode("unicode_escape").decode("ascii")
    duration_ms = round(seconds * 1000, 2)
    access_log.info(
        '%s - "%s %s" %d %.2fms route=%s id=%s',
        address,
        method,
        target,
        status,
        duration_ms,
        route,
        rid,
        extra={
            "access": {
                "request_id": rid,
                "client": address,
                "method": method,
                "path": target,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
            }
        },
    )
