"""Two ``jsonserve postgresql://…`` processes on one database behave as one server.

Both serve a throw-away database (created for this module, dropped after it). Clients spread their
requests over both instances:

* 16 clients x 100 POSTs -> 1600 x 201, 1600 unique ids, the same 1601 records on both;
* 16 clients POSTing one client-chosen id -> exactly one 201, the rest 409;
* a write on one instance is visible on the other at once (same body, same ETag), for POST, PATCH, DELETE;
* 16 clients x 10 If-Match increments (GET on one instance, PATCH on the other, retry on 412) -> exactly 160;
* 16 clients PATCHing different fields of one record -> every acknowledged field present on both.

PostgreSQL serialization failures and deadlocks are retried, never surfaced as 5xx. Two tests make
them happen, each on its own throw-away database and pair of instances:

* deadlocks: ``DELETE /users/k`` on one instance races ``DELETE /posts/k`` on the other, where post k
  belongs to user k and comment k to both. The user's cascade locks comments before posts (dependents
  sweep in name order), the post's locks the post then its comments: PostgreSQL detects the cycle and
  aborts one (40P01), which must be retried; ``pg_stat_database.deadlocks`` shows it happened;
* serialization failures: the database's ``default_transaction_isolation`` is ``serializable`` (a
  DBA's choice the server cannot rule out); concurrent POSTs to one collection must still all be 201.

Every response is recorded: not one 5xx, and no traceback in either server's log. The figures of the
POSTs (``M-C1``), the increments (``M-C2``), the field PATCHes (``C4``) and the two retry tests go to
:mod:`tests.reliability.results`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.helpers import TRACE_MARKERS, in_threads, start
from tests.reliability.results import tally
from tests.reliability.stores import Store, admin, database_name, throwaway_database
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

POSTGRES_PREFIX = "jsonserve_mi"
CLIENTS = 16
SEED: dict[str, Any] = {
    "posts": [{"id": 1, "title": "seed"}],
    "notes": [],
    "tickets": [],
    "counters": [{"id": 1, "n": 0}, {"id": 2}],
}


@dataclass
class Pair:
    """Two instances on one database, and every status either of them answered."""

    servers: tuple[Server, Server]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, which: int) -> httpx.Client:
        """A client of instance ``which`` (0 = A, 1 = B) whose every response is recorded."""
        name = "AB"[which]

        def record(response: httpx.Response) -> None:
            response.read()
            with self.lock:
                self.statuses[name, response.status_code] += 1
                if response.status_code >= 500:
                    self.failures.append(
                        f"{name} {response.request.method} {response.request.url.path} -> "
                        f"{response.status_code} {response.text[:300]}"
                    )

        return httpx.Client(base_url=self.servers[which].url, timeout=30, event_hooks={"response": [record]})

    def clients(self) -> tuple[httpx.Client, httpx.Client]:
        return self.client(0), self.client(1)

    def server_error_count(self) -> int:
        """5xx answered so far by either instance."""
        with self.lock:
            return sum(count for (_, status), count in self.statuses.items() if status >= 500)

    def server_errors(self) -> list[str]:
        """5xx answered so far, and tracebacks in either log."""
        logged = [
            f"{'AB'[which]} logged {marker!r}: {server.output()[-2000:]}"
            for which, server in enumerate(self.servers)
            for marker in TRACE_MARKERS
            if marker in server.output()
        ]
        return [*self.failures, *logged]


@contextlib.contextmanager
def two_instances(url: str, folder: Path, seed: dict[str, Any]) -> Iterator[Pair]:
    """Seed the database at ``url``, then run two servers on it (killed at the end)."""
    Store("postgres", folder, url).seed(seed)
    args = [url, "--no-static"]
    first = start(args, folder)
    try:
        second = start(args, folder)
    except BaseException:
        first.kill()
        raise
    try:
        yield Pair((first, second))
    finally:
        first.kill()
        second.kill()


@pytest.fixture(scope="module")
def pair(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with two_instances(postgres_database, tmp_path_factory.mktemp("multi-instance"), SEED) as instances:
        yield instances


@pytest.fixture(autouse=True)
def no_server_errors(pair: Pair) -> Iterator[None]:
    """Each test ends with no 5xx from either instance and nothing logged."""
    yield
    assert pair.server_errors() == []


def test_posts_spread_over_two_instances_get_unique_ids(pair: Pair) -> None:
    per_client = 100
    created: list[dict[str, Any]] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        instances = pair.clients()
        try:
            for n in range(per_client):
                response = instances[(index + n) % 2].post("/posts", json={"tok": f"{index}-{n}"})
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 201:
                        created.append(response.json())
        finally:
            for instance in instances:
                instance.close()

    total = CLIENTS * per_client
    before = pair.server_error_count()
    with tally("M-C1", "postgres", f"2 instances, {CLIENTS} clients x {per_client} POSTs") as figures:
        try:
            elapsed = in_threads(CLIENTS, client, timeout=40)
        finally:
            figures.acknowledged = len(created)
            figures.server_errors = pair.server_error_count() - before
        ids = [record["id"] for record in created]
        a, b = pair.clients()
        with a, b:
            on_a, on_b = a.get("/posts").json(), b.get("/posts").json()
        acked = {record["tok"] for record in created}
        figures.lost = len(acked - ({r.get("tok") for r in on_a} & {r.get("tok") for r in on_b}))
        assert dict(statuses) == {201: total}
        assert len(set(ids)) == total
    assert len(on_a) == len(on_b) == total + 1
    assert on_a == on_b
    assert {record["id"] for record in on_a} == {1, *ids}
    assert sorted(record["tok"] for record in on_a[1:]) == sorted(record["tok"] for record in created)
    print(
        f"\nMI C1: {total} POSTs over 2 instances in {elapsed:.1f} s ({total / elapsed:.0f}/s), all 201, "
        f"{len(set(ids))} unique ids ({min(ids)}..{max(ids)}), {len(on_a)} records on A and on B"
    )


def test_one_client_chosen_id_is_created_once_across_instances(pair: Pair) -> None:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start_together = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        with pair.client(index % 2) as http:
            start_together.wait(10)
            response = http.post("/tickets", json={"id": "T-1", "by": index})
            with lock:
                statuses[response.status_code] += 1

    in_threads(CLIENTS, client, timeout=20)
    assert dict(statuses) == {201: 1, 409: CLIENTS - 1}
    a, b = pair.clients()
    with a, b:
        assert a.get("/tickets").json() == b.get("/tickets").json()
        assert len(a.get("/tickets").json()) == 1


def test_a_write_on_one_instance_is_visible_on_the_other_at_once(pair: Pair) -> None:
    a, b = pair.clients()
    with a, b:
        for n in range(20):
            writer, reader = (a, b) if n % 2 == 0 else (b, a)
            created = writer.post("/notes", json={"n": n})
            assert created.status_code == 201
            path = f"/notes/{created.json()['id']}"
            seen = reader.get(path)  # no wait, no retry
            assert seen.status_code == 200 and seen.json() == created.json()
            assert seen.headers["etag"] == writer.get(path).headers["etag"]
            assert created.json() in reader.get("/notes", params={"n": n}).json()

            patched = reader.patch(path, json={"m": n}, headers={"If-Match": seen.headers["etag"]})
            assert patched.status_code == 200
            assert writer.get(path).json() == patched.json() == {**created.json(), "m": n}

            assert writer.delete(path).status_code == 200
            assert reader.get(path).status_code == 404
            assert reader.patch(path, json={"m": 0}).status_code == 404
        assert a.get("/notes").json() == b.get("/notes").json() == []


def test_page_totals_follow_the_other_instances_writes_at_once(pair: Pair) -> None:
    """A page's total (X-Total-Count, the 1.x envelope's ``items``) kept by one instance is never
    served after the other instance's write (``storage/sql/counts.py``)."""
    a, b = pair.clients()
    with a, b:
        for n in range(12):
            reader, writer = (a, b) if n % 2 == 0 else (b, a)
            total = int(reader.get("/tickets", params={"_page": 1, "_limit": 1}).headers["x-total-count"])
            assert int(reader.get("/tickets", params={"_page": 1, "_limit": 1}).headers["x-total-count"]) == total
            created = writer.post("/tickets", json={"n": n})
            assert created.status_code == 201
            page = reader.get("/tickets", params={"_page": 1, "_limit": 1})  # no wait, no retry
            assert int(page.headers["x-total-count"]) == total + 1
            assert reader.get("/tickets", params={"_page": 1, "_per_page": 1}).json()["items"] == total + 1
            if n % 3 == 2:
                assert writer.delete(f"/tickets/{created.json()['id']}").status_code == 200
                page = reader.get("/tickets", params={"_page": 1, "_limit": 1})
                assert int(page.headers["x-total-count"]) == total


