"""WebSocket subscribers in a process of their own, for the soak (S1): ``python -m tests.reliability.subscribers``.

``URL N``: opens ``N`` connections to ``URL`` (``ws://.../realtime``), each subscribed to every collection named
by ``--collections`` (one subscription per collection), and prints ``ready`` once all are subscribed.
It then records every change (and reset) frame until a line arrives on stdin; each connection then
subscribes once more (to ``--probe``, a collection nobody writes to) and reads up to its
``subscribed`` answer, whose ``seq`` is the store's latest at that moment: every change up to it was
queued to this connection before that answer. One JSON line per connection is printed last:

``{"first": S0, "last": S, "frames": n, "duplicates": d, "out_of_order": o, "missing": m, "close": code}``

``missing`` counts the seqs in ``(S0, S]`` that none of the connection's subscriptions received (every
write of the soak goes to those collections, so there must be none); ``close`` is the close code if the
server closed the connection (1013: it fell behind), else ``null``. A separate process, so that
receiving thousands of frames a second does not take the GIL from the soak's writer threads, whose
latencies are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROBE = "__end__"
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running(ws_url: str, count: int, *options: str) -> Iterator[subprocess.Popen[str]]:
    """This program in a process of its own, its ``count`` connections subscribed; killed by PID on the way out."""
    argv = [sys.executable, "-m", "tests.reliability.subscribers", ws_url, str(count), *options]
    process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "ready", or "" when it failed (it gives up after 60 s)
        assert first.strip() == "ready", f"the subscribers did not connect (exit {process.poll()})"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def finish(process: subprocess.Popen[str], timeout: float) -> list[dict[str, object]]:
    """Tell the subscribers the writes are over; what each received (one JSON line per connection)."""
    out, _ = process.communicate("stop\n", timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@dataclass
class Tally:
    """What one connection received."""

    first: int = 0
    last: int = 0
    frames: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    missing: int = 0
    close: int | None = None
    seqs: set[int] = field(default_factory=set)
    latest: dict[str, int] = field(default_factory=dict)  # subscription -> last seq received

    def take(self, frame: dict[str, object]) -> None:
        seq, sub = frame["seq"], str(frame["sub"])
        assert isinstance(seq, int)
        self.frames += 1
        self.duplicates += seq in self.seqs
        self.out_of_order += seq <= self.latest.get(sub, self.first)
        self.latest[sub] = seq
        self.seqs.add(seq)

    def report(self) -> dict[str, object]:
        self.missing = sum(1 for seq in range(self.first + 1, self.last + 1) if seq not in self.seqs)
        return {key: value for key, value in asdict(self).items() if key not in ("seqs", "latest")}


async def subscribe(ws: ClientConnection, sub: str, collection: str, tally: Tally) -> int:
    """Subscribe; the ``subscribed`` answer's ``seq`` (change frames read meanwhile are tallied)."""
    await ws.send(orjson.dumps({"type": "subscribe", "id": sub, "collection": collection}))
    while True:
        frame = orjson.loads(await ws.recv())
        if frame["type"] == "subscribed" and frame["id"] == sub:
            return int(frame["seq"])
        if frame["type"] in ("change", "reset"):
            tally.take(frame)
        else:
            raise AssertionError(f"unexpected frame while subscribing: {frame}")


async def follow(url: str, collections: list[str], probe: str, subscribed: asyncio.Event, stop: asyncio.Event) -> Tally:
    tally = Tally()
    try:
        async with connect(url, max_queue=None) as ws:
            starts = [await subscribe(ws, f"s{i}", name, tally) for i, name in enumerate(collections)]
            tally.first = max(starts)
            subscribed.set()

            async def end() -> None:  # sending while the loop below reads is allowed (receiving twice is not)
                await stop.wait()
                await ws.send(orjson.dumps({"type": "subscribe", "id": PROBE, "collection": probe}))

            ender = asyncio.create_task(end())
            try:
                async for text in ws:
                    frame = orjson.loads(text)
                    if frame["type"] in ("change", "reset"):
                        tally.take(frame)
                    elif frame["type"] == "subscribed" and frame["id"] == PROBE:
                        tally.last = int(frame["seq"])
                        return tally
                    else:
                        raise AssertionError(f"unexpected frame: {frame}")
            finally:
                ender.cancel()
            tally.close = ws.close_code  # closed by the server (normally)
    except ConnectionClosed as closed:
        tally.close = closed.rcvd.code if closed.rcvd else 1006
    return tally


async def main(url: str, count: int, collections: list[str], probe: str) -> None:
    stop = asyncio.Event()
    ready = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(follow(url, collections, probe, event, stop)) for event in ready]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 60)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    for tally in await asyncio.wait_for(asyncio.gather(*tasks), 60):
        print(orjson.dumps(tally.report()).decode(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--collections", default="posts,comments")
    parser.add_argument("--probe", default="users")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.count, args.collections.split(","), args.probe))
