"""Realtime under ``--auth``: read rules at delivery, no hash ever sent, channel rules, three ways to sign in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from jsonserve.realtime import limits as realtime_limits
from tests.support.live import Client, live_server, sse_events, ws_client

pytestmark = pytest.mark.anyio

RULES = {
    "notes": "600",
    "channels": {"chat:*": {"subscribe": "auth", "publish": "auth"}, "news": {"publish": "admin"}},
}
HIDDEN = {"password", "tokenVersion"}


async def codes(ws: Client, *messages: dict[str, Any]) -> list[str]:
    found = []
    for message in messages:
        await ws.send(**message)
        found.append((await ws.expect("error"))["code"])
    return found


async def test_each_subscriber_gets_what_its_rules_let_it_read_and_never_a_hash(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    data: dict[str, Any] = {"notes": [], "users": []}
    async with live_server(data, auth=True, rules_file=rules) as live, httpx.AsyncClient(base_url=live.url) as http:
        ada = (await http.post("/register", json={"email": "ada@example.com", "password": "correct horse"})).json()
        bob = (await http.post("/register", json={"email": "bob@example.com", "password": "battery staple"})).json()
        as_ada = {"Authorization": f"Bearer {ada['accessToken']}"}
        as_bob = {"Authorization": f"Bearer {bob['accessToken']}"}
        async with (
            ws_client(live) as anonymous,
            ws_client(live, f"?token={ada['accessToken']}") as a,
            ws_client(live, additional_headers=as_bob) as b,
            ws_client(live) as later,
        ):
            assert await a.expect("authenticated") == {"type": "authenticated", "user": ada["user"]["id"]}
            assert await codes(
                anonymous,
                {"type": "subscribe", "id": "n", "collection": "notes"},
                {"type": "subscribe", "id": "c", "channel": "chat:lobby"},
                {"type": "publish", "channel": "news", "data": 1},
                {"type": "auth", "token": "not-a-token"},
                {"type": "subscribe", "id": "u", "collection": "users", "where": {"password": {"like": "$argon"}}},
            ) == ["unauthorized", "unauthorized", "unauthorized", "invalid_token", "invalid_query"]
            await anonymous.subscribe("u", collection="users")  # public: users is not named in the rules
            await a.subscribe("n", collection="notes")
            await b.subscribe("n", collection="notes")
            await later.send(type="auth", token=ada["accessToken"])
            await later.expect("authenticated")
            await later.subscribe("n", collection="notes")

            mine = (await http.post("/notes", json={"text": "ada's"}, headers=as_ada)).json()
            theirs = (await http.post("/notes", json={"text": "bob's"}, headers=as_bob)).json()
            assert [f["record"] for f in await a.changes(1)] == [mine]
            assert [f["record"] for f in await later.changes(1)] == [mine]
            assert [f["record"] for f in await b.changes(1)] == [theirs]
            await http.delete(f"/notes/{theirs['id']}", headers=as_bob)
            assert (await b.expect("change"))["op"] == "delete"  # a delete is judged on the record before it
            assert await a.silent() and await later.silent()

            carol = (await http.post("/register", json={"email": "c@example.com", "password": "long enough"})).json()
            await http.post("/auth/password", json={"password": "long enough", "newPassword": "longer still"},
                            headers={"Authorization": f"Bearer {carol['accessToken']}"})  # fmt: skip
            live_users = await anonymous.changes(2)
            await anonymous.send(type="subscribe", id="replay", collection="users", since=0)
            replayed = await anonymous.changes(4)
            for frame in [*live_users, *replayed]:
                for side in (frame["record"], frame["previous"]):
                    assert side is None or not HIDDEN & set(side), frame
            assert live_users[1]["op"] == "update" and live_users[1]["record"]["email"] == "c@example.com"

            await a.subscribe("c", channel="chat:lobby")
            await a.send(type="publish", channel="chat:lobby", data="hello")
            message = await a.expect("message")
            assert (message["from"], message["data"]) == (ada["user"]["id"], "hello")
            assert await codes(a, {"type": "publish", "channel": "news", "data": 1}) == ["forbidden"]

        with pytest.raises(InvalidStatus) as refused:
            async with ws_client(live, additional_headers={"Authorization": "Bearer forged"}):
                pass
        assert refused.value.response.status_code == 401
        for query in ("collection=notes", "channel=chat:x"):
            response = await http.get(f"/realtime/sse?{query}")
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
        assert (await http.post("/realtime/channels/news", json=1)).status_code == 401
        assert (await http.post("/realtime/channels/news", json=1, headers=as_ada)).status_code == 403
        assert (await http.post("/realtime/channels/chat:x", json=1, headers=as_ada)).status_code == 202


async def test_a_connection_whose_token_is_revoked_is_closed_within_the_recheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logout (or a password change, a deleted user, an expired token) ends the signed-in connections too."""
    monkeypatch.setattr(realtime_limits, "DEFAULT_RECHECK", 0.2)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    data: dict[str, Any] = {"notes": [], "users": []}
    async with live_server(data, auth=True, rules_file=rules) as live, httpx.AsyncClient(base_url=live.url) as http:
        ada = (await http.post("/register", json={"email": "ada@example.com", "password": "correct horse"})).json()
        as_ada = {"Authorization": f"Bearer {ada['accessToken']}"}
        async with (
            ws_client(live, additional_headers=as_ada) as header,
            ws_client(live) as framed,
            ws_client(live) as anonymous,
            http.stream("GET", "/realtime/sse?collection=notes", headers=as_ada) as sse,
        ):
            await framed.send(type="auth", token=ada["accessToken"])
            await framed.expect("authenticated")
            for ws in (header, framed):
                await ws.subscribe("n", collection="notes")
            await asyncio.sleep(0.5)  # a few rechecks pass: the token is still good
            note = (await http.post("/notes", json={"text": "ada's"}, headers=as_ada)).json()
            assert [f["record"] for f in await header.changes(1)] == [note]
            assert [f["record"] for f in await framed.changes(1)] == [note]

            assert (await http.post("/auth/logout", headers=as_ada)).status_code == 204
            for ws in (header, framed):
                refused = await ws.expect("error", timeout=3)
                assert refused["code"] == "invalid_token" and "sign in again" in refused["detail"], refused
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv(timeout=3)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, closed.value.rcvd
            events = await sse_events(sse, 2, timeout=3)  # the subscription's first event, then the refusal
            assert events[-1]["event"] == "problem" and events[-1]["data"]["code"] == "invalid_token", events
            await asyncio.sleep(0.5)  # rechecks pass: an anonymous connection has no token to lose
            await anonymous.send(type="ping")
            assert (await anonymous.recv())["type"] == "pong"
