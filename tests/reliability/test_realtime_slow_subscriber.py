"""A subscriber that stops reading is closed with 1013, and the writers do not notice (a real server, on every backend).

The contract (reference/realtime.md): "A subscriber that cannot keep up is closed with code 1013;
writers are never slowed down by a slow subscriber." Checked end to end on each backend (memory: the
built-in demo data; a JSON file; SQLite; PostgreSQL), against a ``jsonserve`` process with a small
send queue (``--realtime-queue`` :data:`QUEUE`):

* :data:`WRITERS` threads POST records of :data:`PAYLOAD` incompressible bytes to ``/posts`` over
  keep-alive httpx connections, on a fixed schedule (:data:`RATE` writes a second, all together),
  :data:`ROUND_WRITES` writes a round (half a second); each write's latency (request sent to response
  read) is kept;
* :data:`NORMAL` subscribers of ``posts`` read everything, in a process of their own
  (``tests/reliability/subscribers.py``: their reading does not take the GIL from the writer threads);
* rounds are A (just that) or B (that, plus one more subscriber of ``posts`` that subscribes, then
  reads nothing: a 4 KiB socket receive buffer, a 536-byte MSS and a one-message client queue, so
  the server's socket, its transport buffer and then its send queue fill within some 60 writes).
  After each B round's writes that subscriber reads what reached it: fewer changes than the round
  wrote, then the close frame the server sent, with code 1013.

Pass: in every B round the stuck subscriber was closed with 1013 before the round ended; no write
failed; the normal subscribers got every change once, in ``seq`` order, and none was closed; and the
median over the B rounds of the writers' p99 latency is at most :data:`SLACK` (1.2) times the median
over the A rounds, or at most :data:`FLOOR` (2 ms) above it: on the memory backend the p99 is some
5 ms, where 20 % is 1 ms, under what one busy spell moves it (a quiet CI run measured A 5.3 and B
6.5 ms), and a stuck subscriber is framed for until its 1013 like any other.

Timing on the shared 2-core machine is noisy (one round's p99 moved from 6 to 130 ms within a run,
with the load average at 5-7), so: short rounds, alternated A B B A (:data:`ORDER`: a busy spell, or
a trend such as the growing data, weighs on both sides alike), medians of the rounds' p99s, and the
writer threads get the GIL within 0.5 ms (:func:`prompt_threads`). When B's median is over the bound,
another :data:`ORDER` is run (at most :data:`EXTRA_BLOCKS` times) and all rounds are judged together:
a busy spell passes, a real slowdown stays.

A server whose writers wait for a slow subscriber fails here (checked by patching the server so that
a write, after publishing, waits until every connection's queue has room again): with an unbounded
wait the writes hang and no 1013 comes; with a wait bounded at 50 ms before the 1013, B's median p99
was 1.6-5 times A's on memory, JSON file and SQLite; on PostgreSQL, whose p99 was some 100 ms on the
loaded machine then, 50 ms went unnoticed (B/A 1.02) and a 200 ms bound gave 2.5 times.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import require_postgres
from tests.reliability import subscribers
from tests.reliability.helpers import start
from tests.reliability.stores import Store, throwaway_database
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

POSTGRES_PREFIX = "jsonserve_rtslow"
KINDS = ("memory", "jsonfile", "sqlite", "postgres")
QUEUE = 16  # --realtime-queue: frames queued for a connection before it is closed with 1013
PAYLOAD = 8_000  # bytes of hex in each record
WRITERS = 4
RATE = 200.0  # writes per second, all writers together, on a fixed schedule
ROUND_WRITES = 100
WARMUP_WRITES = 100
ORDER = "ABBA" * 3  # the rounds of one block
NORMAL = 2  # subscribers that keep up
SLACK = 1.20  # B's p99 may be at most this times A's
FLOOR = 0.002  # ... or this many seconds above it (a slowdown that matters is tens of ms: see above)
EXTRA_BLOCKS = 2  # blocks run again while B is over the bound
RECEIVE_BUFFER = 4096  # the stuck subscriber's SO_RCVBUF, set before connecting: it caps the TCP window
SEGMENT = 536  # and its TCP_MAXSEG: on loopback (MSS 64 KiB) the server's send buffer would hold some 2 MB
SEED: dict[str, Any] = {"posts": [], "users": []}  # users: the subscribers' probe collection (nobody writes to it)


@dataclass
class Round:
    """One round's writes: their latencies in seconds, and any failure."""

    name: str
    number: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98]


