"""The undocumented uvicorn names ``jsonserve.server`` relies on, checked by name and by behaviour.

pyproject.toml pins uvicorn to the versions that have them; a uvicorn that renames or drops one fails
here, naming it, rather than in the reliability suite by a symptom (a connection left open, a
plain-text 503). The protocol is driven in-process through a recording transport, on a real event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from jsonserve.server.lifecycle import GracefulServer
from jsonserve.server.protocol import ProblemHttpToolsProtocol, protocol_factory, status_line

pytestmark = pytest.mark.anyio

OVERRIDDEN = (
    "connection_made", "connection_lost", "handle_websocket_upgrade", "on_message_begin", "on_headers_complete",
    "on_message_complete", "on_response_complete", "send_400_response",
)  # fmt: skip
PROTOCOL_ATTRIBUTES = ("app", "connections", "tasks", "pipeline", "cycle", "parser", "flow", "server_state", "loop")
CYCLE_ATTRIBUTES = (
    "response_started",
    "response_complete",
    "waiting_for_100_continue",
    "disconnected",
    "message_event",
)


class Transport(asyncio.Transport):
    """A connection from 127.0.0.1 that records what the server writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """An ASGI app that reads the whole body, then answers 204; it records what it received."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def connect(state: ServerState, app: App, **limits: float) -> tuple[ProblemHttpToolsProtocol, Transport]:
    """A protocol of ``protocol_factory(**limits)`` on a new connection."""
    options: dict[str, Any] = {"header_timeout": 10.0, "body_timeout": 30.0, "max_connections": 1000, **limits}
    factory = protocol_factory(**options)
    protocol = factory(Config(app, http=factory, lifespan="off", log_level="critical"), state, {})
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle(transport: Transport, seconds: float = 1.0) -> None:
    """Let the loop run until the connection is closed (or ``seconds`` pass)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not transport.closed and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def problem(written: bytes | bytearray) -> dict[str, Any]:
    head, _, body = bytes(written).partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    return json.loads(body)  # type: ignore[no-any-return]


def test_the_methods_we_override_are_uvicorns() -> None:
    for name in OVERRIDDEN:
        assert callable(getattr(HttpToolsProtocol, name, None)), f"HttpToolsProtocol.{name} is gone"
    for name in ("capture_signals", "handle_exit"):
        assert callable(getattr(uvicorn.Server, name, None)), f"uvicorn.Server.{name} is gone"
    assert issubclass(GracefulServer, uvicorn.Server)
    # server.lifecycle binds the port itself and hands uvicorn the socket
    assert "sockets" in inspect.signature(uvicorn.Server.serve).parameters, "uvicorn.Server.serve(sockets=) is gone"


async def test_the_attributes_we_read_are_set_by_uvicorn() -> None:
    app = App()
    protocol, _ = connect(ServerState(), app)
    missing = [name for name in PROTOCOL_ATTRIBUTES if not hasattr(protocol, name)]
    assert not missing, f"HttpToolsProtocol no longer sets {missing}"
    assert isinstance(protocol.server_state.default_headers, list)
    assert protocol.flow.read_paused is False
    protocol.data_received(b"POST /posts HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
    missing = [name for name in CYCLE_ATTRIBUTES if not hasattr(protocol.cycle, name)]
    assert not missing, f"RequestResponseCycle no longer sets {missing}"
    protocol.connection_lost(None)


async def test_beyond_the_limit_the_request_gets_our_503_not_the_app() -> None:
    """uvicorn's on_headers_complete must still read ``self.app``: the protocol swaps it for the 503."""
    state, app = ServerState(), App()
    connect(state, app, max_connections=1)
    protocol, transport = connect(state, app, max_connections=1)  # the second open connection: one too many
    protocol.data_received(b"GET /posts HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(transport)
    assert bytes(transport.written).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"retry-after: 1\r\n" in bytes(transport.written).lower()
    assert problem(transport.written)["code"] == "too_many_connections"
    assert app.messages == []


async def test_within_the_limit_the_app_answers() -> None:
    state, app = ServerState(), App()
    protocol, transport = connect(state, app, max_connections=2)
    connect(state, app, max_connections=2)
    protocol.data_received(b"GET /posts HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(transport, 0.2)
    assert bytes(transport.written).startswith(b"HTTP/1.1 204 No Content\r\n")
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]


async def test_an_unparsable_request_gets_a_problem_400() -> None:
    protocol, transport = connect(ServerState(), App())
    protocol.data_received(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert bytes(transport.written).startswith(status_line(400))
    assert problem(transport.written)["code"] == "bad_request"
    assert transport.closed


async def test_a_body_past_its_deadline_gets_408_and_the_app_a_disconnect() -> None:
    app = App()
    protocol, transport = connect(ServerState(), app, body_timeout=0.05)
    protocol.data_received(b"POST /posts HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
    await settle(transport)
    assert bytes(transport.written).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert problem(transport.written)["code"] == "request_timeout"
    await asyncio.sleep(0.05)
    assert app.messages[-1] == {"type": "http.disconnect"}


async def test_headers_past_their_deadline_get_408() -> None:
    protocol, transport = connect(ServerState(), App(), header_timeout=0.05)
    protocol.data_received(b"GET /posts HTTP/1.1\r\nHo")
    await settle(transport)
    assert bytes(transport.written).startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_status_lines_are_uvicorns() -> None:
    assert status_line(400) == b"HTTP/1.1 400 Bad Request\r\n"
    assert status_line(408) == b"HTTP/1.1 408 Request Timeout\r\n"
