"""In-process read throughput of each storage backend: GET by id, an indexed filter, a page (no HTTP).

Where ``bench/run.py`` measures the whole server under ``wrk``, this measures the storage call the
request ends in, so a change to the SQL read path can be judged (and profiled) on its own, with the
same data (``bench/data.py``, ``--index posts.userId``) on every backend. Each case runs ``--requests``
calls, ``--concurrency`` at a time on one event loop, and prints calls per second; ``--profile`` writes
a cProfile of the SQLite and PostgreSQL cases to ``bench/.work/sql_reads-BACKEND.prof``.

    python bench/sql_reads.py                          # 1,000 posts, every backend
    python bench/sql_reads.py --size 100000 --backends sqlite,postgres --profile
"""

# ruff: noqa: T201, S603, S607, D103 - a script: it prints and runs psql

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as dataset

from jsonserve.query.model import Condition, Op, PageRequest, Query
from jsonserve.storage.base import Storage

BENCH = Path(__file__).resolve().parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = os.environ.get("JSONSERVE_BENCH_PG", "jsonserve") + "_sql_reads"
INDEXES = ("posts.userId", "comments.postId")


async def open_backend(backend: str, document: dict[str, Any], folder: Path) -> Storage:
    if backend == "memory":
        from jsonserve.storage.file.memory import MemoryStorage

        storage: Storage = MemoryStorage(document)
    elif backend == "sqlite":
        from jsonserve.storage.sql.sqlite import SqliteStorage

        storage = SqliteStorage(str(folder / "app.db"), seed=document, indexes=INDEXES)
    else:
        from jsonserve.storage.sql.postgres import PostgresStorage

        for statement in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
            subprocess.run(["psql", PG_ADMIN, "-q", "-c", statement], check=True, stdout=subprocess.DEVNULL)
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
        storage = PostgresStorage(url, seed=document, indexes=INDEXES)
    await storage.open()
    return storage


async def rate(call: Callable[[], Awaitable[object]], requests: int, concurrency: int) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    await call()  # warm: the first call compiles and connects
    began = time.perf_counter()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return (requests // concurrency) * concurrency / (time.perf_counter() - began)


def cases(size: int) -> dict[str, Callable[[Storage], Awaitable[object]]]:
    middle = str(size // 2)
    return {
        "get": lambda s: s.get("posts", middle),
        "filter": lambda s: s.find(Query("posts", where=Condition(("userId",), Op.EQ, "3"))),
        "page": lambda s: s.find(Query("posts", window=PageRequest(2, 10))),
    }


async def run(args: argparse.Namespace) -> None:
    document = orjson.loads(dataset.write(args.size, BENCH / ".data" / f"db-{args.size}.json").read_bytes())
    print(f"{args.size} posts, {args.requests} calls, {args.concurrency} at a time; load {os.getloadavg()}")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as folder:
            storage = await open_backend(backend, document, Path(folder))
            try:
                profile = cProfile.Profile() if args.profile and backend != "memory" else None
                if profile is not None:
                    profile.enable()
                for name, case in cases(args.size).items():
                    per_second = await rate(lambda c=case, s=storage: c(s), args.requests, args.concurrency)  # type: ignore[misc]
                    print(f"  {backend:8} {name:7} {per_second:10,.0f} calls/s", flush=True)
                if profile is not None:
                    profile.disable()
                    (BENCH / ".work").mkdir(exist_ok=True)
                    profile.dump_stats(BENCH / ".work" / f"sql_reads-{backend}.prof")
            finally:
                await storage.aclose()
    print(f"load after {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
