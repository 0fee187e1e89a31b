"""Shared helpers for the reliability tests: real processes, raw HTTP, problem+json checks, file probes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import Server, free_port

PROBLEM_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
TRACE_MARKERS = ("Traceback", 'File "/')


def start(
    args: list[str],
    cwd: Path,
    *,
    verbose: bool = False,
    timeout: float = 15.0,
    env: dict[str, str] | None = None,
) -> Server:
    """Like ``start_server`` (a ``Server`` that answers ``GET /db``), polling with one client so that it is quick.

    With ``verbose`` the server runs without ``--quiet``: its INFO log shows reloads and replays.
    ``env``: variables added to (or overriding) this process's environment for the server (e.g. ``LD_PRELOAD``).
    """
    port = free_port()
    log = cwd / f"server-{port}.log"
    command = [sys.executable, "-m", "jsonserve", *args, "--port", str(port), *([] if verbose else ["--quiet"])]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=None if env is None else {**os.environ, **env}
        )
    server = Server(process, port, log, args)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: {server.output()}")
            try:
                client.get(server.url + "/db")
                return server
            except httpx.TransportError:
                time.sleep(0.02)
    server.kill()
    raise RuntimeError(f"server did not answer within {timeout}s: {server.output()}")


@dataclass
class Finished:
    """A server process that ran to completion (or was stopped after ``timeout``)."""

    returncode: int
    output: str
    elapsed: float


def run_to_exit(args: list[str], cwd: Path, *, timeout: float = 10.0) -> Finished:
    """Run ``jsonserve ARGS`` on a free port and wait for it to exit by itself (it is killed after ``timeout``)."""
    command = [sys.executable, "-m", "jsonserve", *args, "--port", str(free_port()), "--quiet"]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return Finished(-999, out.decode(errors="replace"), time.monotonic() - started)
    return Finished(process.returncode, out.decode(errors="replace"), time.monotonic() - started)


@dataclass
class RawResponse:
    """A response read off a raw socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def raw_request(port: int, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Send ``data`` as-is (it should ask for ``Connection: close``) and parse what comes back."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1.1 "):
        raise AssertionError(f"not an HTTP response: {raw[:200]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, body)


def problem_errors(status: int, content_type: str, body: bytes, expected: int | Iterable[int]) -> list[str]:
    """What is wrong with an error response (empty when it is a clean problem+json of the expected status)."""
    allowed = {expected} if isinstance(expected, int) else set(expected)
    found = []
    if status not in allowed:
        found.append(f"status {status}, expected {sorted(allowed)}")
    if status >= 500 and status not in allowed:
        found.append("5xx")
    text = body.decode("utf-8", errors="replace")
    found.extend(f"body contains {marker!r}" for marker in TRACE_MARKERS if marker in text)
    if content_type.split(";")[0].strip() != PROBLEM_TYPE:
        found.append(f"content-type {content_type!r}")
        return found
    try:
        problem = json.loads(body)
    except ValueError:
        return [*found, "body is not JSON"]
    if not isinstance(problem, dict) or not problem.keys() >= PROBLEM_KEYS:
        return [*found, f"problem keys missing: {problem!r:.200}"]
    if problem["status"] != status:
        found.append(f"problem status {problem['status']} != {status}")
    if not all(isinstance(problem[key], str) and problem[key] for key in ("title", "detail", "code")):
        found.append("empty title/detail/code")
    return found


def temp_leftovers(folder: Path) -> list[str]:
    """Temporary files a writer may leave behind (data file or journal), by the ``.tmp-`` marker."""
    return sorted(name for name in os.listdir(folder) if ".tmp-" in name)


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> float | None:
    """Poll ``predicate``; the seconds it took to become true, or ``None`` at the deadline."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(step)


def in_threads(count: int, work: Callable[[int], None], *, timeout: float = 60.0) -> float:
    """Run ``work(0..count-1)`` in threads; the seconds it took. Fails if one raised or still runs at ``timeout``."""
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + timeout - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert not errors, errors[:3]
    return time.monotonic() - started


def read_json_file(path: Path) -> Any:
    """Parse a data file (raises if it does not parse: that is a failure in every test here)."""
    return json.loads(path.read_bytes())


def replace_atomically(path: Path, data: bytes) -> None:
    """An editor-style save: write a temporary file in the same folder, then rename it over ``path``."""
    temp = path.with_name(f"editor-{os.getpid()}-{time.monotonic_ns()}.swp")
    temp.write_bytes(data)
    os.replace(temp, path)


def write_in_place(path: Path, data: bytes) -> None:
    """A naive save: truncate and write the same inode."""
    with path.open("r+b") as handle:
        handle.truncate(0)
        handle.write(data)


def dump(document: Any) -> bytes:
    """A data file as a person would write it."""
    return json.dumps(document, indent=2).encode() + b"\n"
