"""Benchmarks side by side: json-server 0.17 and 1.x, a bare Starlette app, and jsonserve on each backend.

For each data size (1k and 100k posts, ~5 comments per post, ``bench/data.py``) and each server:

* the server runs pinned to CPU 1 and ``wrk`` to CPU 0 (``taskset``), both on loopback;
* reads (GET /posts/1, page 2 of 10 in the server's dialects, ``?userId=3``, and for jsonserve its
  GraphQL twin, ``POST /graphql`` asking ``posts(where: {userId: {eq: 3}})``) run against one start;
  each write case (POST /posts, PATCH /posts/{n}) and each connection count gets a fresh start on a
  fresh copy of the data, so no write case inherits another's records;
* every start times the first 2xx of ``GET /posts/1`` after spawning; the read start also reads the
  server's RSS (``/proc/PID/status``) one second after it;
* ``wrk`` runs 10 s per case at 1 and 64 connections; ``bench/count.lua`` counts 2xx apart from every
  other status, and only 2xx count towards req/s;
* every case starts once the machine is idle (:func:`settle`): the requests a case left queued are
  answered first;
* every server is stopped by its PID (SIGTERM, then SIGKILL).

Results go to ``bench/results.json``; ``bench/report.py`` turns them into ``docs/benchmarks.md``'s
table and ``docs/benchmarks.png``. ``make bench`` runs both.

The backends jsonserve runs on are a dimension of their own: ``--backends`` picks some of them
(default ``all``: the JSON file, SQLite and PostgreSQL), every one on the same cases and data, and
``--servers jsonserve`` stands for jsonserve on each chosen backend. ``bench/report.py`` prints each
goal with its ratio, the SQL backends' against the JSON file and json-server 1.x.

    python bench/run.py                     # everything (about 30 minutes)
    python bench/run.py --sizes 1000 --seconds 2 --servers jsonserve-json,json-server-1
    python bench/run.py --backends sqlite,postgres --servers jsonserve --cases get,filter
"""

# ruff: noqa: T201, S603, S607, D102, D103 - a script: it prints and runs servers and tools

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as dataset

BENCH = Path(__file__).resolve().parent
TOOLS = BENCH / ".tools"
WORK = BENCH / ".work"
RESULTS = BENCH / "results.json"
SERVER_CPU, LOAD_CPU = "1", "0"
SETTLED = 0.1  # busy fraction of all CPUs under which the machine counts as idle between cases
JSON_SERVER_017 = "0.17.4"
NODE_FOR_1X = "24"  # json-server 1.x wants node >= 22.12; the npm package `node` provides one
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Database names (``JSONSERVE_BENCH_PG`` renames them, so that two checkouts can bench side by side).
PG_DB = os.environ.get("JSONSERVE_BENCH_PG", "jsonserve_bench")
PG_SEED = PG_DB + "_seed"
INDEXES = ("posts.userId", "comments.postId")
BACKENDS = ("json", "sqlite", "postgres")  # the in-memory backend serves only the demo data: nothing to compare
POST_BODY = '{"userId": 3, "title": "a new post", "body": "written by the benchmark"}'
PATCH_BODY = '{"title": "patched by the benchmark"}'
# The GraphQL twin of GET /posts?userId=3: the same records, every field of them.
GRAPHQL_BODY = '{"query": "{ posts(where: {userId: {eq: 3}}) { userId id title body } }"}'


@dataclass(frozen=True)
class Case:
    """One kind of request: wrk script arguments, and which dialect of the query language it needs."""

    key: str
    label: str
    args: tuple[str, ...]
    dialect: str | None = None  # "0.17" / "1": only servers speaking it run the case
    write: bool = False
    graphql: bool = False  # only jsonserve serves /graphql


def cases(posts: int) -> list[Case]:
    return [
        Case("get", "GET /posts/1", ("get", "/posts/1")),
        Case("page-0.17", "page 2 of 10 (0.17: _page&_limit)", ("get", "/posts?_page=2&_limit=10"), "0.17"),
        Case("page-1", "page 2 of 10 (1.x: _page&_per_page)", ("get", "/posts?_page=2&_per_page=10"), "1"),
        Case("filter", "GET /posts?userId=3", ("get", "/posts?userId=3")),
        Case("embed", "GET /posts/1?_embed=comments", ("get", "/posts/1?_embed=comments")),
        Case(
            "sort-0.17",
            "page 2 of 10 by title, descending (0.17)",
            ("get", "/posts?_sort=title&_order=desc&_page=2&_limit=10"),
            "0.17",
        ),
        Case(
            "sort-1",
            "page 2 of 10 by title, descending (1.x)",
            ("get", "/posts?_sort=-title&_page=2&_per_page=10"),
            "1",
        ),
        Case(
            "graphql-filter", "POST /graphql posts(where: userId = 3)", ("post", "/graphql", GRAPHQL_BODY), graphql=True
        ),
        Case("post", "POST /posts", ("post", "/posts", POST_BODY), write=True),
        Case("patch", "PATCH /posts/{n}", ("patch", "/posts/", str(posts), PATCH_BODY), write=True),
    ]


