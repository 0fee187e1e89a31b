"""``GET /realtime/sse``: the Server-Sent Events transport of a realtime :class:`~jsonserve.realtime.Session`.

A small ``StreamingResponse`` rather than a library: the protocol's frames map to events in a few
lines (``id:`` is the change's ``seq``), and the session already does what an SSE library adds
(queueing, ending on shutdown); the keep-alive is a comment after ``keepalive`` idle seconds.
Everything that can be refused is checked before the stream starts (a problem+json 4xx).

Query: ``collection`` (repeatable; with one collection, ``record`` or ``where=<JSON>``), ``channel``
(repeatable), ``since``; the ``Last-Event-ID`` header (an ``EventSource`` reconnecting) wins over ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from jsonserve.errors import FieldError, QueryError, TooManySubscriptions
from jsonserve.realtime import Context, Session
from jsonserve.realtime.filters import AnyFilter, Wanted, check_channel
from jsonserve.realtime.frames import Frame
from jsonserve.web.http import bearer_token, principal_of

EVENT_STREAM = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CHANGES, CHANNEL = "changes", "channel:"  # the session's subscription ids


async def event_stream(request: Request, context: Context) -> Response:
    """Check the request, then stream its events (``text/event-stream``)."""
    session = Session(context, principal_of(request.scope), bearer_token(request.scope))
    try:
        wanted, channels, since = _subscriptions(request, session)
    except BaseException:
        session.end()
        raise
    if request.method == "HEAD":
        session.end()
        return Response(media_type=EVENT_STREAM, headers=HEADERS)
    return StreamingResponse(_events(session, wanted, channels, since), media_type=EVENT_STREAM, headers=HEADERS)


def _subscriptions(request: Request, session: Session) -> tuple[Wanted | None, list[str], int | None]:
    params = request.query_params
    collections, channels = params.getlist("collection"), params.getlist("channel")
    if not collections and not channels:
        raise QueryError("name what to follow: ?collection=posts and/or ?channel=chat:lobby")
    if len(collections) + len(channels) > session.context.limits.subscriptions:
        raise TooManySubscriptions(f"at most {session.context.limits.subscriptions} collections and channels")
    record, where = params.get("record"), _where(params.get("where"))
    if (record is not None or where is not None) and len(collections) != 1:
        raise QueryError("`record` and `where` go with exactly one `collection`")
    filters = tuple(session.prepare(name, record, where) for name in collections)
    for channel in channels:
        session.context.gate.check_channel(session.principal, check_channel(channel), "subscribe")
    wanted = None if not filters else filters[0] if len(filters) == 1 else AnyFilter(filters)
    return wanted, channels, _since(request)


def _where(text: str | None) -> object:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise QueryError("`where` is not JSON", [FieldError("where", "not JSON", "invalid_where")]) from None


def _since(request: Request) -> int | None:
    header = request.headers.get("last-event-id")
    text = header if header is not None and header.strip() else request.query_params.get("since")
    if text is None:
        return None
    text = text.strip()
    if not text.isdecimal() or len(text) > 19:
        raise QueryError("`since` (or Last-Event-ID) must be a seq: a non-negative integer")
    return int(text)


async def _events(
    session: Session, wanted: Wanted | None, channels: list[str], since: int | None
) -> AsyncIterator[bytes]:
    starter = asyncio.create_task(_start(session, wanted, channels, since), name="jsonserve-sse-start")
    keepalive = session.context.limits.keepalive
    try:
        yield b": connected\n\n"
        while True:
            try:
                frame = await asyncio.wait_for(session.outbox.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if frame is None:
                return
            event = sse_event(frame)
            if event:
                yield event
    finally:
        session.end()
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starter


async def _start(session: Session, wanted: Wanted | None, channels: list[str], since: int | None) -> None:
    for channel in channels:
        await session.listen(CHANNEL + channel, channel)
    if wanted is not None:
        await session.follow(CHANGES, wanted, since, live_after_resync=True)


def sse_event(frame: Frame) -> bytes:
    r"""One frame as an SSE event (``b""`` for frames SSE does not carry, such as ``subscribed``).

    Example:
        >>> sse_event({"type": "resync_required", "sub": "changes", "seq": 7}).splitlines()
        [b'id: 7', b'event: resync_required', b'data: {"seq":7}', b'']
    """
    kind = frame.get("type")
    if kind in ("change", "reset"):
        fields = {key: value for key, value in frame.items() if key not in ("type", "sub")}
        return _event(kind, fields, frame["seq"])
    if kind == "message":
        return _event("message", {key: frame[key] for key in ("channel", "data", "from", "at")}, None)
    if kind == "resync_required":
        return _event("resync_required", {"seq": frame["seq"]}, frame["seq"])
    if kind == "error" and frame.get("id") is None:  # the session's own (a revoked token), then the stream ends
        # Not `event: error`: EventSource dispatches that name to its onerror, the connection-failure handler.
        return _event("problem", {key: frame[key] for key in ("code", "detail")}, None)
    return b""


def _event(kind: object, data: Frame, seq: object) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"