@dataclass
class Trial:
    """The rounds of one backend's run, by side (A: no stuck subscriber; B: one)."""

    kind: str
    rounds: dict[str, list[Round]] = field(default_factory=lambda: {"A": [], "B": []})

    def median_p99(self, side: str) -> float:
        return statistics.median(done.p99 for done in self.rounds[side])

    @property
    def held(self) -> bool:
        """Whether B's median p99 is at most :data:`SLACK` times A's, or :data:`FLOOR` above it."""
        a = self.median_p99("A")
        return self.median_p99("B") <= max(SLACK * a, a + FLOOR)

    def summary(self) -> str:
        done = sorted(itertools.chain(*self.rounds.values()), key=lambda item: item.number)
        figures = " ".join(f"{item.name} {item.p99 * 1000:.1f}" for item in done)
        a, b = self.median_p99("A") * 1000, self.median_p99("B") * 1000
        return f"{self.kind}: writers' p99 ms {figures}; median A {a:.1f}, B {b:.1f} (B/A {b / a:.2f}); load {load()}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_stuck_subscriber_is_closed_with_1013_and_writers_p99_holds(kind: str, tmp_path: Path) -> None:
    trial = Trial(kind)
    with (
        prompt_threads(),
        serving(kind, tmp_path) as server,
        subscribers.running(ws_url(server), NORMAL, "--collections", "posts", "--probe", "users") as normal,
    ):
        warm_up = write_round(server, Round("warm-up", -1), WARMUP_WRITES)
        assert not warm_up.errors, warm_up.errors[:3]
        for block in range(1 + EXTRA_BLOCKS):
            run_block(server, trial, block * len(ORDER))
            if trial.held:
                break
        reports = subscribers.finish(normal, timeout=60)
    print(f"\n{trial.summary()}")
    assert "Traceback" not in server.output(), server.output()[-3000:]
    check_subscribers(reports, WARMUP_WRITES + sum(map(len, trial.rounds.values())) * ROUND_WRITES)
    bound = f"{SLACK} x (and {FLOOR * 1000:g} ms above)"
    assert trial.held, f"the writers' p99 with a stuck subscriber is over {bound} the one without: {trial.summary()}"


def run_block(server: Server, trial: Trial, first: int) -> None:
    """One round per letter of :data:`ORDER`; in each B round a stuck subscriber, closed with 1013 before its end."""
    for number, side in enumerate(ORDER, start=first):
        done = Round(f"{side}{number}", number)
        if side == "A":
            write_round(server, done, ROUND_WRITES)
        else:
            with stuck_subscriber(server) as stuck:
                write_round(server, done, ROUND_WRITES)
                received, code = read_to_the_end(stuck)
            assert code == 1013, f"{done.name}: the stuck subscriber was closed with {code}, after {received} changes"
            assert received < ROUND_WRITES, f"{done.name}: the stuck subscriber got all {received} changes"
        assert not done.errors, f"{done.name}: {done.errors[:3]}"
        assert len(done.latencies) == ROUND_WRITES, f"{done.name}: {len(done.latencies)} writes"
        trial.rounds[side].append(done)


@contextlib.contextmanager
def prompt_threads() -> Iterator[None]:
    """A thread whose response arrived gets the GIL within 0.5 ms, not Python's 5 ms: less noise in the latencies."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@contextlib.contextmanager
def serving(kind: str, folder: Path) -> Iterator[Server]:
    """A server on ``kind``'s storage (PostgreSQL: a throw-away database), stopped by PID at the end."""
    with contextlib.ExitStack() as stack:
        source: list[str] = []
        if kind != "memory":  # memory: no source, the built-in demo data (it has posts and users)
            url = None
            if kind == "postgres":
                require_postgres()
                url = stack.enter_context(throwaway_database(POSTGRES_PREFIX))
            store = Store(kind, folder, url)
            store.seed(SEED)
            source = [store.source]
        server = start([*source, "--no-static", "--realtime-queue", str(QUEUE)], folder)
        stack.callback(server.stop)
        yield server


def write_round(server: Server, done: Round, count: int) -> Round:
    """``count`` POSTs by :data:`WRITERS` threads on the :data:`RATE` schedule; each one's latency."""
    tickets = itertools.count()
    payloads = [secrets.token_hex(PAYLOAD // 2) for _ in range(8)]
    started = time.monotonic() + 0.05

    def writer() -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            http.get("/posts/0")  # connect before the schedule starts (a 404 is fine)
            for ticket in tickets:  # itertools.count is thread-safe under the GIL (one C call)
                if ticket >= count:
                    return
                pause = started + ticket / RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                sent = time.monotonic()
                try:
                    response = http.post("/posts", json={"n": ticket, "body": payloads[ticket % len(payloads)]})
                except httpx.TransportError as error:
                    done.errors.append(f"{type(error).__name__}: {error}")
                    continue
                latency = time.monotonic() - sent
                if response.status_code != 201:
                    done.errors.append(f"{response.status_code}: {response.text[:200]}")
                done.latencies.append(latency)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), f"{done.name}: a writer hung"
    return done


@contextlib.contextmanager
def stuck_subscriber(server: Server) -> Iterator[ClientConnection]:
    """A subscriber of ``posts`` that reads nothing once subscribed: a tiny TCP window, one message queued."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SEGMENT)
    sock.connect(("127.0.0.1", server.port))
    with connect(ws_url(server), sock=sock, max_queue=1, compression=None, open_timeout=10, ping_interval=None) as ws:
        ws.send(json.dumps({"type": "subscribe", "id": "stuck", "collection": "posts"}))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "subscribed", answer
        yield ws


def read_to_the_end(ws: ClientConnection) -> tuple[int, int | None]:
    """Read what reached the stuck subscriber: the changes before the server closed it, and the close code."""
    received = 0
    try:
        while True:
            frame = json.loads(ws.recv(timeout=15))
            assert frame["type"] == "change", frame
            received += 1
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return received, None  # the server never closed it: it was not stuck, or the queue never filled


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://", 1) + "/realtime"


def check_subscribers(reports: list[dict[str, object]], expected: int) -> None:
    """Every normal subscriber got every change (``expected``) once, in order, and was never closed."""
    assert len(reports) == NORMAL, reports
    for report in reports:
        assert report["close"] is None, f"a subscriber that keeps up was closed: {report}"
        assert (report["missing"], report["duplicates"], report["out_of_order"]) == (0, 0, 0), report
        assert report["frames"] == expected, report


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
