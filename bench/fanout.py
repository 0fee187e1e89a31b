"""Realtime fan-out: 100 WebSocket subscribers of one collection while HTTP writers PATCH it.

One ``jsonserve`` on a JSON file (100 posts), pinned to CPU 1 like ``bench/run.py``'s servers; on
loopback:

* the subscribers: ``--subscribers`` WebSocket connections (the ``websockets`` client), each
  subscribed to ``posts``, spread over ``--client-processes`` processes so that the client is not
  the bottleneck (each process's CPU use is printed: a process near 100 % of a core would be);
* the writers: ``--writers`` keep-alive HTTP connections (``httpx``) in this process, each PATCHing
  ``/posts/{k % 100}`` with ``{"n": k}``, where ``k`` numbers the writes;
* two phases: writes at full speed, then at a fixed rate (``--rate``, default 1,000 writes/s, held by
  a token schedule: write ``k`` is due at ``start + k / rate``).

Reported per phase: writes/s acknowledged, change frames delivered per second (summed over the
subscribers), and the end-to-end latency (the writer's 2xx received -> the frame carrying ``n = k``
received by a subscriber; both clocks are the system's ``CLOCK_MONOTONIC``) at p50/p99 over every
(write, subscriber) pair; the frames a subscriber missed or got out of order, and 1013 closes. A
frame may arrive before its writer has read the 2xx: such a latency counts as 0. The load average
is printed with every figure; the goal (issue 15) is p99 < 50 ms at 1,000 writes/s with 100
subscribers.

    python bench/fanout.py                    # 100 subscribers, 5 s full speed, 5 s at 1,000 writes/s
    python bench/fanout.py --seconds 10 --rate 500 --no-doc
"""

# ruff: noqa: T201, S101, S603, S607, D103 - a script: it prints and runs a server and client processes

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

POSTS = 100
DOC = run.BENCH.parent / "docs" / "benchmarks.md"
START, END = "<!-- fanout:start -->", "<!-- fanout:end -->"


# -- the subscribers (child processes) ----------------------------------------------------------------


@dataclass
class Received:
    """What one subscriber saw: ``(n, monotonic time)`` per change frame, and how it ended."""

    arrivals: list[tuple[int, float]] = field(default_factory=list)
    seqs_in_order: bool = True
    close_code: int | None = None


async def subscriber(url: str, got: Received, ready: asyncio.Event, count: list[int]) -> None:
    async with connect(url, max_queue=None) as ws:
        await ws.send('{"type": "subscribe", "id": "s", "collection": "posts"}')
        answer = orjson.loads(await ws.recv())
        assert answer["type"] == "subscribed", answer
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        last = answer["seq"]
        try:
            async for text in ws:
                now = time.monotonic()
                frame = orjson.loads(text)
                if frame["type"] != "change":
                    continue
                got.seqs_in_order &= frame["seq"] > last
                last = frame["seq"]
                got.arrivals.append((frame["record"]["n"], now))
        except ConnectionClosed as closed:
            got.close_code = closed.rcvd.code if closed.rcvd else None


async def subscribers(url: str, how_many: int, pipe: Connection) -> None:
    ready = asyncio.Event()
    count = [0, how_many]
    received = [Received() for _ in range(how_many)]
    tasks = [asyncio.create_task(subscriber(url, got, ready, count)) for got in received]
    await ready.wait()
    pipe.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop": the writers are done
    await asyncio.sleep(1.0)  # the last frames in flight
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(received)


def subscriber_process(url: str, how_many: int, pipe: Connection) -> None:
    """One client process: ``how_many`` subscribers until told to stop; sends back what each received."""
    os.sched_setaffinity(0, {int(run.LOAD_CPU)})
    asyncio.run(subscribers(url, how_many, pipe))


# -- the writers (this process) -------------------------------------------------------------------


@dataclass
class Phase:
    """One phase's writes: ``k`` -> when its 2xx arrived (monotonic), and the phase's span."""

    name: str
    acked: dict[int, float] = field(default_factory=dict)
    began: float = 0.0
    ended: float = 0.0
    failures: int = 0
    first: int = 0


async def write(
    base: str, writers: int, phase: Phase, first: int, seconds: float, rate: float | None, lateness: list[float]
) -> None:
    tickets = iter(range(first, first + 10**9))
    phase.first = first
    phase.began = time.monotonic()
    deadline = phase.began + seconds

    async def one(client: httpx.AsyncClient) -> None:
        for k in tickets:
            if rate is not None:
                due = phase.began + (k - first) / rate
                if due >= deadline:
                    return
                if (pause := due - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                lateness.append(time.monotonic() - due)
            elif time.monotonic() >= deadline:
                return
            response = await client.patch(f"/posts/{1 + k % POSTS}", content=b'{"n": %d}' % k)
            if response.status_code == 200:
                phase.acked[k] = time.monotonic()
            else:
                phase.failures += 1

    limits = httpx.Limits(max_connections=writers)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers, timeout=10.0) as client:
        await asyncio.gather(*(one(client) for _ in range(writers)))
    phase.ended = time.monotonic()


