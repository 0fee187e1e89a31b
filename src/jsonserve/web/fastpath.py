"""A pure-ASGI fast lane for the commonest request: ``GET /{collection}/{id}``, no query, no conditions.

Such a request needs no routing table, no ``Request`` object and none of the middleware hops, yet
going through them costs more than the lookup and the rendering together. This lane answers it
directly with the very bytes and headers the full application sends (the same ``render`` and
``etag_for``, ``Cache-Control``, and the ``Vary: Origin`` the CORS middleware adds to a request without
an ``Origin``); ``tests/web/test_fastpath.py`` compares the two.

Anything else goes to the full application untouched: another method, a query string, an
``Origin`` (CORS), ``If-None-Match``, a gzip-sized body for a gzip client, a name that is not a
collection, a missing record, any error. Nothing is sent before the answer is complete, so handing
over is always possible.

Example:
    >>> app = FastRecordReads(starlette_app, service, vary_origin=True)  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.schema import Kind
from jsonserve.service import Service, etag_for, render
from jsonserve.web.http import principal_of

GZIP_MINIMUM = 1024  # bodies from this size are compressed for a gzip client: the full app does that
_HANDED_OVER = (b"origin", b"if-none-match")


class FastRecordReads:
    """Answer plain ``GET /{collection}/{id}`` itself; hand everything else to ``app``."""

    def __init__(
        self, app: ASGIApp, service: Service, *, vary_origin: bool, reserved: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.service = service
        self.reserved = reserved  # first segments the full app routes elsewhere (the docs assets)
        self.extra = [(b"vary", b"Origin")] if vary_origin else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._answer(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        headers, body = answer
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        if scope["method"] != "GET" or scope["query_string"] or scope.get("root_path"):
            return None
        parts = scope["path"].split("/")
        if len(parts) != 3 or parts[0] or not parts[1] or not parts[2] or parts[1] in self.reserved:
            return None
        gzip = False
        for name, value in scope["headers"]:
            if name in _HANDED_OVER:
                return None
            gzip = gzip or (name == b"accept-encoding" and b"gzip" in value)
        if self.service.kinds().get(parts[1]) is not Kind.PLURAL:
            return None
        try:
            record = await self.service.get(parts[1], parts[2], principal=principal_of(scope))
        except Exception:
            return None
        body = render(record)
        if gzip and len(body) >= GZIP_MINIMUM:
            return None
        headers = [
            (b"cache-control", b"no-cache"),
            (b"etag", etag_for(body).encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
            *self.extra,
        ]
        return headers, body
