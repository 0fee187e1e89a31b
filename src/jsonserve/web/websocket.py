"""``GET /realtime``: the WebSocket transport of a realtime :class:`~jsonserve.realtime.Session`.

Two tasks per connection: one reads the client's frames into the session, one writes the session's
frames to the client. When the session ends on its own, the connection is closed with the code that
says why: 1013 (a client that cannot keep up), 1008 (one that keeps sending garbage), 1001 (the
server stops).

The writer takes every frame queued at once (up to :data:`BATCH`) and, when the server offers the
:data:`SEND_MANY` extension (ours does, ``server/websocket.py``), hands them over in one ASGI message:
still one WebSocket text message per frame, as the contract says, but one socket write and one wait
for the transport's flow control per batch instead of per frame: what fan-out to many subscribers
costs is mostly that per-message overhead. When the connection's queue is empty and its writer
waits, the extension's ``write_now`` sends a live change at once, from the task that fans it out:
no task switch and no ASGI round per frame (``Outbox.direct``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket

from jsonserve.realtime import Context, Session
from jsonserve.realtime.frames import Frame, frame_text
from jsonserve.web.http import bearer_token, principal_of

log = logging.getLogger("jsonserve.web")

CLOSE_CODES = {"overflow": 1013, "invalid": 1008, "shutdown": 1001, "signed_out": 1008}
CLOSE_REASONS = {
    "overflow": "too slow: the send queue is full, resume with since",
    "invalid": "too many invalid messages",
    "shutdown": "the server is stopping",
    "signed_out": "the token is no longer valid: sign in again, then resume with since",
}
CLOSE_WAIT = 10.0  # seconds to get the close frame out to a client that reads slowly
SEND_MANY = "jsonserve.websocket.send_many"
"""An ASGI extension: ``{"type": "websocket.send", SEND_MANY: [text, ...]}`` sends one text message per item."""
BATCH = 256  # frames per write at most: a few tens of KiB, so that flow control still bites between writes


async def serve_websocket(websocket: WebSocket, context: Context) -> None:
    """Accept, run the session until it ends or the client leaves, close with the session's reason."""
    session = Session(context, principal_of(websocket.scope), bearer_token(websocket.scope))
    await websocket.accept()
    write_now = websocket.scope.get("extensions", {}).get(SEND_MANY, {}).get("write_now")
    if write_now is not None:  # a live change to an idle connection goes out from the writer's task at once
        session.outbox.direct = _direct(write_now)
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


def _direct(write_now: Callable[[list[str]], bool]) -> Callable[[Frame], bool]:
    def direct(frame: Frame) -> bool:
        # Called inside the feed's fan-out loop: a failure here must not reach the other subscribers.
        # The frame is queued instead, and this connection's writer meets the failure and ends it.
        try:
            return bool(write_now([frame_text(frame)]))
        except Exception as error:
            log.debug("websocket direct write failed: %s", error)
            return False

    return direct


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
    many = SEND_MANY in websocket.scope.get("extensions", {})
    try:
        async for batch in session.batches(BATCH):
            if many and len(batch) > 1:
                await websocket.send({"type": "websocket.send", SEND_MANY: [frame_text(frame) for frame in batch]})
            else:
                for frame in batch:
                    await websocket.send_text(frame_text(frame))
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
