"""Start-up to the first 2xx, side by side: json-server 1.x and jsonserve on a JSON file, cold and warm.

Each round starts every server once, in turn, on the same data (``bench/data.py``), pinned to CPU 1
as ``bench/run.py`` pins them, and times the first 2xx of ``GET /posts/1`` after spawning:

* ``json-server-1``: json-server 1.x on a fresh copy of the file;
* ``jsonserve-cold``: jsonserve on a fresh copy with an empty snapshot cache (the first start ever);
* ``jsonserve-warm``: jsonserve on the same copy again, once the snapshot the cold start set out to
  make is there (``storage/file/snapshot.py``: files of 8 MiB or more, made by a background process
  once the file has been unchanged for 3 s); a smaller file has no snapshot, and this is a second start.

With ``--before SRC`` (a ``src`` folder of another version, e.g. ``git archive BASE src | tar -x``),
``jsonserve-before`` is that version started the same way (cold), for an A/B in the same run.

Rounds interleave the servers so a load change on a shared machine hits each alike; the medians and
the load averages before and after are printed (nothing is written to docs/benchmarks.md).

    python bench/startup.py --sizes 1000,100000 --rounds 5
"""

# ruff: noqa: T201, S603, D103 - a script: it prints and runs servers

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import data as dataset
from run import SERVER_CPU, TOOLS, WORK, _first_2xx, _free_port, _stop, ensure_tools

from jsonserve.storage.file.snapshot import MIN_SIZE

FOLDER = WORK / "startup"


def _argv(target: str, folder: Path, port: int) -> list[str]:
    if target == "json-server-1":
        node = TOOLS / "node_modules" / "node" / "bin" / "node"
        return [str(node), str(TOOLS / "node_modules/js1/lib/bin.js"), str(folder / "db.json"), "--port", str(port)]
    jsonserve = [sys.executable, "-m", "jsonserve", str(folder / "db.json"), "--port", str(port)]
    return [*jsonserve, "--quiet", "--no-static"]


def start_once(target: str, folder: Path, env: dict[str, str]) -> float:
    """Seconds from spawning ``target`` in ``folder`` to its first 2xx; the server is then stopped."""
    port = _free_port()
    argv = ["taskset", "-c", SERVER_CPU, *_argv(target, folder, port)]
    with (folder / f"{target}.log").open("ab") as log:
        began = time.perf_counter()
        process = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            return _first_2xx(process, port, began)
        finally:
            _stop(process)


def fresh(source: Path, folder: Path) -> None:
    """An empty ``folder`` holding a new copy of ``source`` as ``db.json``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(source, folder / "db.json")


def one_round(source: Path, env: dict[str, str], before: Path | None) -> dict[str, float]:
    """One start of each server; the warm start reuses the cold start's folder and snapshot cache."""
    times: dict[str, float] = {}
    fresh(source, FOLDER / "js1")
    times["json-server-1"] = start_once("json-server-1", FOLDER / "js1", env)
    if before is not None:
        fresh(source, FOLDER / "before")
        old = {**env, "PYTHONPATH": str(before), "XDG_CACHE_HOME": str(FOLDER / "before-cache")}
        times["jsonserve-before"] = start_once("jsonserve-before", FOLDER / "before", old)
    cache = FOLDER / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    fresh(source, FOLDER / "jsonserve")
    ours = {**env, "XDG_CACHE_HOME": str(cache)}
    times["jsonserve-cold"] = start_once("jsonserve-cold", FOLDER / "jsonserve", ours)
    if source.stat().st_size >= MIN_SIZE:
        _wait_for_snapshot(cache)
    times["jsonserve-warm"] = start_once("jsonserve-warm", FOLDER / "jsonserve", ours)
    return times


def _wait_for_snapshot(cache: Path, timeout: float = 120.0) -> None:
    began = time.monotonic()
    while not list(cache.glob("jsonserve/snapshots/*.snap")):
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"no snapshot in {cache} after {timeout:.0f} s")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="posts per data set, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="starts of each server per size")
    parser.add_argument("--before", type=Path, default=None, help="a src folder of another version to time too")
    args = parser.parse_args()
    ensure_tools()
    env = dict(os.environ)
    print(f"load before {os.getloadavg()}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        source = dataset.write(size, WORK.parent / ".data" / f"db-{size}.json")
        rounds = []
        for n in range(args.rounds):
            rounds.append(one_round(source, env, args.before))
            print(f"{size} round {n + 1}: " + "  ".join(f"{k} {v:.3f}s" for k, v in rounds[-1].items()), flush=True)
        medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        ratios = {key: value / medians["json-server-1"] for key, value in medians.items()}
        print(f"{size} posts ({source.stat().st_size / 1e6:.1f} MB), medians of {args.rounds}:")
        for key, value in medians.items():
            print(f"  {key:16} {value:.3f} s  {ratios[key]:.2f}x json-server 1.x")
        print(f"  load {os.getloadavg()}", flush=True)
    shutil.rmtree(FOLDER, ignore_errors=True)


if __name__ == "__main__":
    main()
