"""uvicorn's WebSocket protocol, taught to write several messages at once (the ``SEND_MANY`` extension).

ASGI sends one message per ``send``; uvicorn turns each into its own ``transport.write``, a system
call, and a wait for flow control. For a realtime connection that fans out many small change frames,
that per-message overhead is most of the cost. With the extension (:data:`~jsonserve.web.websocket.SEND_MANY`
in the scope's ``extensions``), the app may send ``{"type": "websocket.send", SEND_MANY: [text, ...]}``:
each text still goes out as its own WebSocket text message, all of them in one write. The extension's
``write_now`` sends without a task switch when flow control allows (``False`` otherwise): the frames are
framed at once and written at the end of the event loop's current round, so every change a fan-out
hands one connection in that round (a group commit publishes several) costs one system call, not one
each. Nothing can overtake them: every other write of uvicorn's drains the same buffer of framed data
(``conn.data_to_send()``) first.

Like ``server/protocol.py``, this relies on names of uvicorn's ``websockets-sansio`` implementation
(``conn``, ``transport``, ``writable``, ``handshake_complete``, ``close_sent``, ``initial_response``,
``disconnected``); ``tests/web/test_realtime_ws_batch.py`` fails if they change.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from jsonserve.web.websocket import SEND_MANY


class BatchingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the ``SEND_MANY`` extension."""

    _flush_due = False  # a write of what write_now framed is scheduled for the end of this round

    def handle_connect(self, event: Request) -> None:
        """Offer the extension (the app's task is created here but runs later, after this)."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only an accepted handshake has one
        if scope is not None:
            scope["extensions"][SEND_MANY] = {"write_now": self.write_now}

    def write_now(self, texts: list[str]) -> bool:
        """Send ``texts`` (one text message each) from any task, written this round; ``False`` when not possible.

        Not possible: before the handshake or after the close, or while flow control holds writes back
        (the caller then queues them for its writer, which waits for room).
        """
        if (
            not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            for text in texts:
                self.conn.send_text(text.encode("utf-8"))
        except InvalidState:
            return False
        if not self._flush_due:
            self._flush_due = True
            self.loop.call_soon(self._flush)
        return True

    def _flush(self) -> None:
        """Write what :meth:`write_now` framed this round (unless another write took it meanwhile)."""
        self._flush_due = False
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))

    async def send(self, message: Any) -> None:
        """Send several text messages in one write; any other message as uvicorn does."""
        texts = message.get(SEND_MANY) if message.get("type") == "websocket.send" else None
        if texts is None:
            await super().send(message)
            return
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            for text in texts:  # uvicorn's own checks and errors
                await super().send({"type": "websocket.send", "text": text})
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected
        try:
            for text in texts:
                self.conn.send_text(text.encode("utf-8"))
        except InvalidState:
            raise ClientDisconnected from None
        self.transport.write(b"".join(self.conn.data_to_send()))
