"""Realtime over HTTP: the routes of ``GET /realtime`` (WebSocket), ``GET /realtime/sse`` and channel publishes.

The protocol itself (subscriptions, resume, rules, frames) is transport-independent, in
:mod:`jsonserve.realtime`; this module builds its :class:`~jsonserve.realtime.Context` from the Service
and the Settings, and ``web/websocket.py`` and ``web/sse.py`` carry it.

Example:
    >>> routes = realtime_routes(realtime_context(service, settings), settings)  # doctest: +SKIP
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from jsonserve.config import Settings
from jsonserve.errors import BodyError
from jsonserve.realtime import Context, Gate, Limits
from jsonserve.realtime.session import publish
from jsonserve.service import Service
from jsonserve.service.values import check_value
from jsonserve.web.http import principal_of, read_body
from jsonserve.web.resources import ALL_METHODS, options_or_405
from jsonserve.web.sse import event_stream
from jsonserve.web.websocket import serve_websocket

PATH = "/realtime"


def realtime_context(service: Service, settings: Settings) -> Context:
    """The realtime context of one app: the Service's feed, hub, change log, catalogue and rules; the limits."""
    limits = Limits(
        subscriptions=settings.realtime_subscriptions,
        message_bytes=settings.realtime_message,
        publish_rate=settings.realtime_publish_rate,
        send_queue=settings.realtime_send_queue,
        keepalive=settings.sse_keepalive,
    )
    accounts = service.accounts
    return Context(
        feed=service.feed,
        hub=service.hub,
        changelog=lambda: service.storage.changes,
        kinds=service.kinds,
        gate=Gate(service.read_rule, service.redaction, service.channel_rule),
        limits=limits,
        authenticate=None if accounts is None else accounts.authenticate,
    )


def realtime_routes(context: Context, settings: Settings, base: str = "") -> list[BaseRoute]:
    """``/realtime`` (WebSocket), ``/realtime/sse`` and ``/realtime/channels/{name}``, under ``base``."""

    async def websocket(socket: WebSocket) -> None:
        await serve_websocket(socket, context)

    async def sse(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "an event stream takes a GET")
        return await event_stream(request, context)

    async def channel(request: Request) -> Response:
        if request.method != "POST":
            return options_or_405(request.method, ("POST", "OPTIONS"), "a channel takes a POST of the data to publish")
        raw = await read_body(request, settings.max_body)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BodyError("the request body is not JSON") from None
        check_value(data, max_depth=settings.max_depth)
        await publish(context, principal_of(request.scope), request.path_params["name"], data)
        return Response(status_code=202)

    path = base + PATH
    return [
        WebSocketRoute(path, websocket),
        Route(path + "/sse", sse, methods=ALL_METHODS),
        Route(path + "/channels/{name}", channel, methods=ALL_METHODS),
    ]
