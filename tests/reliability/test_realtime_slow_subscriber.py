"""A subscriber that stops reading is closed with 1013, and the writers do not notice (a real server, on every backend).

The contract (reference/realtime.md): "A subscriber that cannot keep up is closed with code 1013;
writers are never slowed down by a slow subscriber." Checked end to end, per backend (memory: the
built-in demo data; a JSON file; SQLite; PostgreSQL), against a ``jsonserve`` process with a small
send queue (``--realtime-queue`` :data:`QUEUE`):

* :data:`WRITERS` threads POST records of :data:`PAYLOAD` incompressible bytes to ``/posts`` over
  keep-alive httpx connections, on a fixed schedule (:data:`RATE` writes a second, all together),
  :data:`ROUND_WRITES` writes a round; each write's latency (request sent to response read) is kept;
* :data:`NORMAL` subscribers of ``posts`` read everything, in a process of their own
  (``tests/reliability/subscribers.py``: their reading does not take the GIL from the writer threads);
* rounds alternate A (just that) and B (that, plus one more subscriber of ``posts`` that subscribes,
  then reads nothing: a 4 KiB socket receive buffer and a one-message client queue, so the server's
  socket, its transport buffer and then its send queue fill within a few dozen writes). After each B
  round's writes that subscriber reads what reached it: fewer changes than the round wrote, then the
  close frame the server sent, with code 1013.

Pass: in every B round the stuck subscriber was closed with 1013 before the round ended; the median
over the B rounds of the writers' p99 latency is within :data:`SLACK` (20 %) of the median over the A
rounds (medians of :data:`PAIRS` rounds each, alternated, so that a busy moment of the shared 2-core
machine moves both sides); no write failed; the normal subscribers got every change once, in ``seq``
order, and none of them was closed.

A server whose writers waited for a slow subscriber's queue to have room fails here: either the
writes hang (no 1013, the round times out), or, if the wait were bounded before the 1013, the B
rounds' p99 grows by that bound.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import require_postgres
from tests.reliability.helpers import start
from tests.reliability.stores import Store, throwaway_database
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

POSTGRES_PREFIX = "jsonserve_rtslow"
KINDS = ("memory", "jsonfile", "sqlite", "postgres")
QUEUE = int(os.environ.get("RTS_QUEUE", 64))  # --realtime-queue: frames queued for a connection before it is closed with 1013
PAYLOAD = int(os.environ.get("RTS_PAYLOAD", 8000))  # bytes of hex in each record: the stuck subscriber's buffers fill within some 20 writes
WRITERS = 4
RATE = 200.0  # writes per second, all writers together, on a fixed schedule
ROUND_WRITES = int(os.environ.get("RTS_ROUND", 160))
WARMUP_WRITES = 50
PAIRS = int(os.environ.get("RTS_PAIRS", 5))  # rounds A and B each, alternated: A B A B A B
NORMAL = 2  # subscribers that keep up
SLACK = 1.20  # B's p99 may be at most this times A's
RECEIVE_BUFFER = 4096  # the stuck subscriber's SO_RCVBUF, set before connecting: it caps the TCP window
SEGMENT = 536  # and its TCP_MAXSEG: on loopback (MSS 64 KiB) the server's send buffer would hold some 2 MB
ROOT = Path(__file__).resolve().parents[2]
SEED = {"posts": [], "users": []}  # users: the subscribers' probe collection (nobody writes to it)


@dataclass
class Round:
    """One round's writes: their latencies in seconds, and any failure."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98]


@pytest.mark.parametrize("kind", KINDS)
def test_a_stuck_subscriber_is_closed_with_1013_and_writers_p99_holds(kind: str, tmp_path: Path) -> None:
    with serving(kind, tmp_path) as server, subscribers(server) as normal:
        write_round(server, Round("warm-up"), WARMUP_WRITES)
        rounds = {"A": list[Round](), "B": list[Round]()}
        for pair in range(PAIRS):
            rounds["A"].append(write_round(server, Round(f"A{pair}"), ROUND_WRITES))
            with stuck_subscriber(server) as stuck:
                rounds["B"].append(write_round(server, Round(f"B{pair}"), ROUND_WRITES))
                received, code = read_to_the_end(stuck)
            assert code == 1013, f"B{pair}: the stuck subscriber was closed with {code}, after {received} changes"
            assert received < ROUND_WRITES, f"B{pair}: the stuck subscriber got all {received} changes"
        reports = finish(normal)
    assert "Traceback" not in server.output(), server.output()[-3000:]
    for name, kind_rounds in rounds.items():
        for done in kind_rounds:
            assert not done.errors, f"{done.name}: {done.errors[:3]}"
            assert len(done.latencies) == ROUND_WRITES, f"{done.name}: {len(done.latencies)} writes"
    check_subscribers(reports)
    a, b = (statistics.median(done.p99 for done in rounds[side]) for side in "AB")
    figures = ", ".join(f"{done.name} {done.p99 * 1000:.1f}" for done in itertools.chain(*zip(*rounds.values())))
    print(f"\n{kind}: writers' p99 ms {figures}; median A {a * 1000:.1f}, B {b * 1000:.1f}; load {load()}")
    assert b <= SLACK * a, f"writers' p99 with a stuck subscriber {b * 1000:.1f} ms > {SLACK} x {a * 1000:.1f} ms"


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
    with connect(ws_url(server), sock=sock, max_queue=1, compression=None, open_timeout=10) as ws:
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


@contextlib.contextmanager
def subscribers(server: Server) -> Iterator[subprocess.Popen[str]]:
    """The :data:`NORMAL` subscribers' process, subscribed to ``posts``; killed by PID if it is still running."""
    argv = [sys.executable, "-m", "tests.reliability.subscribers", ws_url(server), str(NORMAL)]
    argv += ["--collections", "posts", "--probe", "users"]
    process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "ready", or "" when it failed
        assert first.strip() == "ready", f"the subscribers did not connect (exit {process.poll()})"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def finish(process: subprocess.Popen[str]) -> list[dict[str, object]]:
    """Tell the subscribers the writes are over; what each received (one JSON line per connection)."""
    out, _ = process.communicate("stop\n", timeout=60)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def check_subscribers(reports: list[dict[str, object]]) -> None:
    """Every normal subscriber got every change once, in order, and was never closed."""
    assert len(reports) == NORMAL, reports
    expected = WARMUP_WRITES + 2 * PAIRS * ROUND_WRITES
    for report in reports:
        assert report["close"] is None, f"a subscriber that keeps up was closed: {report}"
        assert (report["missing"], report["duplicates"], report["out_of_order"]) == (0, 0, 0), report
        assert report["frames"] == expected, report


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
