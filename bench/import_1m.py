"""Benchmark: import 1,000,000 records from a JSON file into SQLite, then time reads on that database.

What it does (everything in a temporary folder, removed at the end unless ``--keep``):

1. writes a deterministic json-server file of JSONPlaceholder-like posts (``userId`` 1..10000,
   about 200 bytes each, two-space indented as json-server writes it);
2. runs ``jsonserve import posts.json app.db --index posts.userId`` as a child process and takes its
   wall time and peak RSS (``os.wait4``: the child's own rusage, not this script's);
3. starts ``jsonserve app.db`` on a free loopback port, times sequential ``GET /posts/{random id}``
   and ``GET /posts?userId={random}`` with httpx (after a warm-up), then stops the server by its PID;
4. prints the figures and writes them into ``docs/benchmarks.md`` (the block for ``--label``).

Goals: peak RSS < 500 MB and p50 < 5 ms for both reads (the import issue's done-when); with one
client, GET by id p50 < 1 ms and the indexed filter p50 < 2 ms (issue 19, speed round 2).

    python bench/import_1m.py                        # or: make bench-import
    python bench/import_1m.py --records 100000 --no-write
"""

# ruff: noqa: T201, S603, D102, D103, SIM905 - a script: it prints, runs jsonserve, and is read top to bottom

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Import 1M records into SQLite"
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo"
).split()
USERS = 10_000
GOAL_RSS_MB = 500
GOAL_P50_MS = 5.0


@dataclass
class Latency:
    """Sequential request timings of one kind of request."""

    name: str
    samples: list[float]
    stopped_early: bool
    goal_ms: float  # issue 19's p50 goal for this request

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def row(self) -> str:
        note = " (time budget reached)" if self.stopped_early else ""
        return (
            f"| {self.name} | {len(self.samples)}{note} | {self.percentile(50):.2f} | {self.percentile(99):.2f} | "
            f"{statistics.fmean(self.samples) * 1000:.2f} | {'yes' if self.percentile(50) < GOAL_P50_MS else 'NO'} | "
            f"< {self.goal_ms:g} ms: {'yes' if self.percentile(50) < self.goal_ms else 'NO'} |"
        )


