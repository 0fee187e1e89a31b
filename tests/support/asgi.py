"""Call an ASGI app directly, byte for byte: what httpx would normalise (``..``) or refuse (URLs past 64 KiB)."""

from __future__ import annotations

from urllib.parse import unquote

import anyio
from starlette.types import ASGIApp, Message


async def raw_get(app: ASGIApp, raw_path: bytes, query_string: bytes = b"") -> tuple[int, bytes]:
    """``GET raw_path?query_string`` straight through ASGI: the status and the body."""
    sent: list[Message] = []
    received: list[bool] = []

    async def receive() -> Message:
        if received:  # the body was read: nothing more comes until the response is sent
            await anyio.sleep_forever()
        received.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 3000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,
        "headers": [(b"host", b"127.0.0.1:3000")],
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
