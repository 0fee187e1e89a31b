"""``GET /realtime``: the WebSocket transport of a realtime :class:`~jsonserve.realtime.Session`.

Two tasks per connection: one reads the client's frames into the session, one writes the session's
frames to the client. When the session ends on its own, the connection is closed with the code that
says why: 1013 (a client that cannot keep up), 1008 (one that keeps sending garbage), 1001 (the
server stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.websockets import WebSocket

from jsonserve.realtime import Context, Session
from jsonserve.web.http import principal_of

log = logging.getLogger("jsonserve.web")

CLOSE_CODES = {"overflow": 1013, "invalid": 1008, "shutdown": 1001}
CLOSE_REASONS = {
    "overflow": "too slow: the send queue is full, resume with since",
    "invalid": "too many invalid messages",
    "shutdown": "the server is stopping",
}
CLOSE_WAIT = 10.0  # seconds to get the close frame out to a client that reads slowly


async def serve_websocket(websocket: WebSocket, context: Context) -> None:
    """Accept, run the session until it ends or the client leaves, close with the session's reason."""
    session = Session(context, principal_of(websocket.scope))
    await websocket.accept()
    token = websocket.query_params.get("token")
    reader = asyncio.create_task(_read(websocket, session), name="jsonserve-ws-read")
    writer = asyncio.create_task(_write(websocket, session), name="jsonserve-ws-write")
    try:
        if token:
            await session.sign_in(token)
        await session.done.wait()
    finally:
        session.end()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await _close(websocket, session, reader)


async def _read(websocket: WebSocket, session: Session) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            await session.receive(text if text is not None else message.get("bytes") or b"")
    except Exception as error:  # a broken connection: the session just ends
        log.debug("websocket read failed: %s", error)
    finally:
        session.end()


async def _write(websocket: WebSocket, session: Session) -> None:
    try:
        async for frame in session.frames():
            await websocket.send_text(orjson.dumps(frame).decode("utf-8"))
    except Exception as error:  # the client went away mid-send
        log.debug("websocket write failed: %s", error)
        session.end()


async def _close(websocket: WebSocket, session: Session, reader: asyncio.Task[None]) -> None:
    """Send the close frame the session's end calls for, then wait for the client's answer (bounded)."""
    code = CLOSE_CODES.get(session.ended or "closed")
    if code is not None and not reader.done():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code, CLOSE_REASONS[str(session.ended)]), CLOSE_WAIT)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(reader, CLOSE_WAIT)
    reader.cancel()
