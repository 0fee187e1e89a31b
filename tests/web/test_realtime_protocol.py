"""The realtime protocol's edges on the memory backend: error frames, limits, slow consumers, SSE details.

Real clients over a real socket (``websockets``, httpx streaming) against uvicorn in the test's loop.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from jsonserve._types import JSONValue
from jsonserve.storage.changelog import Retention
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.memory import MemoryStorage
from tests.support.live import live_server, sse_events, sse_lines, ws_client

pytestmark = pytest.mark.anyio


async def errors_for(ws: Any, *messages: Any) -> list[tuple[Any, str]]:
    """Send each message (a dict, or raw text) and collect the (id, code) of the error frame it gets."""
    found = []
    for message in messages:
        if isinstance(message, dict):
            await ws.send(**message)
        else:
            await ws.connection.send(message)
        frame = await ws.expect("error")
        assert frame["detail"]
        found.append((frame["id"], frame["code"]))
    return found


async def test_bad_messages_get_error_frames_with_rests_codes_and_the_connection_stays(db: dict[str, Any]) -> None:
    async with live_server(db, realtime_subscriptions=3) as live, ws_client(live) as ws:
        await ws.subscribe("s1", collection="posts")
        found = await errors_for(
            ws,
            "not json",
            "[1, 2]",
            "x" * (64 * 1024 + 1),  # over the 64 KiB message limit
            {"type": "dance"},
            {"type": "subscribe", "id": "s2", "collection": "nope"},
            {"type": "subscribe", "id": "s2", "collection": "posts", "where": {"views": {"gt": 1, "between": 2}}},
            {"type": "subscribe", "id": "s2", "collection": "posts", "where": [1]},
            {"type": "subscribe", "id": "s1", "collection": "posts"},
            {"type": "subscribe", "id": "s2", "collection": "profile", "record": 1},
            {"type": "subscribe", "id": "s2", "collection": "posts", "since": -1},
            {"type": "subscribe", "id": "s2", "channel": "no spaces allowed"},
            {"type": "subscribe", "id": "s2", "collection": "posts", "channel": "both"},
            {"type": "subscribe", "id": True, "collection": "posts"},
            {"type": "unsubscribe", "id": "never"},
            {"type": "publish", "channel": "chat:x"},
            {"type": "auth", "token": "x"},  # no --auth
        )
        assert found == [
            (None, "invalid_message"), (None, "invalid_message"), (None, "invalid_message"), (None, "invalid_message"),
            ("s2", "unknown_collection"), ("s2", "invalid_query"), ("s2", "invalid_query"), ("s1", "conflict"),
            ("s2", "invalid_message"), ("s2", "invalid_message"), ("s2", "invalid_message"), ("s2", "invalid_message"),
            (None, "invalid_message"), ("never", "not_found"), (None, "invalid_message"), (None, "bad_request"),
        ]  # fmt: skip
        await ws.subscribe("s2", collection="comments")
        await ws.subscribe("s3", channel="c")
        assert await errors_for(ws, {"type": "subscribe", "id": "s4", "collection": "users"}) == [
            ("s4", "too_many_subscriptions")
        ]
        await ws.send(type="unsubscribe", id="s1")
        assert await ws.expect("unsubscribed") == {"type": "unsubscribed", "id": "s1"}
        async with httpx.AsyncClient(base_url=live.url) as http:
            await http.post("/posts", json={"title": "after unsubscribe"})
            await http.post("/comments", json={"body": "seen"})
        assert (await ws.expect("change"))["collection"] == "comments"
        assert await ws.silent()


async def test_a_client_that_keeps_sending_garbage_is_closed_with_1008(db: dict[str, Any]) -> None:
    async with live_server(db) as live, ws_client(live) as ws:
        for _ in range(9):
            await ws.connection.send("garbage")
            await ws.expect("error")
        await ws.send(type="ping")  # a valid message starts the count again
        await ws.expect("pong")
        for _ in range(10):
            await ws.connection.send("garbage")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_publishes_beyond_the_rate_are_refused(db: dict[str, Any]) -> None:
    async with live_server(db, realtime_publish_rate=3) as live, ws_client(live) as ws:
        await ws.subscribe("c", channel="room")
        for n in range(4):
            await ws.send(type="publish", channel="room", data=n)
        frames = [await ws.recv() for _ in range(4)]
        assert [f.get("data") for f in frames if f["type"] == "message"] == [0, 1, 2]
        assert [f["code"] for f in frames if f["type"] == "error"] == ["too_many_requests"]


async def test_a_subscriber_that_cannot_keep_up_is_closed_with_1013_others_go_on(db: dict[str, Any]) -> None:
    # A client that stops reading: its receive queue (max_queue) and a tiny TCP window fill up.
    async with (
        live_server(db, realtime_send_queue=50) as live,
        ws_client(live, slow=True) as slow,
        ws_client(live) as fast,
    ):
        await slow.subscribe("s", collection="posts")
        await fast.subscribe("s", collection="posts")
        reading = asyncio.create_task(fast.changes(200))
        for n in range(200):  # 200 x 100 KB, incompressible: more than the buffers of a 4 KB TCP window hold
            await live.service.create("posts", {"title": secrets.token_hex(50_000), "n": n})
            await asyncio.sleep(0.001)
        assert [frame["record"]["n"] for frame in await reading] == list(range(200))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await slow.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_resync_when_the_log_no_longer_holds_the_seq() -> None:
    storage = MemoryStorage({"posts": []}, retention=Retention(changes=3, seconds=0, ceiling=3))
    async with live_server(None, storage=storage) as live, ws_client(live) as ws:
        for n in range(6):
            await live.service.create("posts", {"n": n})
        await ws.send(type="subscribe", id="s", collection="posts", since=1)
        assert await ws.expect("resync_required") == {"type": "resync_required", "sub": "s", "seq": 6}
        await ws.send(type="subscribe", id="s", collection="posts", since=3)  # the oldest kept follows 3
        assert [f["seq"] for f in await ws.changes(3)] == [4, 5, 6]
        assert (await ws.expect("subscribed"))["seq"] == 6


async def test_sse_errors_before_the_stream_are_problem_responses(db: dict[str, Any]) -> None:
    async with live_server(db) as live, httpx.AsyncClient(base_url=live.url) as http:
        cases = {
            "": (400, "invalid_query"),
            "?collection=nope": (404, "unknown_collection"),
            "?collection=posts&where=%7Bnot": (400, "invalid_query"),
            "?collection=posts&where=%7B%22views%22%3A%7B%22gt%22%3A1%2C%22nope%22%3A1%7D%7D": (400, "invalid_query"),
            "?collection=posts&collection=comments&record=1": (400, "invalid_query"),
            "?collection=posts&since=-3": (400, "invalid_query"),
            "?channel=bad%20name": (400, "invalid_message"),
        }
        for query, (status, code) in cases.items():
            response = await http.get("/realtime/sse" + query)
            assert (response.status_code, response.json()["code"]) == (status, code), query
            assert response.headers["content-type"] == "application/problem+json"
        assert (await http.post("/realtime/sse?collection=posts")).status_code == 405
        assert (await http.get("/realtime/channels/x")).status_code == 405
        bad_body = await http.post("/realtime/channels/x", content=b"{", headers={"content-type": "application/json"})
        assert (bad_body.status_code, bad_body.json()["code"]) == (400, "invalid_body")
        assert (await http.post("/realtime/channels/x", content=b"1")).status_code == 415


async def test_sse_streams_several_collections_and_channels_with_keepalives(db: dict[str, Any]) -> None:
    async with live_server(db, sse_keepalive=0.05) as live, httpx.AsyncClient(base_url=live.url) as http:
        query = "?collection=posts&collection=profile&channel=news&channel=chat:a"
        async with http.stream("GET", "/realtime/sse" + query) as sse:
            lines = sse_lines(sse)
            assert [await anext(lines) for _ in range(2)] == [": connected", ""]
            assert await asyncio.wait_for(anext(lines), 2) == ": keep-alive"  # nothing happened: a comment
            await http.post("/comments", json={"body": "not followed"})
            await http.post("/posts", json={"title": "a"})
            await http.patch("/profile", json={"name": "b"})
            await http.post("/realtime/channels/news", json=[1, "two"])
            events = await sse_events(sse, 3)
    assert [(e["event"], e.get("id")) for e in events] == [("change", "2"), ("change", "3"), ("message", None)]
    assert events[2]["data"]["channel"] == "news" and events[2]["data"]["data"] == [1, "two"]
    assert set(events[2]["data"]) == {"channel", "data", "from", "at"}


async def test_a_reload_of_the_edited_file_sends_reset_frames(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(encode_document({"posts": [{"id": 1}], "comments": [], "profile": {"name": "a"}}))
    storage = JsonFileStorage(path, watch=True)
    async with live_server(None, storage=storage) as live, ws_client(live) as ws:
        start = (await ws.subscribe("p", collection="posts"))["seq"]
        await ws.subscribe("c", collection="comments")
        await ws.subscribe("profile", collection="profile")
        edited: dict[str, JSONValue] = {"posts": [{"id": 1}, {"id": 2}], "comments": [], "profile": {"name": "b"}}
        path.write_bytes(encode_document(edited))
        frames = sorted([await ws.recv(timeout=10) for _ in range(2)], key=lambda f: f["seq"])
        assert await ws.silent()  # comments did not change: no reset for them
        assert frames == [
            {"type": "reset", "sub": "p", "seq": start + 1, "collection": "posts"},
            {"type": "reset", "sub": "profile", "seq": start + 2, "collection": "profile"},
        ]
        created = await live.service.create("posts", {"title": "after"})  # seq goes on after the resets
        assert (await ws.expect("change"))["seq"] == start + 3 == await live.service.storage.changes.latest()
        assert created["id"] == 3
        await ws.send(type="subscribe", id="again", collection="posts", since=start)
        assert [f["type"] for f in [await ws.recv() for _ in range(3)]] == ["reset", "change", "subscribed"]