@dataclass(frozen=True)
class Target:
    """A server under test: how to lay out its data in a folder and how to start it there."""

    key: str
    label: str
    dialects: frozenset[str]
    prepare: Callable[[Path, Path], None]  # (data file, empty folder) -> the folder holds a fresh copy
    command: Callable[[Path, int], list[str]]  # (folder, port) -> argv
    only: frozenset[str] | None = None  # the bare app serves only GET /posts/1


@dataclass
class Run:
    """One wrk run's figures (2xx only in ``rps``)."""

    size: int
    target: str
    case: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    non2xx: int
    socket_errors: int


@dataclass
class Start:
    """Start-up figures of one server at one size."""

    size: int
    target: str
    startup_s: list[float] = field(default_factory=list)
    rss_mb: float = 0.0


# -- tools --------------------------------------------------------------------------------------


def ensure_tools(json_server: bool = True) -> dict[str, str]:
    """Wrk (Debian package) and, with ``json_server``, json-server 0.17 + newest 1.x + node >= 22 (bench/.tools)."""
    if shutil.which("wrk") is None:
        print("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    if not json_server:
        return {"wrk": _output(["wrk", "--version"], check=False).split(" [")[0]}
    newest_1x = _newest_1x()
    wanted = {"js017": f"json-server@{JSON_SERVER_017}", "js1": f"json-server@{newest_1x}", "node": NODE_FOR_1X}
    if _installed(wanted) != wanted:
        TOOLS.mkdir(parents=True, exist_ok=True)
        (TOOLS / "package.json").write_text('{"private": true}\n')
        specs = [f"js017@npm:{wanted['js017']}", f"js1@npm:{wanted['js1']}", f"node@{NODE_FOR_1X}"]
        print("installing", " ".join(specs), "into", TOOLS)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *specs], cwd=TOOLS, check=True)
    node24 = TOOLS / "node_modules" / "node" / "bin" / "node"
    return {
        "json-server 0.17": _package_version("js017"),
        "json-server 1.x": _package_version("js1"),
        "node (0.17)": _output(["node", "--version"]),
        "node (1.x)": _output([str(node24), "--version"]),
        "wrk": _output(["wrk", "--version"], check=False).split(" [")[0],
    }


def _newest_1x() -> str:
    listed = json.loads(_output(["npm", "view", "json-server", "versions", "--json"]))
    ones = [v for v in listed if v.startswith("1.")]
    return max(ones, key=_version_key)


def _version_key(version: str) -> tuple[Any, ...]:
    core, _, pre = version.partition("-")
    numbers = tuple(int(p) for p in core.split("."))
    tag, _, n = pre.rpartition(".")
    return (*numbers, 1 if not pre else 0, tag, int(n) if n.isdigit() else 0)


def _installed(wanted: dict[str, str]) -> dict[str, str]:
    found = {alias: f"json-server@{_package_version(alias)}" for alias in ("js017", "js1")}
    node = _package_version("node")
    found["node"] = node.split(".")[0] if node else ""
    return found if all(found.values()) else {}


def _package_version(alias: str) -> str:
    manifest = TOOLS / "node_modules" / alias / "package.json"
    return str(json.loads(manifest.read_text())["version"]) if manifest.exists() else ""


def _output(argv: list[str], *, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout.strip()


# -- servers ------------------------------------------------------------------------------------


def _copy_json(data: Path, folder: Path) -> None:
    shutil.copyfile(data, folder / "db.json")


def _jsonserve(*args: str) -> list[str]:
    return [sys.executable, "-m", "jsonserve", *args, "--quiet", "--no-static"]


def _copy_sqlite(data: Path, folder: Path) -> None:
    seed = data.with_suffix(".db")
    if not seed.exists():
        indexes = [arg for spec in INDEXES for arg in ("--index", spec)]
        subprocess.run(_jsonserve_import(data, str(seed), indexes), check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(seed, folder / "app.db")


def _copy_postgres(data: Path, folder: Path) -> None:
    marker = data.with_suffix(".pg")
    if not marker.exists() or marker.read_text() != str(data.stat().st_mtime_ns):
        _psql(f"DROP DATABASE IF EXISTS {PG_SEED}", f"CREATE DATABASE {PG_SEED}")
        indexes = [arg for spec in INDEXES for arg in ("--index", spec)]
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_SEED}"
        subprocess.run(_jsonserve_import(data, url, indexes), check=True, stdout=subprocess.DEVNULL)
        marker.write_text(str(data.stat().st_mtime_ns))
    _psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB} TEMPLATE {PG_SEED}")


