"""A pure-ASGI fast lane for the commonest requests: ``GET /{collection}/{id}`` (``?_embed=``… too) and lists.

Lists (``GET /{collection}?query``) are ``web/listlane.py``'s; this module decides the record reads.

Such a request needs no routing table and no ``Request`` object, yet going through them costs more
than the lookup and the rendering together. This lane answers it directly with the very bytes and
headers the routes send (the same ``render``, ``etag_for`` and ``Cache-Control``);
``tests/web/test_fastpath.py`` compares the two.

It sits inside the declared middleware stack (``web/stack.py``): CORS, the catch-all and every
policy run before it, and gzip wraps its answers as it wraps the routes', so it deals with none of
them. Whether a request may take the lane is one check, :func:`lane_target`. A request that takes it
goes back to the routes only when the lane finds nothing (a name that is not a collection, which may
be a static file; a missing record) or the query is not one it answers (``_delay``, a query the
routes refuse with a 400; queries are parsed as the list lane parses them): any other error is
answered here, with the problem+json response the routes would give
(:func:`~jsonserve.web.errors.domain_response`); an unexpected exception
propagates to the catch-all, as it would from the routes. Nothing is sent before the answer is
complete, so handing over is always possible.

The reading half, :class:`LaneReads`, prepares a whole answer before anything is sent; the front lane
(``web/frontlane.py``) uses it too, above the stack.

Example:
    >>> app = FastReads(routes, LaneReads(service, options, reserved=frozenset({"__docs"})))  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.errors import JsonServeError, NotFound
from jsonserve.query import ParseOptions
from jsonserve.schema import Kind
from jsonserve.service import Service, etag_for, render
from jsonserve.web.errors import Answer, answer_of, domain_response, send_answer
from jsonserve.web.http import principal_of
from jsonserve.web.listlane import ListLane


def lane_target(scope: Scope, reserved: frozenset[str] = frozenset()) -> tuple[str, str] | None:
    """The ``(collection, id)`` a request asks for if it may take the fast lane, else ``None``.

    It may when it is an HTTP ``GET`` (``HEAD`` and writes go to the routes) with no ``root_path``
    (a proxy prefix, which the routes strip), a path of
    exactly two non-empty segments (no trailing slash) whose first is not ``reserved`` (a segment the
    routes mount something else at) and no ``If-None-Match`` (a 304 is the routes' business). Its
    query string may be anything (:meth:`LaneReads.prepare` hands over those it does not answer).

    Example:
        >>> lane_target({"type": "http", "method": "GET", "path": "/posts/1", "query_string": b"", "headers": []})
        ('posts', '1')
    """
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
        return None
    parts = scope["path"].split("/")
    if len(parts) != 3 or parts[0] or not parts[1] or not parts[2] or parts[1] in reserved:
        return None
    for name, _value in scope["headers"]:  # a loop: any() over a generator costs more, on every request
        if name == b"if-none-match":
            return None
    return parts[1], parts[2]


class LaneReads:
    """The lane's reads: the answer to a record or list request the lane takes, or ``None`` for the routes.

    ``reserved`` holds first segments the routes mount something else at (the docs assets); ``pages``
    the names of the routes' own pages (``/db``, ``/login``…), which only the routes tell from a list.
    """

    def __init__(
        self,
        service: Service,
        options: ParseOptions,
        *,
        reserved: frozenset[str] = frozenset(),
        pages: frozenset[str] = frozenset(),
    ) -> None:
        self.service = service
        self.reserved = reserved
        self.lists = ListLane(service, options, reserved | pages)

    async def prepare(self, scope: Scope) -> Answer | None:
        """The whole answer if the request is the lane's; ``None`` hands it to the routes."""
        target = lane_target(scope, self.reserved)
        if target is None:
            return await self.lists.prepare(scope)
        collection, record_id = target
        if self.service.kinds().get(collection) is not Kind.PLURAL:
            return None  # a singular resource, a static file or a 404: the routes know which
        query = None  # no query string: no join, as the routes' empty query
        if scope["query_string"]:
            parsed = self.lists.parse(collection, scope["query_string"])
            if parsed is None:
                return None  # _delay, or the routes' 400
            query = parsed.query
        try:
            record = await self.service.get(collection, record_id, query, principal=principal_of(scope))
        except NotFound:
            return None  # the routes answer the 404
        except JsonServeError as error:  # e.g. StorageUnavailable: the routes' 503, not a second try
            return answer_of(domain_response(error))
        body = render(record)
        headers = [
            (b"cache-control", b"no-cache"),
            (b"etag", etag_for(body).encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        return 200, headers, body


class FastReads:
    """Answer ``GET /{collection}/{id}`` and list requests itself (by ``reads``); hand everything else to ``app``."""

    def __init__(self, app: ASGIApp, reads: LaneReads) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.reads.prepare(scope)
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await send_answer(send, answer)
