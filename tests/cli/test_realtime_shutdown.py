"""A server stops promptly with realtime clients connected: event streams end, WebSockets close with 1001."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.server import start_server

pytestmark = pytest.mark.e2e


def test_sigterm_ends_open_streams_and_the_server_exits_cleanly(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text(json.dumps({"posts": [{"id": 1}]}))
    server = start_server(["db.json"], tmp_path)
    try:
        with (
            connect(server.url.replace("http", "ws", 1) + "/realtime") as ws,
            httpx.stream("GET", server.url + "/realtime/sse?collection=posts", timeout=10) as sse,
        ):
            ws.send(json.dumps({"type": "subscribe", "id": "s", "collection": "posts"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "subscribed"
            lines = sse.iter_lines()
            assert next(lines) == ": connected"
            httpx.post(server.url + "/posts", json={"title": "seen by both"})
            assert json.loads(ws.recv(timeout=5))["record"]["title"] == "seen by both"
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert list(lines)[-2].startswith("data: ")  # the stream got the change, then ended
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        server.process.wait(10)
        assert time.monotonic() - began < 5
        assert server.process.returncode == 0, server.output()
        assert json.loads((tmp_path / "db.json").read_text())["posts"][-1]["title"] == "seen by both"
    finally:
        server.kill()
