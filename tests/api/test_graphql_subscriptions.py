"""GraphQL subscriptions end to end, on every storage backend: Python's ``gql`` client over a real socket.

The client speaks ``graphql-transport-ws``; the writes go through REST. Each subscription names
``since`` (the store's latest ``seq`` when the test starts), so a write made while the subscription is
being set up is replayed rather than missed: the test never waits for a moment that cannot be seen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.support.live import Live, live_server

pytestmark = pytest.mark.anyio

CHANGE = "op seq record { id title views } previous { id title views }"
WAIT = 10.0
HASH = bcrypt.hashpw(b"a-password", bcrypt.gensalt(4)).decode()  # json-server-auth's kind, cheap to check


def ws_url(live: Live) -> str:
    return live.url.replace("http://", "ws://", 1) + "/graphql"


@contextlib.asynccontextmanager
async def gql_session(live: Live, **init: str) -> AsyncIterator[Any]:
    transport = WebsocketsTransport(
        url=ws_url(live), subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], init_payload=init or None
    )
    async with Client(transport=transport) as session:
        yield session


class Stream:
    """One subscription, read by a task into a queue (so that the test can write meanwhile)."""

    def __init__(self, session: Any, query: str, variables: dict[str, Any]) -> None:
        self.results: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self.task = asyncio.create_task(self._pump(session, GraphQLRequest(query, variable_values=variables)))

    async def _pump(self, session: Any, request: GraphQLRequest) -> None:
        try:
            async for result in session.subscribe(request):
                await self.results.put(result)
        except Exception as error:
            await self.results.put(error)

    async def take(self, count: int) -> list[dict[str, Any]]:
        taken = []
        for _ in range(count):
            item = await asyncio.wait_for(self.results.get(), WAIT)
            if isinstance(item, BaseException):
                raise item
            taken.append(item)
        return taken

    async def failure(self) -> BaseException:
        item = await asyncio.wait_for(self.results.get(), WAIT)
        assert isinstance(item, BaseException), item
        return item

    async def silent(self) -> bool:
        await asyncio.sleep(0.2)
        return self.results.empty()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def subscribe(session: Any, query: str, **variables: Any) -> Stream:
    return Stream(session, query, variables)


async def latest(live: Live) -> int:
    return await live.service.storage.changes.latest()


async def test_changes_arrive_in_seq_order_filtered_by_where(db: dict[str, Any]) -> None:
    async with live_server(db) as live, gql_session(live) as session, httpx.AsyncClient(base_url=live.url) as http:
        start = await latest(live)
        everything = subscribe(session, f"subscription($s: Int) {{ postChanged(since: $s) {{ {CHANGE} }} }}", s=start)
        popular = subscribe(
            session,
            "subscription($s: Int) { postChanged(since: $s, where: {views: {gt: 100}}) { op seq record { id } } }",
            s=start,
        )
        created = (await http.post("/posts", json={"title": "new", "views": 500})).json()
        assert (await http.patch("/posts/2", json={"views": 5})).status_code == 200  # leaves "popular"
        assert (await http.patch("/posts/1", json={"views": 7})).status_code == 200  # never in it
        assert (await http.delete(f"/posts/{created['id']}")).status_code == 200
        await http.patch("/comments/1", json={"body": "elsewhere"})  # not a post
        changes = [result["postChanged"] for result in await everything.take(4)]
        wanted = [result["postChanged"] for result in await popular.take(3)]
        assert await everything.silent() and await popular.silent()
        await everything.stop()
        await popular.stop()

    assert [(c["op"], c["seq"] - start) for c in changes] == [
        ("CREATE", 1),
        ("UPDATE", 2),
        ("UPDATE", 3),
        ("DELETE", 4),
    ]
    create, update, _, delete = changes
    new = {"id": str(created["id"]), "title": "new", "views": 500}
    assert create["record"] == new and create["previous"] is None
    assert update["record"]["views"] == 5 and update["previous"]["views"] == 250
    assert delete["record"] is None and delete["previous"] == new
    assert [(c["op"], c["seq"] - start) for c in wanted] == [("CREATE", 1), ("UPDATE", 2), ("DELETE", 4)]


async def test_since_resumes_with_exactly_the_changes_missed(db: dict[str, Any]) -> None:
    query = "subscription($s: Int) { postChanged(since: $s) { op seq record { id title } } }"
    async with live_server(db) as live, httpx.AsyncClient(base_url=live.url) as http:
        start = await latest(live)
        async with gql_session(live) as session:
            stream = subscribe(session, query, s=start)
            await http.post("/posts", json={"title": "seen"})
            [seen] = await stream.take(1)
            await stream.stop()
        last = seen["postChanged"]["seq"]
        # The connection dropped; five writes happen meanwhile (and one elsewhere, which is not wanted).
        missed = [(await http.post("/posts", json={"title": f"missed {n}"})).json() for n in range(5)]
        await http.patch("/comments/1", json={"body": "elsewhere"})
        async with gql_session(live) as session:
            stream = subscribe(session, query, s=last)
            replay = [result["postChanged"] for result in await stream.take(5)]
            live_one = (await http.post("/posts", json={"title": "live"})).json()
            [after] = await stream.take(1)
            assert await stream.silent()
            await stream.stop()
            too_new = subscribe(session, query, s=last + 1000)  # a seq from another (restarted) store
            error = await too_new.failure()

    assert [c["record"]["title"] for c in replay] == [record["title"] for record in missed]
    assert [c["seq"] for c in replay] == list(range(last + 1, last + 6))
    assert after["postChanged"]["record"] == {"id": str(live_one["id"]), "title": "live"}
    assert after["postChanged"]["seq"] == last + 7
    assert isinstance(error, TransportQueryError)
    [problem] = error.errors or []
    assert problem["extensions"] == {"code": "resync_required", "seq": last + 7}


async def test_rules_apply_at_delivery_and_hidden_fields_never_leave(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "users": [
            {"id": 1, "email": "ada@example.com", "password": HASH},
            {"id": 2, "email": "linus@example.com", "password": HASH},
        ],
        "notes": [{"id": 1, "text": "ada's", "userId": 1}],
    }
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"notes": "600", "users": "640"}))
    query = "subscription($s: Int) { noteChanged(since: $s) { op record { id text userId } } }"
    async with live_server(data, auth=True, rules_file=rules) as live, httpx.AsyncClient(base_url=live.url) as http:
        ada, linus = [await login(http, name) for name in ("ada", "linus")]
        start = await latest(live)
        async with gql_session(live, Authorization=f"Bearer {ada}") as session:
            mine = subscribe(session, query, s=start)
            users = subscribe(session, "subscription($s: Int) { userChanged(since: $s) { record { id } } }", s=start)
            fields = await session.execute(GraphQLRequest('{ __type(name: "User") { fields { name } } }'))
            await http.post("/notes", json={"text": "linus's"}, headers=bearer(linus))
            await http.post("/notes", json={"text": "ada's second"}, headers=bearer(ada))
            await http.patch("/users/1", json={"name": "Ada"}, headers=bearer(ada))
            [note] = await mine.take(1)
            [user] = await users.take(1)
            assert await mine.silent()
            await mine.stop()
            await users.stop()
        async with gql_session(live) as anonymous:
            refused = await subscribe(anonymous, query, s=start).failure()

    assert note["noteChanged"] == {"op": "CREATE", "record": {"id": "3", "text": "ada's second", "userId": 1}}
    assert user["userChanged"] == {"record": {"id": "1"}}
    assert "password" not in {field["name"] for field in fields["__type"]["fields"]}
    assert isinstance(refused, TransportQueryError)
    assert [e["extensions"]["code"] for e in refused.errors or []] == ["unauthorized"]


async def login(http: httpx.AsyncClient, name: str) -> str:
    answer = await http.post("/login", json={"email": f"{name}@example.com", "password": "a-password"})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["accessToken"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
