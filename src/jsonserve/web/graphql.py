"""``/graphql``: GraphQL over HTTP, and GraphiQL for a browser, served from files shipped in the package.

* ``POST /graphql`` with a JSON body ``{"query", "variables"?, "operationName"?}``;
* ``GET /graphql?query=...&variables=...&operationName=...`` for queries (a mutation is 405);
* ``GET /graphql`` asking for ``text/html`` (a browser): GraphiQL, with the outside network unused.

Answers are ``application/json``, or ``application/graphql-response+json`` when the ``Accept``
header names it, with ``{"data", "errors"?}``; the status comes from :mod:`jsonserve.gql.engine`
(200 for valid GraphQL, 400 when it is not). A body the server cannot read answers as REST's
would (400 bad JSON, 413, 415), in GraphQL's shape. ``--delay`` (or ``?_delay=``) slows every answer
but GraphiQL's page, as it does REST's. ``--no-graphql`` removes the route.

GraphiQL 3 (MIT), React 18 (MIT) and graphql-ws 5 (MIT, its client runs GraphiQL's subscriptions
over this endpoint's WebSocket) come from npm, written under ``assets/graphiql``, ``assets/react``,
``assets/react-dom`` and ``assets/graphql-ws`` by ``scripts/vendor-graphiql.sh`` (pinned versions,
integrity checked, licences and a ``SOURCE.txt`` beside them); ``assets/jsonserve/graphiql-init.js``
starts it (a file: the page's Content-Security-Policy allows no inline script).

A WebSocket upgrade of ``/graphql`` asking for the ``graphql-transport-ws`` subprotocol carries
subscriptions, queries and mutations (:meth:`GraphQLEndpoint.websocket`, the protocol is
:mod:`jsonserve.gql.ws`); another subprotocol, or none, is closed with 4406. Each operation counts
against ``--rate-limit`` as one request of the upgrade's client (a mutation as a write).

Example:
    >>> endpoint = GraphQLEndpoint(service, Settings(), realtime)  # doctest: +SKIP
    >>> Route("/graphql", endpoint, methods=["GET", "POST"])  # doctest: +SKIP
    >>> WebSocketRoute("/graphql", endpoint.websocket)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from html import escape
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from jsonserve.config import Settings
from jsonserve.errors import BodyError, JsonServeError, MethodNotAllowed, UnsupportedMediaType
from jsonserve.gql import GraphQL, GraphQLLimits, GraphQLOptions, Outcome
from jsonserve.gql.ws import PROTOCOL, Connection, Count, messages
from jsonserve.ratelimit import RateLimiter
from jsonserve.realtime import Context
from jsonserve.service import Service, parse_body
from jsonserve.web.docs import ASSETS_PATH, page_response, policy
from jsonserve.web.errors import status_of
from jsonserve.web.http import bearer_token, is_json, principal_of, read_json
from jsonserve.web.limiting import key_of
from jsonserve.web.presentation import requested_delay

log = logging.getLogger("jsonserve.web")

ALLOW = ("GET", "HEAD", "POST", "OPTIONS")
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
CLOSE_WAIT = 10.0  # seconds to get the close frame out to a client that reads slowly
JSON_TYPE = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
# GraphiQL inserts <style> elements (its editor and its UI library) and embeds its fonts as data: URLs.
GRAPHIQL_POLICY = policy(**{"style-src": "'self' 'unsafe-inline'", "font-src": "'self' data:"})

_GRAPHIQL_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jsonserve - GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/graphiql/graphiql.min.css">
<link rel="stylesheet" href="{assets}/jsonserve/graphiql.css">
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}" data-example="{example}">Loading GraphiQL…</div>
<script src="{assets}/react/react.production.min.js"></script>
<script src="{assets}/react-dom/react-dom.production.min.js"></script>
<script src="{assets}/graphiql/graphiql.min.js"></script>
<script src="{assets}/graphql-ws/graphql-ws.min.js"></script>
<script src="{assets}/jsonserve/graphiql-init.js"></script>
</body>
</html>
"""