def test_if_match_increments_across_instances_are_exact(pair: Pair) -> None:
    """GET (ETag) on one instance, PATCH with If-Match on the other, retry on 412: no increment is lost."""
    per_client = 10  # 160 increments; each costs ~10 412s here, and 2 cores run both instances and the database
    conflicts = [0] * CLIENTS
    successes = [0] * CLIENTS
    other: list[str] = []

    def client(index: int) -> None:
        instances = pair.clients()
        try:
            done, attempt, deadline = 0, index, time.monotonic() + 45
            while done < per_client:
                assert time.monotonic() < deadline, f"client {index} did {done} increments before the deadline"
                attempt += 1
                reader, writer = instances[attempt % 2], instances[(attempt + 1) % 2]
                current = reader.get("/counters/1")
                response = writer.patch(
                    "/counters/1", json={"n": current.json()["n"] + 1}, headers={"If-Match": current.headers["etag"]}
                )
                if response.status_code == 200:
                    done += 1
                    successes[index] += 1
                elif response.status_code == 412:
                    conflicts[index] += 1
                else:
                    other.append(f"{response.status_code} {response.text[:200]}")
                    return
        finally:
            for instance in instances:
                instance.close()

    expected = CLIENTS * per_client
    before = pair.server_error_count()
    with tally("M-C2", "postgres", f"2 instances, {CLIENTS} clients x {per_client} If-Match increments") as figures:
        try:
            elapsed = in_threads(CLIENTS, client, timeout=50)
        finally:
            figures.acknowledged = sum(successes)
            figures.server_errors = pair.server_error_count() - before
        a, b = pair.clients()
        with a, b:
            on_a, on_b = a.get("/counters/1").json()["n"], b.get("/counters/1").json()["n"]
        figures.lost = max(0, figures.acknowledged - min(on_a, on_b))
        figures.note(f"{sum(conflicts)} x 412 retried")
        assert other == []
        assert on_a == on_b == expected
    print(
        f"\nMI C2: {expected} If-Match increments over 2 instances in {elapsed:.1f} s, "
        f"{sum(conflicts)} x 412 retried, final n={expected} on A and B"
    )


