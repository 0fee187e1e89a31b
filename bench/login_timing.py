"""Login timing: does a failed login take as long for an unknown email as for a wrong password?

The contract (reference/auth.md) says a wrong password and an unknown email give the same answer and
take the same time (an unknown email is verified against a dummy argon2id hash). This script measures
it over a real socket:

1. writes a ``db.json`` with ``--count`` users holding an argon2id hash (what registration stores,
   made by jsonserve's own ``Passwords``) and ``--count`` users holding a json-server-auth bcrypt hash
   (``$2a$``, 10 rounds: what an imported json-server-auth ``db.json`` holds until each user logs in);
2. starts ``jsonserve db.json --auth`` on a free loopback port;
3. after a warm-up, makes ``--count`` logins of each kind, interleaved in a shuffled order: an unknown
   email, a wrong password for an argon2id user, a wrong password for a bcrypt user;
4. prints mean, median and p95 of each kind, and the differences to the unknown email's; stops the
   server by its PID.

The throttle counts failures per account (5 in 15 minutes) and per client address (20): every
attempt uses another account or a fresh email, and comes from another loopback address (127.0.0.N,
all of 127/8 is loopback on Linux), so that no attempt is throttled (a 429 aborts the run).

    python bench/login_timing.py [--count 50] [--seed 1]
"""

# ruff: noqa: T201, S603 - a script: it prints and runs jsonserve

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import bcrypt
import httpx

from jsonserve.auth.passwords import Passwords

KINDS = ("unknown email", "wrong password (argon2id)", "wrong password (bcrypt $2a$10)")
RIGHT = "the-right-password"
WARM_UP = 5


def write_db(path: Path, count: int) -> None:
    """``count`` argon2id users and ``count`` bcrypt users (one hash each kind: the salt does not matter here)."""
    argon2 = Passwords().hash(RIGHT)
    legacy = bcrypt.hashpw(RIGHT.encode(), bcrypt.gensalt(10, b"2a")).decode()
    users = [{"id": i + 1, "email": f"argon{i}@example.com", "password": argon2} for i in range(count + WARM_UP)]
    users += [
        {"id": len(users) + i + 1, "email": f"bcrypt{i}@example.com", "password": legacy}
        for i in range(count + WARM_UP)
    ]
    path.write_text(json.dumps({"users": users, "posts": []}))


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(folder: Path) -> Iterator[str]:
    """``jsonserve db.json --auth`` on a free port; stopped by its PID at the end."""
    port = free_port()
    env = {**os.environ, "JSONSERVE_JWT_SECRET": "a benchmark signing key of at least 32 bytes"}
    command = [sys.executable, "-m", "jsonserve", "db.json", "--auth", "--port", str(port), "--quiet"]
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"the server did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                httpx.get(url + "/db", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(15)


class Clients:
    """One HTTP client per loopback source address (127.0.0.2 ...), handed out in turn."""

    def __init__(self, stack: ExitStack, url: str, addresses: int) -> None:
        self._clients = [
            stack.enter_context(
                httpx.Client(base_url=url, timeout=10, transport=httpx.HTTPTransport(local_address=f"127.0.0.{n}"))
            )
            for n in range(2, 2 + addresses)
        ]
        self._next = 0

    def next(self) -> httpx.Client:
        """The client of the next address (round robin)."""
        client = self._clients[self._next % len(self._clients)]
        self._next += 1
        return client


def attempt(clients: Clients, kind: str, index: int, tag: str) -> float:
    """One failed login of ``kind``; its wall time in seconds."""
    email = {
        KINDS[0]: f"nobody-{tag}{index}@example.com",
        KINDS[1]: f"argon{index}@example.com",
        KINDS[2]: f"bcrypt{index}@example.com",
    }[kind]
    client = clients.next()
    started = time.perf_counter()
    response = client.post("/login", json={"email": email, "password": "a-wrong-password"})
    elapsed = time.perf_counter() - started
    if response.status_code != 400:
        raise SystemExit(f"{kind}: expected 400, got {response.status_code} {response.text[:200]}")
    return elapsed


def percentile(samples: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(samples: dict[str, list[float]]) -> None:
    """Print the figures of each kind and the differences to the unknown email's."""
    ms = 1000
    print(f"{'kind':34} {'n':>3} {'mean':>8} {'median':>8} {'p95':>8} {'stdev':>8}   (ms)")
    for kind, values in samples.items():
        print(
            f"{kind:34} {len(values):>3} {statistics.fmean(values) * ms:8.2f} {statistics.median(values) * ms:8.2f} "
            f"{percentile(values, 95) * ms:8.2f} {statistics.stdev(values) * ms:8.2f}"
        )
    base = samples[KINDS[0]]
    for kind in KINDS[1:]:
        mean = (statistics.fmean(samples[kind]) - statistics.fmean(base)) * ms
        median = (statistics.median(samples[kind]) - statistics.median(base)) * ms
        print(f"difference, {kind} - unknown email: mean {mean:+.2f} ms, median {median:+.2f} ms")


def main() -> None:
    """Write the data, start the server, time the logins, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=50, help="logins of each kind (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="jsonserve-login-") as folder, ExitStack() as stack:
        write_db(Path(folder) / "db.json", options.count)
        url = stack.enter_context(server(Path(folder)))
        clients = Clients(stack, url, addresses=100)
        for index in range(WARM_UP):  # the first requests pay for connections and caches: not counted
            for kind in KINDS:
                attempt(clients, kind, options.count + index, "warm")
        samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for index in range(options.count):
            order = list(KINDS)
            rng.shuffle(order)
            for kind in order:
                samples[kind].append(attempt(clients, kind, index, "run"))
    report(samples)


if __name__ == "__main__":
    main()