# -- the figures ------------------------------------------------------------------------------------


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def figures(phase: Phase, received: list[Received], load: str) -> dict[str, Any]:
    span = phase.ended - phase.began
    latencies: list[float] = []
    frames = missing = 0
    for got in received:
        seen = {n: at for n, at in got.arrivals if n in phase.acked}
        frames += len(seen)
        missing += len(phase.acked) - len(seen)
        latencies += [max(0.0, at - phase.acked[n]) * 1000 for n, at in seen.items()]
    return {
        "phase": phase.name,
        "writes": len(phase.acked),
        "writes_per_s": len(phase.acked) / span,
        "frames_per_s": frames / span,
        "p50_ms": quantile(latencies, 50),
        "p99_ms": quantile(latencies, 99),
        "missing": missing,
        "failures": phase.failures,
        "load": load,
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    args: argparse.Namespace, url: str, pid: int, name: str, first: int, rate: float | None
) -> dict[str, Any]:
    """Fresh subscribers, one phase of writes, the figures (with the CPU each process used)."""
    ws_url = url.replace("http://", "ws://") + "/realtime"
    ctx = multiprocessing.get_context("spawn")
    clients = []
    for how_many in split(args.subscribers, args.client_processes):
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=subscriber_process, args=(ws_url, how_many, theirs), daemon=True)
        process.start()
        clients.append((process, mine))
    try:
        for _process, pipe in clients:
            if not pipe.poll(60):
                raise SystemExit("the subscribers did not connect within 60 s")
            pipe.recv()
        phase = Phase(name)
        lateness: list[float] = []
        cpu_before = [cpu_seconds(p.pid) for p, _ in clients] + [cpu_seconds(pid)]
        asyncio.run(write(url, args.writers, phase, first, args.seconds, rate, lateness))
        span = phase.ended - phase.began
        cpu = [(cpu_seconds(p.pid) - b) / span for (p, _), b in zip(clients, cpu_before, strict=False)]
        server_cpu = (cpu_seconds(pid) - cpu_before[-1]) / span
        load = loadavg()
        received: list[Received] = []
        for _process, pipe in clients:
            pipe.send("stop")
        for _process, pipe in clients:
            if not pipe.poll(60):
                raise SystemExit("a subscriber process did not report within 60 s")
            received += pipe.recv()
    finally:
        for process, _pipe in clients:
            process.join(10)
            if process.is_alive():
                process.kill()
    result = figures(phase, received, load)
    result |= {
        "client_cpu": cpu,
        "server_cpu": server_cpu,
        "server_us_per_frame": server_cpu * span / max(1, result["frames_per_s"] * span) * 1e6,
        "closed_1013": sum(got.close_code == 1013 for got in received),
        "out_of_order": sum(not got.seqs_in_order for got in received),
        "subscribers": len(received),
        "lateness_p99_ms": quantile(lateness, 99) * 1000 if lateness else None,
    }
    print(describe(result))
    return result


def describe(r: dict[str, Any]) -> str:
    clients = "/".join(f"{100 * c:.0f} %" for c in r["client_cpu"])
    late = "" if r["lateness_p99_ms"] is None else f", schedule p99 lateness {r['lateness_p99_ms']:.0f} ms"
    return (
        f"{r['phase']}: {r['writes_per_s']:,.0f} writes/s, {r['frames_per_s']:,.0f} frames/s to {r['subscribers']}"
        f" subscribers, latency p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; missing {r['missing']},"
        f" out of order {r['out_of_order']}, 1013 {r['closed_1013']}, failed writes {r['failures']};"
        f" CPU server {100 * r['server_cpu']:.0f} % ({r['server_us_per_frame']:.1f} µs per frame),"
        f" clients {clients}{late}; load {r['load']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--client-processes", type=int, default=2, help="processes the subscribers are spread over")
    parser.add_argument("--writers", type=int, default=8, help="HTTP connections writing")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="writes/s of the fixed-rate phase")
    parser.add_argument("--folder", type=Path, default=run.WORK, help="where the JSON file lives (/dev/shm: no disk)")
    parser.add_argument(
        "--baseline", default="", help="also run this git ref's src (e.g. main), in turns with the current tree"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    folder = args.folder / "jsonserve-fanout"
    data = args.folder / "jsonserve-fanout-db.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps({"posts": [{"id": i, "title": f"post {i}", "n": 0} for i in range(1, POSTS + 1)]}))
    target = run.Target(
        "jsonserve-json",
        "jsonserve (JSON file)",
        frozenset({"0.17", "1"}),
        run._copy_json,
        lambda folder, port: run._jsonserve(str(folder / "db.json"), "--port", str(port)),
    )
    machine = run.machine()
    print(f"load before: {loadavg()}")
    trees = {"current tree": None}
    if args.baseline:
        commit = subprocess.run(["git", "rev-parse", "--short", args.baseline], capture_output=True, text=True).stdout
        trees = {f"{args.baseline} (`{commit.strip()}`)": baseline_src(args.baseline), **trees}
    results: dict[str, list[dict[str, Any]]] = {}
    for name, src in trees.items():
        print(f"-- {name}")
        with source(src), run.serve(target, data, folder) as running:
            pid = running.process.pid
            results[name] = [
                run_phase(args, running.url, pid, "full speed", 0, None),
                run_phase(args, running.url, pid, f"{args.rate:,.0f} writes/s", 10**8, args.rate),
            ]
    current = results["current tree"]
    print(f"goal (p99 < 50 ms at {args.rate:,.0f} writes/s, nothing missing): {verdict(current[1], args.rate)}")
    if not args.no_doc:
        write_doc(machine, args, results)


def baseline_src(ref: str) -> Path:
    """``ref``'s ``src`` folder, extracted under bench/.work (run with ``PYTHONPATH`` pointing there)."""
    folder = run.WORK / "fanout-baseline"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref, "src"], cwd=run.BENCH.parent, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