def test_patches_of_different_fields_across_instances_all_land(pair: Pair) -> None:
    acknowledged: dict[str, int] = {}
    acks = [0] * CLIENTS
    lock = threading.Lock()

    def client(index: int) -> None:
        instances = pair.clients()
        try:
            for n in range(10):
                response = instances[(index + n) % 2].patch("/counters/2", json={f"f{index}": n})
                assert response.status_code == 200, response.text[:200]
                acks[index] += 1
                with lock:
                    acknowledged[f"f{index}"] = n
        finally:
            for instance in instances:
                instance.close()

    before = pair.server_error_count()
    with tally("C4", "postgres", f"2 instances, {CLIENTS} clients x 10 PATCHes of one record") as figures:
        try:
            in_threads(CLIENTS, client, timeout=30)
        finally:
            figures.acknowledged = sum(acks)
            figures.server_errors = pair.server_error_count() - before
        expected = {"id": 2, **{f"f{index}": 9 for index in range(CLIENTS)}}
        a, b = pair.clients()
        with a, b:
            on_a, on_b = a.get("/counters/2").json(), b.get("/counters/2").json()
        figures.lost = sum(on_a.get(key) != value or on_b.get(key) != value for key, value in acknowledged.items())
        assert acknowledged == {f"f{index}": 9 for index in range(CLIENTS)}
        assert on_a == on_b == expected


def _deadlocks(url: str) -> int:
    counts = dict(admin("SELECT datname, deadlocks FROM pg_stat_database WHERE datname IS NOT NULL"))
    return int(counts.get(database_name(url)) or 0)


