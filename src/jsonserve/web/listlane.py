"""The list half of the fast lane: ``GET /{collection}?query`` answered without routing.

A page of ten records at 1,000 took about as long in Starlette's routing, its ``Request`` and
``Response`` objects and re-parsing the same query string as in reading and rendering the records.
This lane answers such a request with the very bytes and headers the routes send: the same
:func:`~jsonserve.query.parse_params` (a parsed query is kept per collection and query string: the
same page is asked for again and again), the same ``Service.find``, and the same
:func:`~jsonserve.web.paging.list_payload`, :func:`~jsonserve.web.paging.list_headers`, ``render``
and ``etag_for``. ``tests/web/test_listlane.py`` compares the two on every backend.

It decides as the record lane does (``web/fastpath.py``): a request it may not take, or whose answer
is not a list, goes to the routes untouched — a name that is not a collection (a singular resource,
a page, a static file, a 404), a query the routes refuse (its 400 is theirs), ``_delay`` (the routes
wait), ``If-None-Match`` (a 304 is the routes' business). An error of the read itself (a rule's 401,
a storage's 503) is answered here with the routes' problem+json, not read a second time.

Example:
    >>> list_target({"type": "http", "method": "GET", "path": "/posts", "headers": []})
    'posts'
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import QueryParams
from starlette.types import Scope

from jsonserve.errors import JsonServeError
from jsonserve.query import ParseOptions, Query, parse_params
from jsonserve.schema import Kind
from jsonserve.service import Service, etag_for, render
from jsonserve.web.errors import Answer, answer_of, domain_response
from jsonserve.web.http import principal_of
from jsonserve.web.paging import list_headers, list_payload, page_query
from jsonserve.web.presentation import presentation

PARSED_QUERIES = 1000  # (collection, query string) pairs whose parse is kept; the oldest goes first
KEPT_QUERY_BYTES = 2048  # a longer query string is parsed every time: the kept ones stay a few MB at most


def list_target(scope: Scope, reserved: frozenset[str] = frozenset()) -> str | None:
    """The collection a request lists if it may take the list lane, else ``None``.

    It may when it is an HTTP ``GET`` (``HEAD`` and writes go to the routes) with no ``root_path``
    (a proxy prefix), a path of one non-empty segment (no trailing slash) that is not ``reserved`` (a
    name the routes serve something else at) and no ``If-None-Match``. Its query string may be anything.

    Example:
        >>> list_target({"type": "http", "method": "GET", "path": "/posts/", "headers": []}) is None
        True
    """
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
        return None
    name: str = scope["path"][1:]
    if not name or "/" in name or name in reserved:
        return None
    for header, _value in scope["headers"]:  # a loop: any() over a generator costs more, on every request
        if header == b"if-none-match":
            return None
    return name


@dataclass(frozen=True)
class Parsed:
    """A list request's parsed query, whether it is answered in 1.x's envelope, and its ``Link`` query."""

    query: Query
    envelope: bool
    page_query: str


class ListLane:
    """Answers the list requests :func:`list_target` lets through, as the routes would."""

    def __init__(self, service: Service, options: ParseOptions, reserved: frozenset[str] = frozenset()) -> None:
        self.service = service
        self.options = options
        self.reserved = reserved
        self._parsed: dict[tuple[str, bytes], Parsed] = {}

    async def prepare(self, scope: Scope) -> Answer | None:
        """The answer if the request is the lane's; ``None`` hands it to the routes untouched."""
        name = list_target(scope, self.reserved)
        if name is None or self.service.kinds().get(name) is not Kind.PLURAL:
            return None
        parsed = self.parse(name, scope["query_string"])
        if parsed is None:
            return None
        try:
            listing = await self.service.find(parsed.query, principal=principal_of(scope))
        except JsonServeError as error:  # e.g. StorageUnavailable: the routes' answer, without a second read
            return answer_of(domain_response(error))
        body = render(list_payload(listing, parsed.envelope))
        headers = [(b"cache-control", b"no-cache"), (b"etag", etag_for(body).encode("latin-1"))]
        for key, value in list_headers(scope, parsed.page_query, listing, parsed.envelope).items():
            headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        headers += [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", b"application/json")]
        return 200, headers, body

    def parse(self, name: str, query_string: bytes) -> Parsed | None:
        """The request's parsed query, or ``None`` for one the routes must answer (``_delay``, a 400).

        The record lane parses its queries (``?_embed=``…) here too, so both keep the same parses.
        """
        key = (name, query_string)
        parsed = self._parsed.get(key)
        if parsed is not None:
            return parsed
        items = QueryParams(query_string).multi_items()  # exactly as the routes' ``request.query_params``
        if any(item == "_delay" for item, _value in items):
            return None
        try:
            query = parse_params(name, items, self.options)
        except JsonServeError:  # a QueryError, or a query over a limit: the routes' 400
            return None
        parsed = Parsed(query, presentation(query, items).envelope, page_query(items))
        if len(query_string) <= KEPT_QUERY_BYTES:
            if len(self._parsed) >= PARSED_QUERIES:
                del self._parsed[next(iter(self._parsed))]
            self._parsed[key] = parsed
        return parsed