@contextlib.contextmanager
def source(src: Path | None) -> Iterator[None]:
    """Servers started inside run ``src``'s package instead of the installed one (``None``: the installed one)."""
    before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def verdict(result: dict[str, Any], rate: float) -> str:
    return "holds" if reached(result, rate) else "**misses**"


def reached(result: dict[str, Any], rate: float) -> bool:
    """The goal: the rate held (within 5 %), p99 < 50 ms, nothing missing."""
    return result["writes_per_s"] >= 0.95 * rate and result["p99_ms"] < 50 and not result["missing"]


def write_doc(machine: dict[str, Any], args: argparse.Namespace, results: dict[str, list[dict[str, Any]]]) -> None:
    rows = "\n".join(
        f"| {tree} | {r['phase']} | {r['writes_per_s']:,.0f} | {r['frames_per_s']:,.0f} | {r['p50_ms']:.1f} ms"
        f" | {r['p99_ms']:.1f} ms | {r['missing']} / {r['closed_1013']} | {100 * r['server_cpu']:.0f} %"
        f" | {r['server_us_per_frame']:.1f} µs"
        f" | {'/'.join(f'{100 * c:.0f} %' for c in r['client_cpu'])} | {r['load']} |"
        for tree, runs in results.items()
        for r in runs
    )
    block = f"""{START}
## Realtime fan-out

Produced by `python bench/fanout.py` on {machine["date"]} at commit `{machine["commit"]}` ({machine["cpu"]},
{machine["cores"]} cores shared with other work; load average before the run {machine["load_before"]}): one
server on a JSON file ({POSTS} posts) pinned to CPU 1; {args.subscribers} WebSocket subscribers of `posts`
(the `websockets` client, in {args.client_processes} processes on CPU 0, fresh for each phase); {args.writers}
HTTP connections PATCHing `/posts/{{k}}` with `{{"n": k}}`, {args.seconds:g} s per phase. Latency: the
writer's 2xx received -> the frame received by a subscriber, over every (write, subscriber) pair; frames/s
are summed over the subscribers; "per frame" is the server's CPU time per frame delivered.

| code | phase | writes/s | frames/s | p50 | p99 | missing / 1013 | server CPU | per frame | clients | load |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
{rows}

Goal (issue 15): p99 < 50 ms at {args.rate:,.0f} writes/s with {args.subscribers} subscribers:
{verdict(results["current tree"][1], args.rate)}.

How to read it: the server gets the share of CPU 1 the machine leaves it (the "server CPU" column),
so on a busy machine writes/s, frames/s and latencies are the machine's as much as the server's; the
CPU time per frame delivered is the figure that compares code (it includes each write's own handling,
shared by its 100 frames). When the writes/s stay below the fixed rate, the schedule slipped and that
phase is really another full-speed one.

Why the goal is not reached here: on a quiet machine (load about 1), the server used about half of
its core, and the writes/s stopped at 540-610 because the load generator ran out of CPU 0: the 100
subscribers (two Python processes parsing 55,000-61,000 frames/s) and the 8 writers share that one
core. At what it reached, p99 was 15-17 ms. 1,000 writes/s to 100 subscribers is 100,000 frames/s:
at 8.5-9 µs per frame the server alone needs about 0.9 of a core, which leaves nothing of a 2-core
machine for the clients, so the goal cannot be measured here; it needs a machine with cores to spare
for the clients (or `--workers`, on SQLite or PostgreSQL, to spread the subscribers over processes).

Where the time went (py-spy on the server): first, about 40 % of samples in uvicorn's per-message
send (the ASGI round, the websockets framing, one `transport.write` system call per frame) and 20 %
in permessage-deflate, compressing each frame once per subscriber. Then: each change is encoded once
(only `sub` differs between subscribers); permessage-deflate is not negotiated; a live change to an
idle connection is framed at once from the fan-out loop (no task switch, no ASGI round) and written at
the end of the event loop's round, so all the changes a group commit publishes reach one connection
in one system call (10.0-10.5 -> 8.1-8.5 µs per frame, same run). What remains per frame: the
`transport.write` system call (a quarter of the server's samples), the frame's building and the
write's own handling.
{END}"""
    run.write_block(DOC, START, END, block)


if __name__ == "__main__":
    main()