def _jsonserve_import(data: Path, target: str, indexes: list[str]) -> list[str]:
    return [sys.executable, "-m", "jsonserve", "import", str(data), target, "--force", *indexes]


def _psql(*statements: str) -> None:
    for statement in statements:
        subprocess.run(["psql", PG_ADMIN, "-q", "-c", statement], check=True, stdout=subprocess.DEVNULL)


def targets() -> list[Target]:
    both = frozenset({"0.17", "1"})
    modules = TOOLS / "node_modules"
    node24 = str(modules / "node" / "bin" / "node")
    pg_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
    return [
        Target(
            "json-server-0.17",
            f"json-server {_package_version('js017') or JSON_SERVER_017}",
            frozenset({"0.17"}),
            _copy_json,
            lambda f, p: [
                "node",
                str(modules / "js017/lib/cli/bin.js"),
                str(f / "db.json"),
                "--port",
                str(p),
                "--quiet",
            ],
        ),
        Target(
            "json-server-1",
            f"json-server {_package_version('js1') or '1.x'}",
            frozenset({"1"}),
            _copy_json,
            lambda f, p: [node24, str(modules / "js1/lib/bin.js"), str(f / "db.json"), "--port", str(p)],
        ),
        Target(
            "bare",
            "bare Starlette",
            both,
            _write_bare_body,
            lambda f, p: [sys.executable, str(BENCH / "bare.py"), str(f / "post1.json"), str(p)],
            only=frozenset({"get"}),
        ),
        Target(
            "jsonserve-json",
            "jsonserve (JSON file)",
            both,
            _copy_json,
            lambda f, p: _jsonserve(str(f / "db.json"), "--port", str(p)),
        ),
        Target(
            "jsonserve-sqlite",
            "jsonserve (SQLite)",
            both,
            _copy_sqlite,
            lambda f, p: _jsonserve(str(f / "app.db"), "--port", str(p)),
        ),
        Target(
            "jsonserve-postgres",
            "jsonserve (PostgreSQL)",
            both,
            _copy_postgres,
            lambda f, p: _jsonserve(pg_url, "--port", str(p)),
        ),
    ]


def _write_bare_body(data: Path, folder: Path) -> None:
    post = dataset.generate(1)["posts"][0]
    (folder / "post1.json").write_bytes(json.dumps(post).encode())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    """A started server: its process, port and how long it took to answer."""

    process: subprocess.Popen[bytes]
    port: int
    startup_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024