def write_posts(path: Path, count: int, seed: int) -> int:
    """A json-server file of ``count`` posts, written in chunks (never all in memory); returns its size."""
    rng = random.Random(seed)
    with path.open("wb") as out:
        out.write(b'{\n  "posts": [')
        for start in range(0, count, 10_000):
            chunk = []
            for number in range(start + 1, min(count, start + 10_000) + 1):
                post = {
                    "userId": rng.randint(1, USERS),
                    "id": number,
                    "title": " ".join(rng.choices(WORDS, k=rng.randint(3, 6))),
                    "body": " ".join(rng.choices(WORDS, k=rng.randint(10, 14))),
                }
                chunk.append(b"\n    " + orjson.dumps(post, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    "))
            out.write((b"," if start else b"") + b",".join(chunk))
        out.write(b"\n  ]\n}\n")
    return path.stat().st_size


def jsonserve(*args: str) -> list[str]:
    return [sys.executable, "-m", "jsonserve", *args]


def run_import(folder: Path) -> tuple[float, float, str]:
    """``jsonserve import``: (seconds, peak RSS in MB of that process, its last stderr line)."""
    command = jsonserve("import", "posts.json", "app.db", "--index", "posts.userId")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stderr=subprocess.PIPE)
    assert process.stderr is not None  # noqa: S101
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    last = stderr.decode(errors="replace").strip().splitlines()[-1:]
    if process.returncode:
        raise SystemExit(f"import failed ({process.returncode}): {stderr.decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024, last[0] if last else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(folder: Path) -> Iterator[str]:
    """``jsonserve app.db`` on a free port; stopped by PID (SIGTERM, then SIGKILL)."""
    port = free_port()
    command = jsonserve("app.db", "--port", str(port), "--quiet")
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url + "/posts/1", timeout=5)
                break
            time.sleep(0.1)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def measure(client: httpx.Client, name: str, paths: list[str], budget: float, goal_ms: float) -> Latency:
    """Time each request (sequential); stop early once ``budget`` seconds are spent."""
    for path in paths[:20]:  # warm-up: connection, page cache, prepared statements
        client.get(path).raise_for_status()
    samples: list[float] = []
    spent = time.perf_counter()
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
        if time.perf_counter() - spent > budget:
            return Latency(name, samples, stopped_early=True, goal_ms=goal_ms)
    return Latency(name, samples, stopped_early=False, goal_ms=goal_ms)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def jsonserve_location() -> str:
    command = [sys.executable, "-c", "import jsonserve; print(jsonserve.__file__)"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def report(args: argparse.Namespace, size: int, imported: tuple[float, float, str], reads: list[Latency]) -> str:
    seconds, rss, summary = imported
    rate = args.records / seconds
    lines = [
        f"### {args.label}",
        "",
        f"- Date: {time.strftime('%Y-%m-%d')}; machine: {machine()}",
        f"- jsonserve imported from: `{jsonserve_location()}`",
        f"- Data: {args.records:,} posts (`userId` 1..{USERS:,}), file {size / 1e6:.0f} MB; seed {args.seed}",
        "- Command: `jsonserve import posts.json app.db --index posts.userId`",
        f"- Import: **{seconds:.1f} s** ({rate:,.0f} records/s), peak RSS **{rss:.0f} MB** "
        f"(goal < {GOAL_RSS_MB} MB: {'met' if rss < GOAL_RSS_MB else 'NOT met'}); database "
        f"{(args.folder / 'app.db').stat().st_size / 1e6:.0f} MB",
        f"- Import output: `{summary}`",
        "- Reads: `jsonserve app.db`, one httpx client, sequential requests over loopback after 20 warm-up requests; "
        f"load average before the reads: {args.load}",
        "",
        f"| request | n | p50 ms | p99 ms | mean ms | p50 < {GOAL_P50_MS:g} ms | p50, issue 19 goal |",
        "|---|---|---|---|---|---|---|",
        *(latency.row() for latency in reads),
    ]
    return "\n".join(lines)


def write_doc(label: str, block: str) -> None:
    """Replace (or add) this label's block under the section, keeping everything else in the file."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start, end = f"<!-- import_1m:{label} -->", f"<!-- /import_1m:{label} -->"
    wrapped = f"{start}\n{block}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: wrapped, text, flags=re.DOTALL)
    elif SECTION in text:  # at the end of the section: before the next "## " heading
        after = text.index(SECTION) + len(SECTION)
        following = text.find("\n## ", after)
        cut = len(text) if following < 0 else following + 1
        text = text[:cut].rstrip("\n") + f"\n\n{wrapped}\n" + ("\n" + text[cut:] if text[cut:] else "")
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{wrapped}\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per kind (>= 500)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds at most per kind of request")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--label", default="current tree", help="which block of docs/benchmarks.md to write")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        args.folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jsonserve-bench-")))
        args.folder.mkdir(parents=True, exist_ok=True)
        print(f"writing {args.records:,} posts to {args.folder / 'posts.json'} ...", flush=True)
        size = write_posts(args.folder / "posts.json", args.records, args.seed)
        print("importing ...", flush=True)
        imported = run_import(args.folder)
        print(f"imported in {imported[0]:.1f} s, peak RSS {imported[1]:.0f} MB; timing reads ...", flush=True)
        rng = random.Random(args.seed + 1)
        by_id = [f"/posts/{rng.randint(1, args.records)}" for _ in range(args.requests)]
        by_user = [f"/posts?userId={rng.randint(1, USERS)}" for _ in range(args.requests)]
        args.load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
        with server(args.folder) as url, httpx.Client(base_url=url, timeout=60) as client:
            reads = [
                measure(client, "`GET /posts/{random id}`", by_id, args.budget, 1.0),
                measure(client, "`GET /posts?userId={random}` (indexed, ~100 records)", by_user, args.budget, 2.0),
            ]
        block = report(args, size, imported, reads)
    print(block)
    if not args.no_write:
        write_doc(args.label, block)
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