class GraphQLEndpoint:
    """The ``/graphql`` endpoint of one Service."""

    def __init__(self, service: Service, settings: Settings, realtime: Context | None = None) -> None:
        limits = GraphQLLimits(max_page_size=settings.max_page_size)
        options = GraphQLOptions(settings.graphql_introspection, limits, max_value_depth=settings.max_depth)
        self.engine = GraphQL(service, options)
        self.settings = settings
        self.realtime = realtime

    async def websocket(self, socket: WebSocket) -> None:
        """``graphql-transport-ws`` on this endpoint, until the client leaves or the connection ends."""
        if self.realtime is None or PROTOCOL not in socket.scope.get("subprotocols", ()):
            await socket.accept()
            await socket.close(SUBPROTOCOL_NOT_ACCEPTABLE, f"Subprotocol not acceptable: ask for {PROTOCOL}")
            return
        limiter = getattr(socket.app.state, "rate_limiter", None)
        count = None if limiter is None else _counter(limiter, key_of(socket.scope))
        connection = Connection(
            self.engine, self.realtime, principal_of(socket.scope), token=bearer_token(socket.scope), count=count
        )
        await socket.accept(subprotocol=PROTOCOL)
        connection.start()
        reader = asyncio.create_task(_read(socket, connection), name="jsonserve-graphql-ws-read")
        writer = asyncio.create_task(_write(socket, connection), name="jsonserve-graphql-ws-write")
        try:
            await connection.done.wait()
        finally:
            connection.end()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await _close(socket, connection, reader)

    async def __call__(self, request: Request) -> Response:
        method = request.method
        if method in ("GET", "HEAD") and _wants_html(request):
            return await self.graphiql(request)
        if method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(ALLOW)})
        try:
            await self._delay(request)
            payload = await self._payload(request)
        except JsonServeError as error:
            return _answer(request, _refusal(error))
        principal = principal_of(request.scope)
        outcome = await self.engine.run(payload, principal=principal, mutations=method == "POST")
        return _answer(request, outcome)

    async def _payload(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            if not is_json(request.headers.get("content-type")):
                raise UnsupportedMediaType("send the GraphQL request as JSON, with Content-Type: application/json")
            return await read_json(request, self.settings.max_body, self.settings.max_depth)
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{request.method} is not allowed: /graphql takes GET (queries) and POST", ALLOW)
        params = request.query_params
        payload: dict[str, Any] = {"query": params.get("query"), "operationName": params.get("operationName")}
        variables = params.get("variables")
        if variables:
            try:
                payload["variables"] = parse_body(variables.encode(), max_depth=self.settings.max_depth)
            except BodyError as error:
                raise BodyError(f"`variables` must be a JSON object: {error.detail}") from None
        return payload

    async def _delay(self, request: Request) -> None:
        """Wait ``_delay`` ms (in the URL), else ``--delay``, as every API answer does; a malformed one is a 400."""
        asked = requested_delay(request.query_params.multi_items()) if request.scope["query_string"] else None
        delay = self.settings.delay_ms if asked is None else asked
        if delay:
            await asyncio.sleep(delay / 1000)

    async def graphiql(self, request: Request) -> Response:
        """GraphiQL on this endpoint, with an example query over the first collection."""
        root = str(request.scope.get("root_path", "")).rstrip("/")
        html = _GRAPHIQL_PAGE.format(
            assets=escape(root + ASSETS_PATH),
            endpoint=escape(root + "/graphql"),
            example=escape(await self.engine.example()),
        )
        return page_response(html, GRAPHIQL_POLICY)


def _counter(limiter: RateLimiter, key: str) -> Count:
    async def count(write: bool) -> bool:
        decision = await limiter.hit(key, write=write)
        return decision is None or decision.allowed

    return count


async def _read(socket: WebSocket, connection: Connection) -> bool:
    """Feed the client's messages to the connection until it ends: ``True`` when the client went away."""
    try:
        while not connection.done.is_set():
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return True
            text = message.get("text")
            await connection.receive(text if text is not None else message.get("bytes") or b"")
        return False
    except Exception as error:  # a broken connection: it just ends
        log.debug("graphql websocket read failed: %s", error)
        return True
    finally:
        connection.end()


async def _write(socket: WebSocket, connection: Connection) -> None:
    try:
        async for message in messages(connection):
            await socket.send_text(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode("utf-8"))
    except Exception as error:  # the client went away mid-send
        log.debug("graphql websocket write failed: %s", error)
        connection.end()


async def _close(socket: WebSocket, connection: Connection, reader: asyncio.Task[bool]) -> None:
    """Send the close frame the connection's end calls for, then wait (bounded) for the client to leave."""
    left = reader.done() and not reader.cancelled() and reader.result()
    if connection.close_code is not None and not left:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(connection.close_code, connection.close_reason), CLOSE_WAIT)
    if not reader.done():  # the client answers the close: the reader sees it leave
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reader, CLOSE_WAIT)
    reader.cancel()


def _wants_html(request: Request) -> bool:
    """A browser's navigation: ``Accept`` names ``text/html`` before any JSON type (a GraphQL client names none)."""
    accept = request.headers.get("accept", "")
    html = accept.find("text/html")
    json = min((at for at in (accept.find(JSON_TYPE), accept.find(GRAPHQL_RESPONSE)) if at >= 0), default=-1)
    return html >= 0 and (json < 0 or html < json)


def _refusal(error: JsonServeError) -> Outcome:
    """A request that could not be read, answered in GraphQL's shape with REST's status and code."""
    allow = error.allow if isinstance(error, MethodNotAllowed) else ()
    return Outcome(status_of(error), {"errors": [{"message": error.detail, "extensions": {"code": error.code}}]}, allow)


def _answer(request: Request, outcome: Outcome) -> Response:
    accept = request.headers.get("accept", "")
    media = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else JSON_TYPE
    headers = {"Cache-Control": "no-store"}
    if outcome.allow:
        headers["Allow"] = ", ".join(outcome.allow)
    body = orjson.dumps(outcome.body, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, outcome.status, headers=headers, media_type=media)