@contextlib.contextmanager
def serve(target: Target, data: Path, folder: Path) -> Iterator[Running]:
    """Fresh copy of the data, server pinned to SERVER_CPU, the first 2xx timed; stopped by PID."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target.prepare(data, folder)
    port = _free_port()
    argv = ["taskset", "-c", SERVER_CPU, *target.command(folder, port)]
    log = (folder / "server.log").open("wb")
    began = time.perf_counter()
    process = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        running = Running(process, port, _first_2xx(process, port, began))
        yield running
    finally:
        _stop(process)
        log.close()


def _first_2xx(process: subprocess.Popen[bytes], port: int, began: float) -> float:
    url = f"http://127.0.0.1:{port}/posts/1"
    with httpx.Client(timeout=5.0) as client:
        while time.perf_counter() - began < 300:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).is_success:
                    return time.perf_counter() - began
            time.sleep(0.005)
    raise RuntimeError("server did not answer within 300 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


# -- load -------------------------------------------------------------------------------------


def wrk(url: str, case: Case, connections: int, seconds: int) -> dict[str, Any]:
    argv = [
        "taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(BENCH / "count.lua"), url, "--", *case.args,
    ]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def settle(window_s: float = 0.5, limit_s: float = 120.0) -> float:
    """Wait until the machine is idle (under :data:`SETTLED` busy over ``window_s``); the seconds waited.

    wrk stops at the end of a case, but the requests it left queued are still being answered: 64 sorts
    of 100k SQL rows took the server many seconds more, and the next case measured 0 req/s. Every
    case starts on an idle machine instead (so does the first, after a large file's snapshot writer).
    """
    began = time.perf_counter()
    while time.perf_counter() - began < limit_s:
        busy, total = _cpu_times()
        time.sleep(window_s)
        busy_after, total_after = _cpu_times()
        if (busy_after - busy) <= SETTLED * max(total_after - total, 1):
            return time.perf_counter() - began
    print(f"  (the machine is still busy after {limit_s:.0f} s; measuring anyway)", flush=True)
    return time.perf_counter() - began


def measure(size: int, target: Target, case: Case, connections: int, running: Running, seconds: int) -> Run:
    waited = settle()
    if waited > 2:
        print(f"  {target.key:20} {case.key:10} waited {waited:.1f} s for the machine to be idle", flush=True)
    figures = wrk(running.url, case, connections, seconds)
    errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
    run = Run(
        size, target.key, case.key, connections,
        rps=figures["ok"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000, p99_ms=figures["p99_us"] / 1000,
        ok=figures["ok"], non2xx=figures["non2xx"], socket_errors=errors,
    )  # fmt: skip
    print(
        f"  {target.key:20} {case.key:10} c={connections:<3} {run.rps:9.1f} req/s  "
        f"p50 {run.p50_ms:8.2f} ms  p99 {run.p99_ms:8.2f} ms  non-2xx {run.non2xx}  socket errors {errors}",
        flush=True,
    )
    return run


def bench_target(size: int, target: Target, data: Path, args: argparse.Namespace) -> tuple[list[Run], Start]:
    folder = WORK / target.key
    start = Start(size, target.key)
    runs: list[Run] = []
    chosen = [c for c in cases(size) if _applies(target, c, args)]
    with serve(target, data, folder) as running:
        time.sleep(1.0)
        start.startup_s.append(running.startup_s)
        start.rss_mb = running.rss_mb()
        print(f"  {target.key:20} started in {running.startup_s:.2f} s, RSS {start.rss_mb:.0f} MB", flush=True)
        for case in (c for c in chosen if not c.write):
            runs.extend(measure(size, target, case, n, running, args.seconds) for n in args.connections)
    for case in (c for c in chosen if c.write):
        for n in args.connections:
            with serve(target, data, folder) as running:
                start.startup_s.append(running.startup_s)
                runs.append(measure(size, target, case, n, running, args.seconds))
    shutil.rmtree(folder, ignore_errors=True)
    return runs, start


def _applies(target: Target, case: Case, args: argparse.Namespace) -> bool:
    if target.only is not None and case.key not in target.only:
        return False
    if args.cases and case.key not in args.cases:
        return False
    if case.graphql and not target.key.startswith("jsonserve"):
        return False
    return case.dialect is None or case.dialect in target.dialects


def _chosen(target: Target, wanted: set[str], backends: tuple[str, ...]) -> bool:
    if wanted and target.key not in wanted:
        return False
    backend = target.key.removeprefix("jsonserve-")
    return not target.key.startswith("jsonserve-") or backend in backends


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    load = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_before": [round(x, 2) for x in load],
        "commit": commit.stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="posts per data set, comma-separated")
    parser.add_argument("--servers", default="", help="only these target keys, comma-separated")
    parser.add_argument("--cases", default="", help="only these case keys, comma-separated")
    parser.add_argument(
        "--backends",
        default="all",
        help=f"jsonserve's backends to run, comma-separated ({','.join(BACKENDS)}), or all",
    )
    parser.add_argument("--connections", default="1,64", help="wrk connection counts")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.connections = [int(n) for n in args.connections.split(",")]
    args.cases = set(filter(None, args.cases.split(",")))
    wanted = set(filter(None, args.servers.split(",")))
    backends = BACKENDS if args.backends == "all" else tuple(filter(None, args.backends.split(",")))
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backends {sorted(unknown)}; choose from {', '.join(BACKENDS)} or all")
    if "jsonserve" in wanted:  # every chosen backend
        wanted = (wanted - {"jsonserve"}) | {f"jsonserve-{b}" for b in backends}
    report: dict[str, Any] = {
        "machine": machine(),
        "tools": ensure_tools(json_server=not wanted or any(key.startswith("json-server") for key in wanted)),
        "seconds": args.seconds,
        "runs": [],
        "starts": [],
    }
    for size in (int(s) for s in args.sizes.split(",")):
        data = dataset.write(size, WORK.parent / ".data" / f"db-{size}.json")
        print(f"{size} posts: {data.stat().st_size / 1e6:.1f} MB", flush=True)
        for target in (t for t in targets() if _chosen(t, wanted, backends)):
            runs, start = bench_target(size, target, data, args)
            report["runs"].extend(asdict(r) for r in runs)
            report["starts"].append({**asdict(start), "startup_median_s": statistics.median(start.startup_s)})
    report["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out)


def write_block(doc: Path, start: str, end: str, block: str) -> None:
    """Replace the text between the markers ``start`` and ``end`` in ``doc`` with ``block`` (appended if absent)."""
    text = doc.read_text()
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)
    print("wrote", doc)


if __name__ == "__main__":
    main()