def test_deadlocks_are_retried_never_a_5xx(tmp_path: Path) -> None:
    rounds, pairs = 3, CLIENTS
    triples = rounds * pairs
    seed = {
        "users": [{"id": k, "name": f"user {k}"} for k in range(1, triples + 1)],
        "posts": [{"id": k, "userId": k} for k in range(1, triples + 1)],
        "comments": [{"id": k, "postId": k, "userId": k} for k in range(1, triples + 1)],
    }
    statuses: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()
    detail = f"2 instances, {rounds} x {pairs} DELETE races (user cascade vs post)"
    with tally("C4-deadlock", "postgres", detail) as figures, throwaway_database(POSTGRES_PREFIX) as url:
        with two_instances(url, tmp_path, seed) as instances:
            for round_ in range(rounds):
                start_together = threading.Barrier(2 * pairs)

                def client(index: int, round_: int = round_, barrier: threading.Barrier = start_together) -> None:
                    k = round_ * pairs + index // 2 + 1
                    path = f"/users/{k}" if index % 2 else f"/posts/{k}"
                    with instances.client(index % 2) as http:
                        barrier.wait(10)
                        response = http.delete(path)
                    with lock:
                        statuses[path.split("/")[1], response.status_code] += 1

                in_threads(2 * pairs, client, timeout=30)
            figures.acknowledged = sum(count for (_, status), count in statuses.items() if 200 <= status < 300)
            figures.server_errors = instances.server_error_count()
            with instances.client(0) as a, instances.client(1) as b:
                left = {name: (a.get(f"/{name}").json(), b.get(f"/{name}").json()) for name in ("users", "posts")}
                figures.lost = sum(len(on_a) + len(on_b) for on_a, on_b in left.values())
                for name in ("users", "posts", "comments"):
                    assert a.get(f"/{name}").json() == b.get(f"/{name}").json() == []
            errors = instances.server_errors()
        # The instances' connections are closed: their backends flushed their statistics on exit.
        deadlocks = 0
        deadline = time.monotonic() + 5
        while deadlocks == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            deadlocks = _deadlocks(url)
        figures.note(f"{deadlocks} deadlocks detected by PostgreSQL, retried")
        print(f"\nMI deadlocks: {deadlocks} detected by PostgreSQL in {rounds} x {pairs} races, {dict(statuses)}")
        assert errors == []
        assert statuses["users", 200] == triples
        assert statuses["posts", 200] + statuses["posts", 404] == triples
        assert deadlocks >= 1, "no deadlock happened: the test did not test what it is for"


def test_serialization_failures_are_retried_never_a_5xx(tmp_path: Path) -> None:
    per_client = 30
    statuses: Counter[int] = Counter()  # -1: no response
    ids: list[Any] = []
    lock = threading.Lock()
    settings = {"default_transaction_isolation": "serializable"}
    detail = f"2 instances, SERIALIZABLE database, {CLIENTS} clients x {per_client} POSTs"
    with (
        tally("C4-serializable", "postgres", detail) as figures,
        throwaway_database(POSTGRES_PREFIX, settings) as url,
        two_instances(url, tmp_path, {"tickets": []}) as instances,
    ):

        def client(index: int) -> None:
            with instances.client(0) as a, instances.client(1) as b:
                for n in range(per_client):
                    try:
                        response = (a, b)[(index + n) % 2].post("/tickets", json={"tok": f"{index}-{n}"})
                    except httpx.TransportError:  # e.g. the connection a 500 left closed
                        with lock:
                            statuses[-1] += 1
                        continue
                    with lock:
                        statuses[response.status_code] += 1
                        if response.status_code == 201:
                            ids.append(response.json()["id"])

        try:
            elapsed = in_threads(CLIENTS, client, timeout=40)
        finally:
            figures.acknowledged = statuses[201]
            figures.server_errors = sum(count for status, count in statuses.items() if status >= 500)
        with instances.client(1) as b:
            stored = b.get("/tickets").json()
        errors = instances.server_errors()
        figures.lost = len(set(ids) - {record["id"] for record in stored})
        figures.note(f"{statuses[-1]} dropped connections")
        total = CLIENTS * per_client
        print(f"\nMI serializable: {total} POSTs over 2 instances in {elapsed:.1f} s: {dict(statuses)}")
        assert dict(statuses) == {201: total}, "serialization failures surfaced (-1: the connection was dropped)"
        assert errors[:3] == []
        assert len(set(ids)) == total == len(stored)


def test_no_server_error_on_either_instance(pair: Pair) -> None:
    """The whole module's tally (the autouse check covers each test; this one prints the figures)."""
    answered = sum(pair.statuses.values())
    print(f"\nMI: {answered} responses from 2 instances: {dict(sorted(pair.statuses.items()))}")
    assert not [key for key in pair.statuses if key[1] >= 500]
