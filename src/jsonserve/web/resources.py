"""REST endpoints in json-server's shape: parse, call the Service, respond.

Paths that name no resource fall through to the static folder (or a 404), so ``/css/app.css`` and
``/posts/1`` can live side by side as they do in json-server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve._types import Record
from jsonserve.config import Settings
from jsonserve.errors import MethodNotAllowed, NotFound, QueryError
from jsonserve.query import Query, parse_dependents, parse_params
from jsonserve.schema import Kind
from jsonserve.service import Listing, Service
from jsonserve.web.http import api_root, json_response, principal_of, read_json
from jsonserve.web.paging import list_headers, list_payload, page_query
from jsonserve.web.presentation import Presentation, parse_options, presentation, requested_delay

PLURAL_ALLOW = ("GET", "HEAD", "POST", "OPTIONS")
ITEM_ALLOW = ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")
NESTED_ALLOW = ("GET", "HEAD", "POST", "OPTIONS")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PLAIN_QUERIES = 1000  # names whose parsed empty query is kept


class Fallthrough(Response):
    """Hand the request to another ASGI app (the static folder)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class Resources:
    """The endpoints, bound to one service and its settings."""

    service: Service
    settings: Settings
    static: ASGIApp | None = None

    def __post_init__(self) -> None:
        # Built once: every request parses with the same options.
        self.parse_options = parse_options(self.settings)
        self._plain: dict[str, tuple[Query, Presentation]] = {}

    # -- /{name} -------------------------------------------------------------------------------

    async def collection(self, request: Request) -> Response:
        name = request.path_params["name"]
        kind = self.service.kinds().get(name)
        if kind is None and not (request.method == "POST" and self.service.creatable(name)):
            return await self._not_a_resource(request, name)
        await self._delay(request)
        if kind is Kind.SINGULAR:
            return await self._singular(request, name)
        query, shown = self._query(request, name)
        method = request.method
        if method in ("GET", "HEAD"):
            return self._listing(request, await self.service.find(query, principal=principal_of(request.scope)), shown)
        if method == "POST":
            self.service.check_creatable(name)
            body = await self._body(request)
            record = await self.service.create(name, body, principal=principal_of(request.scope))
            return self._created(request, name, record)
        return self._options_or_405(method, PLURAL_ALLOW, f"{name} is a collection")

    async def _singular(self, request: Request, name: str) -> Response:
        method = request.method
        self._query(request, name)  # a malformed query is a 400 here too
        if method in ("GET", "HEAD"):
            return json_response(request, await self.service.get_singular(name, principal=principal_of(request.scope)))
        allow = ("GET", "HEAD", "PUT", "PATCH", "OPTIONS") + (("POST",) if self.settings.compat != "1" else ())
        if method not in allow or method == "OPTIONS":
            return self._options_or_405(method, allow, f"{name} is a singular resource")
        self.service.check_writable(name, Kind.SINGULAR)
        body, if_match, principal = (
            await self._body(request),
            request.headers.get("if-match"),
            principal_of(request.scope),
        )
        if method == "PATCH":
            return json_response(request, await self.service.patch_singular(name, body, if_match, principal=principal))
        record = await self.service.replace_singular(name, body, if_match, principal=principal)
        return json_response(request, record, 201 if method == "POST" else 200, self._location(request, name))

    # -- /{name}/{id} --------------------------------------------------------------------------

    async def item(self, request: Request) -> Response:
        name, record_id = request.path_params["name"], request.path_params["id"]
        kind = self.service.kinds().get(name)
        if kind is None:
            return await self._not_a_resource(request, name)
        await self._delay(request)
        if kind is Kind.SINGULAR:
            raise NotFound(f"{name} is a singular resource; it has no /{name}/{{id}}")
        query, _shown = self._query(request, name)
        handler = self._item_handlers.get(request.method)
        if handler is None:
            return self._options_or_405(request.method, ITEM_ALLOW, f"{name}/{record_id} is a record")
        return await handler(self, request, name, record_id, query)

    async def _get_item(self, request: Request, name: str, record_id: str, query: Query) -> Response:
        return json_response(
            request, await self.service.get(name, record_id, query, principal=principal_of(request.scope))
        )

    async def _put_item(self, request: Request, name: str, record_id: str, _query: Query) -> Response:
        self.service.check_writable(name, Kind.PLURAL)
        body, if_match = await self._body(request), request.headers.get("if-match")
        record = await self.service.replace(name, record_id, body, if_match, principal=principal_of(request.scope))
        return json_response(request, record)

    async def _patch_item(self, request: Request, name: str, record_id: str, _query: Query) -> Response:
        self.service.check_writable(name, Kind.PLURAL)
        body, if_match = await self._body(request), request.headers.get("if-match")
        record = await self.service.patch(name, record_id, body, if_match, principal=principal_of(request.scope))
        return json_response(request, record)

    async def _delete_item(self, request: Request, name: str, record_id: str, _query: Query) -> Response:
        dependents = parse_dependents(request.query_params.multi_items())
        if_match = request.headers.get("if-match")
        deleted = await self.service.delete(
            name, record_id, dependents, if_match, principal=principal_of(request.scope)
        )
        return json_response(request, deleted if self.settings.compat == "1" else {})

    _item_handlers: ClassVar[dict[str, Callable[..., Awaitable[Response]]]] = {
        "GET": _get_item,
        "HEAD": _get_item,
        "PUT": _put_item,
        "PATCH": _patch_item,
        "DELETE": _delete_item,
    }

    # -- /{name}/{id}/{child} ------------------------------------------------------------------

    async def nested(self, request: Request) -> Response:
        name, record_id, child = (request.path_params[key] for key in ("name", "id", "child"))
        kinds = self.service.kinds()
        if name not in kinds:
            return await self._not_a_resource(request, name)
        await self._delay(request)
        if kinds.get(name) is not Kind.PLURAL or kinds.get(child) is not Kind.PLURAL:
            raise NotFound(f"no nested collection /{name}/{{id}}/{child}")
        query, shown = self._query(request, child)
        if request.method in ("GET", "HEAD"):
            listing = await self.service.list_nested(name, record_id, query, principal=principal_of(request.scope))
            return self._listing(request, listing, shown)
        if request.method == "POST":
            self.service.check_writable(child, Kind.PLURAL)
            body = await self._body(request)
            record = await self.service.create_nested(
                name, record_id, child, body, principal=principal_of(request.scope)
            )
            return self._created(request, child, record)
        return self._options_or_405(request.method, NESTED_ALLOW, f"{name}/{record_id}/{child} is a collection")

    # -- /db -----------------------------------------------------------------------------------

    async def db(self, request: Request) -> Response:
        if "db" in self.service.kinds():
            request.path_params["name"] = "db"
            return await self.collection(request)
        await self._delay(request)
        if request.method not in ("GET", "HEAD"):
            return self._options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/db is read-only")
        return json_response(request, await self.service.dump(principal=principal_of(request.scope)))

    # -- helpers -------------------------------------------------------------------------------

    def _query(self, request: Request, name: str) -> tuple[Query, Presentation]:
        if not request.scope["query_string"]:  # most item requests: parse the empty query once per name
            parsed = self._plain.get(name)
            if parsed is None:
                query = parse_params(name, (), self.parse_options)
                parsed = query, presentation(query, ())
                if len(self._plain) < PLAIN_QUERIES:
                    self._plain[name] = parsed
            return parsed
        items = request.query_params.multi_items()
        query = parse_params(name, items, self.parse_options)
        return query, presentation(query, items)

    async def _delay(self, request: Request) -> None:
        """Wait ``_delay`` ms, else ``--delay``: before any answer of the API, errors included (json-server 0.17).

        Read before the query is parsed, so a 400 is delayed too; a malformed ``_delay`` counts as
        absent here and is then refused by the parser (after its query's other errors, as always).
        """
        delay = self.settings.delay_ms
        if request.scope["query_string"]:
            with contextlib.suppress(QueryError):
                asked = requested_delay(request.query_params.multi_items())
                delay = delay if asked is None else asked
        if delay:
            await asyncio.sleep(delay / 1000)

    async def _body(self, request: Request) -> Record:
        return await read_json(request, self.settings.max_body, self.settings.max_depth)

    def _listing(self, request: Request, listing: Listing, shown: Presentation) -> Response:
        payload = list_payload(listing, shown.envelope)
        query = page_query(request.query_params.multi_items())
        return json_response(request, payload, headers=list_headers(request.scope, query, listing, shown.envelope))

    def _created(self, request: Request, name: str, record: Record) -> Response:
        record_id = record.get(self.service.catalogue.id_field)
        return json_response(request, record, 201, self._location(request, name, str(record_id)))

    def _location(self, request: Request, *segments: str) -> dict[str, str]:
        # Percent-encoded: a header is Latin-1, and a name or id may hold any character.
        return {"Location": api_root(request) + "".join("/" + quote(segment, safe="") for segment in segments)}

    def _options_or_405(self, method: str, allow: tuple[str, ...], what: str) -> Response:
        return options_or_405(method, allow, what)

    async def _not_a_resource(self, request: Request, name: str) -> Response:
        if self.static is not None:
            return Fallthrough(self.static)  # a static file is no API answer: never delayed
        await self._delay(request)
        raise NotFound(f"no resource named {name!r}")


def options_or_405(method: str, allow: tuple[str, ...], what: str) -> Response:
    """``OPTIONS`` -> 204 with ``Allow``; any other method not in ``allow`` -> 405 (problem+json)."""
    if method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": ", ".join(allow)})
    raise MethodNotAllowed(f"{method} is not allowed: {what} (allowed: {', '.join(allow)})", allow)
