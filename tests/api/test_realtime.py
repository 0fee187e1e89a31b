"""Realtime end to end, on every storage backend: real WebSocket and SSE clients over a real socket.

Subscriptions to a collection, one record, a ``where`` filter, a singular resource and a channel;
resuming after a dropped connection (exactly the changes missed, in order); ``resync_required``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import pytest

from tests.support.live import live_server, sse_events, ws_client

pytestmark = pytest.mark.anyio


async def test_each_subscription_gets_the_writes_it_asks_for_in_seq_order(db: dict[str, Any]) -> None:
    async with live_server(db) as live, ws_client(live) as ws, httpx.AsyncClient(base_url=live.url) as http:
        start = (await ws.subscribe("all", collection="posts"))["seq"]
        assert start == await live.service.storage.changes.latest()
        await ws.subscribe("one", collection="posts", record=2)
        await ws.subscribe("popular", collection="posts", where={"views": {"gt": 100}})
        await ws.subscribe("profile", collection="profile")
        await ws.subscribe("chat", channel="chat:lobby")
        async with http.stream("GET", "/realtime/sse", params={"collection": "posts"}) as sse:
            assert sse.status_code == 200
            assert sse.headers["content-type"].startswith("text/event-stream")
            created = (await http.post("/posts", json={"title": "new", "views": 500})).json()
            assert (await http.patch("/posts/2", json={"views": 5})).status_code == 200  # leaves "popular"
            assert (await http.delete(f"/posts/{created['id']}")).status_code == 200
            assert (await http.put("/profile", json={"name": "x"})).status_code == 200
            assert (await http.post("/realtime/channels/chat:lobby", json={"text": "hi"})).status_code == 202
            events = await sse_events(sse, 3)

        by_sub: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for _ in range(9):
            frame = await ws.recv()
            by_sub[frame["sub"]].append(frame)
        assert await ws.silent()

    posts = [(f["seq"] - start, f["op"], f["id"]) for f in by_sub["all"]]
    assert posts == [(1, "create", created["id"]), (2, "update", 2), (3, "delete", created["id"])]
    create, update, delete = by_sub["all"]
    assert create["record"] == created and create["previous"] is None
    assert update["record"]["views"] == 5 and update["previous"]["views"] == 250
    assert delete["record"] is None and delete["previous"] == created
    assert create["at"].endswith("Z") and len(create["at"]) == len("2026-12-03T20:00:00.123Z")
    assert [(f["seq"] - start, f["op"]) for f in by_sub["one"]] == [(2, "update")]
    assert [f["seq"] - start for f in by_sub["popular"]] == [1, 2, 3]  # a record leaving the filter is told
    [profile] = by_sub["profile"]
    assert (profile["seq"] - start, profile["op"], profile["id"], profile["record"]) == (
        4,
        "update",
        None,
        {"name": "x"},
    )
    [message] = by_sub["chat"]
    assert (message["type"], message["channel"], message["data"], message["from"]) == (
        "message", "chat:lobby", {"text": "hi"}, None,
    )  # fmt: skip
    assert [(int(e["id"]) - start, e["event"], e["data"]["op"]) for e in events] == [
        (1, "change", "create"), (2, "change", "update"), (3, "change", "delete"),
    ]  # fmt: skip
    assert events[0]["data"] == {key: value for key, value in create.items() if key not in ("type", "sub")}


async def test_a_client_that_resumes_gets_exactly_what_it_missed_in_order(db: dict[str, Any]) -> None:
    async with live_server(db) as live, httpx.AsyncClient(base_url=live.url) as http:
        async with ws_client(live) as ws:
            await ws.subscribe("s", collection="posts")
            await http.post("/posts", json={"title": "seen"})
            last = (await ws.expect("change"))["seq"]
        # The connection dropped; five writes happen meanwhile (and one elsewhere, which is not wanted).
        missed = [(await http.post("/posts", json={"title": f"missed {n}"})).json() for n in range(5)]
        await http.patch("/comments/1", json={"body": "elsewhere"})
        async with ws_client(live) as ws:
            await ws.send(type="subscribe", id="s", collection="posts", since=last)
            replay = await ws.changes(5)
            assert [f["record"] for f in replay] == missed
            assert [f["seq"] for f in replay] == list(range(last + 1, last + 6))
            assert (await ws.expect("subscribed"))["seq"] == last + 6  # the store's latest (the comment)
            live_one = (await http.post("/posts", json={"title": "live"})).json()
            assert (await ws.expect("change"))["record"] == live_one
            assert await ws.silent()
        # An EventSource reconnecting sends Last-Event-ID (it wins over ?since=).
        headers = {"Last-Event-ID": str(last)}
        async with http.stream("GET", "/realtime/sse?collection=posts&since=0", headers=headers) as sse:
            events = await sse_events(sse, 6)
        assert [e["data"]["record"] for e in events] == [*missed, live_one]
        assert [int(e["id"]) for e in events] == [*range(last + 1, last + 6), last + 7]


async def test_a_seq_the_log_cannot_resume_from_asks_for_a_resync(db: dict[str, Any]) -> None:
    async with live_server(db) as live, httpx.AsyncClient(base_url=live.url) as http:
        await http.post("/posts", json={"title": "one"})
        latest = await live.service.storage.changes.latest()
        async with ws_client(live) as ws:
            await ws.send(type="subscribe", id="s", collection="posts", since=latest + 1000)  # a restarted store's
            assert await ws.expect("resync_required") == {"type": "resync_required", "sub": "s", "seq": latest}
            await http.post("/posts", json={"title": "two"})
            assert await ws.silent()  # not subscribed: re-read, then subscribe from seq
            await ws.send(type="subscribe", id="s", collection="posts", since=latest)
            assert (await ws.expect("change"))["record"]["title"] == "two"
            assert (await ws.expect("subscribed"))["seq"] == latest + 1
        async with http.stream("GET", f"/realtime/sse?collection=posts&since={latest + 1000}") as sse:
            resync, *_ = await sse_events(sse, 1)
            assert (resync["event"], resync["id"], resync["data"]) == (
                "resync_required",
                str(latest + 1),
                {"seq": latest + 1},
            )
            await http.post("/posts", json={"title": "three"})
            [change] = await sse_events(sse, 1)  # the stream goes on live from there
        assert (change["id"], change["data"]["record"]["title"]) == (str(latest + 2), "three")
