"""S2, S3: slow clients and a connection flood, against a real server over raw sockets.

* S2: 500 slowloris connections (one header byte a second) and 200 idle ones are each closed at the
  header deadline (the slow ones with a 408 problem+json), while a legitimate client's GETs (new
  connection each, and keep-alive) stay 2xx with p99 < 100 ms; the server's FD count returns to its
  baseline. A body that dribbles past the body deadline gets a 408 and stores nothing; a client
  slow but within the deadlines is served; a keep-alive connection's next request is held to the
  deadline counted from the previous response.
* S3: beyond ``--max-connections`` a request gets 503 problem+json with ``Retry-After``; service
  is back within 1 s of the flood closing.

Deadlines are short (2 s) so the file runs in seconds. With stock uvicorn (no deadlines, plain-text
503) every test here fails: connections stay open past the margin, or the 503 is not problem+json.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.helpers import problem_errors, raw_request, start, wait_until
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 2.0  # --header-timeout and --body-timeout
MARGIN = 1.5  # scheduling, accept backlog and polling slack on a loaded 2-core machine
DEADLINE_ARGS = ["--header-timeout", str(DEADLINE), "--body-timeout", str(DEADLINE)]
SEED = {"posts": [{"id": 1, "title": "seed"}]}
GET = b"GET /posts/1 HTTP/1.1\r\nHost: test\r\n\r\n"
GET_CLOSE = b"GET /posts/1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
SLOWLORIS = 500
IDLE = 200


@pytest.fixture(scope="module", autouse=True)
def enough_file_descriptors() -> None:
    """700+ sockets in this process (and as many in the server, which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "db.json"
    path.write_text(json.dumps(SEED))
    return path


@pytest.fixture
def serve(data: Path) -> Iterator[Callable[..., Server]]:
    """``serve(*options)``: a server on ``data`` (stopped after the test, whose log must hold no traceback)."""
    servers: list[Server] = []

    def run(*options: str) -> Server:
        servers.append(start([str(data), *options], data.parent))
        return servers[-1]

    yield run
    for server in servers:
        server.stop()
    for server in servers:
        assert "Traceback" not in server.output()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid: int) -> int:
    """The server's FD count once it has not changed for 0.3 s (closes are noticed asynchronously)."""
    last, since = fd_count(pid), time.monotonic()
    deadline = since + 5
    while time.monotonic() < deadline and time.monotonic() - since < 0.3:
        time.sleep(0.05)
        now = fd_count(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


@dataclass
class Peer:
    """One client socket: when it opened, what it received, when the server closed it."""

    sock: socket.socket
    opened: float
    script: bytes = b""  # sent one byte per tick
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    closed: float | None = None

    @property
    def lifetime(self) -> float:
        assert self.closed is not None
        return self.closed - self.opened


def watch(peers: list[Peer], *, until: float, tick: float = 1.0, first_tick: float | None = None) -> None:
    """Send each peer's script one byte per ``tick`` and record when the server closes each, until ``until``."""
    selector = selectors.DefaultSelector()
    for peer in peers:
        selector.register(peer.sock, selectors.EVENT_READ, peer)
    next_tick = time.monotonic() + (tick if first_tick is None else first_tick)
    try:
        while any(peer.closed is None for peer in peers) and time.monotonic() < until:
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + tick
                for peer in peers:
                    if peer.closed is None and peer.sent < len(peer.script):
                        try:
                            peer.sock.send(peer.script[peer.sent : peer.sent + 1])
                            peer.sent += 1
                        except OSError:  # already closed by the server: the read side records when
                            pass
            timeout = max(0.0, min(next_tick, until) - time.monotonic())
            for key, _ in selector.select(timeout):
                peer = key.data
                try:
                    chunk = peer.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    peer.received += chunk
                else:
                    peer.closed = time.monotonic()
                    selector.unregister(peer.sock)
    finally:
        selector.close()


def parse(raw: bytes | bytearray) -> tuple[int, dict[str, str], bytes]:
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_408(raw: bytes | bytearray) -> None:
    status, headers, body = parse(raw)
    assert problem_errors(status, headers.get("content-type", ""), body, 408) == []
    assert json.loads(body)["code"] == "request_timeout"
    assert headers.get("connection") == "close"


class LegitClient(threading.Thread):
    """Sequential GETs until stopped, alternating a new connection each time and one kept alive."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.errors: list[str] = []

    def run(self) -> None:
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=5) as kept, httpx.Client(timeout=5, limits=fresh) as new_each_time:
            for turn in itertools.count():
                if self.stopping.is_set():
                    return
                client = kept if turn % 2 else new_each_time
                started = time.perf_counter()
                try:
                    response = client.get(self.url + "/posts/1")
                except httpx.HTTPError as error:
                    self.errors.append(repr(error))
                    continue
                self.latencies.append(time.perf_counter() - started)
                self.statuses.append(response.status_code)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def test_s2_slowloris_and_idle_connections_are_closed_at_the_header_deadline(serve: Callable[..., Server]) -> None:
    serving = serve(*DEADLINE_ARGS)
    pid = serving.process.pid
    for _ in range(20):  # warm up: lazily opened files, the first connections
        raw_request(serving.port, GET_CLOSE)
    with httpx.Client() as client:
        client.get(serving.url + "/posts/1")
    baseline = settled_fd_count(pid)

    legit = LegitClient(serving.url)
    legit.start()
    try:
        time.sleep(0.2)
        slow = [Peer(connect(serving.port), time.monotonic(), script=GET) for _ in range(SLOWLORIS)]
        idle = [Peer(connect(serving.port), time.monotonic()) for _ in range(IDLE)]
        peers = slow + idle
        assert wait_until(lambda: fd_count(pid) >= baseline + len(peers) * 0.9, 2) is not None
        watch(peers, until=time.monotonic() + DEADLINE + MARGIN + 0.5, first_tick=0.0)
    finally:
        legit.stopping.set()
        legit.join(10)
    for peer in peers:
        peer.sock.close()

    still_open = [peer for peer in peers if peer.closed is None]
    assert not still_open, f"{len(still_open)} connections still open after {DEADLINE + MARGIN} s"
    lifetimes = sorted(peer.lifetime for peer in peers)
    assert lifetimes[-1] <= DEADLINE + MARGIN, lifetimes[-5:]
    assert lifetimes[0] >= DEADLINE - 0.5, lifetimes[:5]  # cut by the deadline, not earlier
    for peer in slow:  # it had begun a request: it is told why
        assert_408(peer.received)
    assert all(peer.received == b"" for peer in idle)  # it had sent nothing: closed silently

    assert not legit.is_alive()
    assert not legit.errors, legit.errors[:3]
    assert len(legit.statuses) >= 200, len(legit.statuses)
    assert all(200 <= status < 300 for status in legit.statuses)
    assert legit.p99() < 0.100, f"p99 {legit.p99() * 1000:.1f} ms over {len(legit.latencies)} GETs"

    assert wait_until(lambda: abs(fd_count(pid) - baseline) <= 5, 5) is not None, (fd_count(pid), baseline)


def test_a_body_slower_than_the_deadline_gets_408_and_stores_nothing(serve: Callable[..., Server]) -> None:
    serving = serve(*DEADLINE_ARGS)
    body = json.dumps({"title": "never stored", "padding": "x" * 40}).encode()
    head = (
        b"POST /posts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    sock = connect(serving.port)
    sock.sendall(head + body[:5])
    peer = Peer(sock, time.monotonic(), script=body[5:])  # one byte every 0.25 s: 20 s for the whole body
    watch([peer], until=time.monotonic() + DEADLINE + MARGIN, tick=0.25)
    sock.close()

    assert peer.closed is not None, "the connection is still open"
    assert DEADLINE - 0.5 <= peer.lifetime <= DEADLINE + MARGIN, peer.lifetime
    assert_408(peer.received)
    assert httpx.get(serving.url + "/posts").json() == SEED["posts"]


def test_a_client_slow_but_within_the_deadlines_is_served(serve: Callable[..., Server]) -> None:
    serving = serve(*DEADLINE_ARGS)
    body = b'{"title": "slow but fine"}'
    request = (
        b"POST /posts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    pieces = [request[:10], request[10:40], request[40:], body[:10], body[10:]]  # headers over 1 s, body 1 s
    sock = connect(serving.port)
    peer = Peer(sock, time.monotonic())
    for piece in pieces:
        sock.sendall(piece)
        time.sleep(0.5)
    watch([peer], until=time.monotonic() + DEADLINE + MARGIN)
    sock.close()

    status, _, response = parse(peer.received)
    assert status == 201, peer.received[:300]
    assert json.loads(response)["title"] == "slow but fine"
    with socket.create_connection(("127.0.0.1", serving.port), timeout=5) as sock:  # headers over 1.5 s: fine
        for piece in (GET_CLOSE[:5], GET_CLOSE[5:20], GET_CLOSE[20:30], GET_CLOSE[30:]):
            sock.sendall(piece)
            time.sleep(0.5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("idle_first", [0.0, 1.5], ids=["at-once", "first-request-late"])
def test_a_kept_alive_connection_gets_the_deadline_from_its_previous_response(
    serve: Callable[..., Server], idle_first: float
) -> None:
    # first-request-late: the first request comes 1.5 s into the 2 s header deadline, so the clock
    # the connection started with would close it 0.5 s after the answer; the answer restarts it.
    serving = serve(*DEADLINE_ARGS)
    sock = connect(serving.port)
    sock.setblocking(True)
    time.sleep(idle_first)
    sock.sendall(GET)
    first = b""
    while b"\r\n\r\n" not in first or len(first.partition(b"\r\n\r\n")[2]) < int(parse(first)[1]["content-length"]):
        first += sock.recv(65536)
    answered = time.monotonic()
    assert first.startswith(b"HTTP/1.1 200 ")
    sock.setblocking(False)
    peer = Peer(sock, answered, script=GET)  # the next request starts after 0.5 s, one byte a second
    watch([peer], until=answered + DEADLINE + MARGIN, first_tick=0.5)
    sock.close()

    assert peer.closed is not None, "the connection is still open"
    assert DEADLINE - 0.5 <= peer.lifetime <= DEADLINE + MARGIN, peer.lifetime
    assert_408(peer.received)


def test_s3_beyond_max_connections_503_problem_then_recovery_within_1s(serve: Callable[..., Server]) -> None:
    serving = serve("--max-connections", "50", "--header-timeout", "30")
    held = [connect(serving.port) for _ in range(49)]  # idle: within the header deadline they hold on
    try:
        served = raw_request(serving.port, GET_CLOSE, timeout=5)  # the 50th connection is still served
        assert served.status == 200, served
        held += [connect(serving.port) for _ in range(51)]  # 100 held
        for _ in range(3):
            refused = raw_request(serving.port, GET_CLOSE, timeout=5)
            assert problem_errors(refused.status, refused.content_type, refused.body, 503) == []
            assert json.loads(refused.body)["code"] == "too_many_connections"
            assert refused.headers.get("retry-after") == "1"
            assert refused.headers.get("connection") == "close"
    finally:
        for sock in held:
            sock.close()
    flood_gone = time.monotonic()

    def served_again() -> bool:
        return raw_request(serving.port, GET_CLOSE, timeout=5).status == 200

    took = wait_until(served_again, 1.0)
    assert took is not None, f"still refused {time.monotonic() - flood_gone:.2f} s after the flood closed"
