"""The cost of rate limiting in instructions per request: load-independent, where req/s on a shared machine is not.

``bench/ratelimit.py`` times real servers under ``wrk``; on a machine other jobs load, its ratio
swings from run to run. This counts instead: valgrind's callgrind runs jsonserve's HTTP protocol
(``server/protocol.py``, uvicorn's httptools parser) and the app in one process, on a recording
transport (no sockets), and counts the instructions of N ``GET /posts/1`` only (the loop runs inside
``functools.reduce``, the function callgrind is told to collect). Without and with
``--rate-limit 100000000/minute``, each on its own copy of the data; needs ``valgrind``.

    python bench/ratelimit_instructions.py              # 1,000 requests each, about 3 minutes
    python bench/ratelimit_instructions.py --requests 200
"""

# ruff: noqa: T201, S603, D102, D103 - a script: it prints and runs valgrind

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as dataset

LIMIT = "100000000/minute"  # as bench/ratelimit.py: counted, never reached
REQUEST = b"GET /posts/1 HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nUser-Agent: bench\r\n\r\n"


class Transport(asyncio.Transport):
    """A connection from 127.0.0.1 whose writes go nowhere."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def serve_requests(source: str, rate_limit: str, requests: int) -> None:
    """Run ``requests`` GETs through the protocol and the app; the timed loop inside ``functools.reduce``."""
    import uvicorn
    from uvicorn.server import ServerState

    from jsonserve.config import Settings
    from jsonserve.server.lifecycle import open_service, uvicorn_options
    from jsonserve.server.loop import loop_factory
    from jsonserve.web.app import create_app

    settings = Settings(source=source, quiet=True, no_static=True, rate_limit=rate_limit)
    loop = loop_factory()()
    asyncio.set_event_loop(loop)
    opened = open_service(settings)
    service = loop.run_until_complete(opened.__aenter__())
    options = uvicorn_options(settings)
    options.pop("log_config")
    config = uvicorn.Config(create_app(settings, service, manage_storage=False), **options)
    config.load()
    protocol = config.http_protocol_class(config, ServerState(), {})  # type: ignore[call-arg]
    protocol.connection_made(Transport())

    async def run(count: int) -> None:
        for _ in range(count):
            protocol.data_received(REQUEST)
            cycle = protocol.cycle
            while not cycle.response_complete:
                await asyncio.sleep(0)

    loop.run_until_complete(run(500))  # warm: first windows, caches
    functools.reduce(lambda _a, _b: loop.run_until_complete(run(requests)), [0, 0])  # collected
    protocol.connection_lost(None)
    loop.run_until_complete(opened.__aexit__(None, None, None))
    loop.close()


def start(source: Path, rate_limit: str, requests: int) -> subprocess.Popen[str]:
    """Start callgrind counting the requests of one server (``--child``)."""
    argv = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
        "--callgrind-out-file=/dev/null", sys.executable, __file__, "--child", str(source), rate_limit or "-",
        "--requests", str(requests),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def per_request(process: subprocess.Popen[str], requests: int) -> float:
    """Instructions per request, from callgrind's report of a finished :func:`start`."""
    _out, err = process.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"no count from valgrind:\n{err[-2000:]}")
    return int(found.group(1)) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per server")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        source, limit = args.child
        serve_requests(source, "" if limit == "-" else limit, args.requests)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as folder:
        data = dataset.write(1000, Path(folder) / "seed.json")
        running = {}
        for name, limit in (("without", ""), ("with", LIMIT)):  # side by side: each on its own copy
            copy = Path(folder) / f"{name}.json"
            shutil.copyfile(data, copy)
            running[name] = start(copy, limit, args.requests)
        counts = {name: per_request(process, args.requests) for name, process in running.items()}
    for name, instructions in counts.items():
        print(f"{name} --rate-limit: {instructions:,.0f} instructions per request")
    print(f"with/without: {counts['without'] / counts['with']:.3f}x by instructions (goal >= 0.8x)")


if __name__ == "__main__":
    main()
