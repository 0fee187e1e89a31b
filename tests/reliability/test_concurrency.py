"""C1, C2: concurrent writers against a real server per backend (and C1 in-process, in memory).

Each real-server test runs on a temporary db.json, a SQLite file and a PostgreSQL database:

* C1: 16 clients x 200 POSTs -> 3200 x 201, 3200 unique ids, all in the API and in the stored data (for
  the JSON file, after compaction), 0 5xx;
* C2: 16 clients x 12 read-modify-write increments with ``If-Match``, retrying on 412 -> exactly 192
  (16 x 50 -> 800 in the long tier, as in the reliability plan);
* 16 clients PATCHing different fields of one record without ``If-Match`` -> no torn merge.

The figures go to :mod:`tests.reliability.results`.
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
from tests.reliability import tier
from tests.reliability.helpers import in_threads, start, wait_until
from tests.reliability.results import tally
from tests.reliability.stores import Store
from tests.support.server import Server

pytestmark = pytest.mark.e2e

POSTGRES_PREFIX = "jsonserve_cc"
CLIENTS = 16
POSTS_PER_CLIENT = 200  # C1: 16 x 200 in both tiers
INCREMENTS_PER_CLIENT = tier.size(ci=12, long=50)  # C2: each increment costs ~15 412s here, on 2 cores


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
    """C1: 16 x 200 concurrent POSTs: all 201, unique ids, all in the API and in the stored data, 0 5xx."""
    total = CLIENTS * POSTS_PER_CLIENT
    created: list[dict[str, Any]] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(POSTS_PER_CLIENT):
                response = http.post("/posts", json={"tok": f"{index}-{n}"})
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 201:
                        created.append(response.json())

    with tally("C1", store.kind, f"{CLIENTS} clients x {POSTS_PER_CLIENT} POSTs") as figures:
        try:
            elapsed = in_threads(CLIENTS, client)
        finally:
            figures.acknowledged = len(created)
            figures.server_errors = sum(count for status, count in statuses.items() if status >= 500)
        ids = [record["id"] for record in created]
        acked = {record["tok"] for record in created}
        served = httpx.get(server.url + "/posts").json()
        stored_all = wait_until(lambda: len(store.read()["posts"]) == total + 1, 2.0, 0.05)
        stored = store.read()["posts"]
        # lost: acknowledged but missing from the API or from the stored data
        figures.lost = len(acked - ({r.get("tok") for r in served} & {r.get("tok") for r in stored}))
        assert statuses == {201: total}
        assert len(set(ids)) == total
        assert len(served) == total + 1
        assert {record["id"] for record in served} == {1, *ids}
        assert {record.get("tok") for record in served} >= acked
        assert stored_all is not None
        assert stored == served
        figures.note(f"{len(set(ids))} unique ids; {total / elapsed:.0f} POSTs/s")
    print(
        f"\nC1 [{store.kind}]: {total} concurrent POSTs in {elapsed:.1f} s ({total / elapsed:.0f}/s), "
        "all 201, ids unique"
    )


def test_concurrent_posts_in_process() -> None:
    """C1 on the in-memory backend through the in-process client: 16 x 200 tasks."""

    async def scenario() -> tuple[list[int], list[Any]]:
        async with serve({"posts": []}) as client:

            async def one(index: int) -> list[int]:
                statuses = []
                for n in range(POSTS_PER_CLIENT):
                    statuses.append((await client.post("/posts", json={"tok": f"{index}-{n}"})).status_code)
                return statuses

            results = await asyncio.gather(*(one(index) for index in range(CLIENTS)))
            return [status for statuses in results for status in statuses], (await client.get("/posts")).json()

    total = CLIENTS * POSTS_PER_CLIENT
    with tally("C1", "memory (in-process)", f"{CLIENTS} tasks x {POSTS_PER_CLIENT} POSTs, no server") as figures:
        statuses, served = asyncio.run(scenario())
        figures.acknowledged = sum(200 <= status < 300 for status in statuses)
        figures.server_errors = sum(status >= 500 for status in statuses)
        figures.lost = max(0, figures.acknowledged - len(served))
        assert set(statuses) == {201} and len(statuses) == total
        assert len({record["id"] for record in served}) == total


@pytest.mark.slow
def test_if_match_increments_are_never_lost(server: Server, store: Store) -> None:
    """C2: 16 x 12 increments (long tier: 16 x 50), each GET (ETag) + PATCH with If-Match, retried on 412: exact."""
    per_client = INCREMENTS_PER_CLIENT
    conflicts = [0] * CLIENTS
    succeeded = [0] * CLIENTS
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
                    succeeded[index] += 1
                elif response.status_code == 412:
                    conflicts[index] += 1
                    assert response.headers["content-type"] == "application/problem+json"
                else:
                    other.append(f"{response.status_code} {response.text[:200]}")
                    return

    expected = CLIENTS * per_client
    with tally("C2", store.kind, f"{CLIENTS} clients x {per_client} If-Match increments") as figures:
        try:
            elapsed = in_threads(CLIENTS, client)
        finally:
            figures.acknowledged = sum(succeeded)
            figures.server_errors = sum(entry.startswith("5") for entry in other)
        final = httpx.get(server.url + "/counters/1").json()["n"]
        figures.lost = max(0, figures.acknowledged - final)
        figures.note(f"{sum(conflicts)} x 412 retried; final n={final}")
        assert other == []
        assert final == expected
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
