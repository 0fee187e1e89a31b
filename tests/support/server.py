"""A real ``jsonserve`` process on a free loopback port, stopped by PID (for end-to-end tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A started server: its base URL, process and captured output file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait (graceful shutdown), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(
    args: list[str],
    cwd: Path,
    *,
    port: int | None = None,
    timeout: float = 15.0,
    env: dict[str, str] | None = None,
) -> Server:
    """Start ``jsonserve ARGS --port PORT`` in ``cwd`` and wait until it answers ``GET /health``.

    ``/health`` rather than ``/db``: with 100k records ``/db`` took over the 1 s poll timeout on a
    busy machine, and a server up in 4 s was reported as never answering.

    ``env``: variables added to (or overriding) this process's environment for the server.
    """
    port = port or free_port()
    log = cwd / f"server-{port}.log"
    command = [sys.executable, "-m", "jsonserve", *args, "--port", str(port), "--quiet"]
    environment = None if env is None else {**os.environ, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=environment)
    server = Server(process, port, log, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {server.output()}")
        try:
            httpx.get(server.url + "/health", timeout=1.0)
            return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"server did not answer within {timeout}s: {server.output()}")
