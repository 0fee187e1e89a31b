"""C1, C2: concurrent writers against a real server per backend (and C1 in-process, in memory).

Each real-server test runs on a temporary db.json, a SQLite file and a PostgreSQL database:

* 16 clients x 100 POSTs -> 1600 x 201, unique ids, all in the API and in the stored data (for the
  JSON file, after compaction);
* 16 clients x 25 read-modify-write increments with ``If-Match``, retrying on 412 -> exactly 400;
* 16 clients PATCHing different fields of one record without ``If-Match`` -> no torn merge.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve
from tests.reliability.helpers import in_threads, start, wait_until
from tests.reliability.stores import Store
from tests.support.server import Server

pytestmark = pytest.mark.e2e

POSTGRES_PREFIX = "jsonserve_cc"
CLIENTS = 16


@pytest.fixture
def store(new_store: Callable[[str], Store]) -> Store:
    """This test's backend, seeded (the ``store_kind`` fixture runs the test once per backend)."""
    data = new_store("data")
    data.seed({"posts": [{"id": 1, "title": "seed"}], "counters": [{"id": 1, "n": 0}, {"id": 2}]})
    return data


@pytest.fixture
def server(store: Store) -> Iterator[Server]:
    process = start([store.source, "--no-static"], store.folder)
    try:
        yield process
    finally:
        process.kill()


@pytest.mark.slow
def test_concurrent_posts_all_stored_with_unique_ids(server: Server, store: Store) -> None:
    """C1: 16 x 100 concurrent POSTs: all 201, unique ids, all in the API and in the stored data."""
    per_client = 100
    created: list[dict[str, Any]] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(per_client):
                response = http.post("/posts", json={"tok": f"{index}-{n}"})
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 201:
                        created.append(response.json())

    elapsed = in_threads(CLIENTS, client)
    total = CLIENTS * per_client
    assert statuses == {201: total}
    ids = [record["id"] for record in created]
    assert len(set(ids)) == total
    served = httpx.get(server.url + "/posts").json()
    assert len(served) == total + 1
    assert {record["id"] for record in served} == {1, *ids}
    assert {record.get("tok") for record in served} >= {record["tok"] for record in created}
    assert wait_until(lambda: len(store.read()["posts"]) == total + 1, 2.0, 0.05) is not None
    assert store.read()["posts"] == served
    print(
        f"\nC1 [{store.kind}]: {total} concurrent POSTs in {elapsed:.1f} s ({total / elapsed:.0f}/s), "
        "all 201, ids unique"
    )


def test_concurrent_posts_in_process() -> None:
    """C1 on the in-memory backend through the in-process client: 16 x 100 tasks."""

    async def scenario() -> tuple[list[int], list[Any]]:
        async with serve({"posts": []}) as client:

            async def one(index: int) -> list[int]:
                statuses = []
                for n in range(100):
                    statuses.append((await client.post("/posts", json={"tok": f"{index}-{n}"})).status_code)
                return statuses

            results = await asyncio.gather(*(one(index) for index in range(CLIENTS)))
            return [status for statuses in results for status in statuses], (await client.get("/posts")).json()

    statuses, served = asyncio.run(scenario())
    assert set(statuses) == {201} and len(statuses) == CLIENTS * 100
    assert len({record["id"] for record in served}) == CLIENTS * 100


@pytest.mark.slow
def test_if_match_increments_are_never_lost(server: Server, store: Store) -> None:
    """C2: 16 x 25 increments, each GET (ETag) + PATCH with If-Match, retried on 412: the count is exact."""
    per_client = 25
    conflicts = [0] * CLIENTS
    other: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            done, deadline = 0, time.monotonic() + 45
            while done < per_client:
                assert time.monotonic() < deadline, f"client {index} did {done} increments before the deadline"
                current = http.get("/counters/1")
                response = http.patch(
                    "/counters/1", json={"n": current.json()["n"] + 1}, headers={"If-Match": current.headers["etag"]}
                )
                if response.status_code == 200:
                    done += 1
                elif response.status_code == 412:
                    conflicts[index] += 1
                    assert response.headers["content-type"] == "application/problem+json"
                else:
                    other.append(f"{response.status_code} {response.text[:200]}")
                    return

    elapsed = in_threads(CLIENTS, client)
    assert other == []
    expected = CLIENTS * per_client
    assert httpx.get(server.url + "/counters/1").json()["n"] == expected
    assert wait_until(lambda: store.read()["counters"][0]["n"] == expected, 2.0, 0.05) is not None
    print(
        f"\nC2 [{store.kind}]: {expected} If-Match increments in {elapsed:.1f} s, {sum(conflicts)} x 412 retried, "
        f"final n={expected}"
    )


def test_concurrent_patches_without_if_match_are_atomic(server: Server) -> None:
    """C2: PATCHes of different fields of one record, no If-Match: each merge is whole, none is lost."""

    def client(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(10):
                assert http.patch("/counters/2", json={f"f{index}": n}).status_code == 200

    in_threads(CLIENTS, client)
    assert httpx.get(server.url + "/counters/2").json() == {"id": 2, **{f"f{index}": 9 for index in range(CLIENTS)}}


def test_stale_if_match_is_412_and_changes_nothing(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        stale = http.get("/counters/1").headers["etag"]
        assert http.patch("/counters/1", json={"n": 5}).status_code == 200
        for method, body in [("PATCH", {"n": 99}), ("PUT", {"n": 99}), ("DELETE", None)]:
            response = http.request(method, "/counters/1", json=body, headers={"If-Match": stale})
            assert response.status_code == 412, method
        assert http.get("/counters/1").json() == {"id": 1, "n": 5}
