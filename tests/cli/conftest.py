"""Fixtures of the CLI tests: a throw-away PostgreSQL database, and a server whose output is kept."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest

from jsonserve import testing
from tests.api.conftest import require_postgres


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database (a URL is all the CLI takes), dropped afterwards."""
    require_postgres()
    name = f"jsonserve_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunparse(urlparse(testing.POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    url = urlunparse(urlparse(testing.POSTGRES_URL)._replace(path="/postgres"))
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@dataclass
class Stopped:
    """A server that ran until it answered at ``url``, then got SIGTERM: its exit code and both outputs."""

    url: str
    returncode: int
    stdout: str
    stderr: str


def serve_until_up(args: list[str], cwd: Path, url: str | None = None, *, timeout: float = 30.0) -> Stopped:
    """``jsonserve ARGS`` (with its banner), stopped with SIGTERM once it answers.

    ``url`` is where to knock; without it, the banner's ``Home`` line says where (``--port 0``).
    """
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "jsonserve", *args], cwd=cwd, stdout=stdout, stderr=stderr)
    try:
        url = _wait_until_up(process, out, url, timeout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return Stopped(url or "", process.returncode, out.read_text(), err.read_text())


def banner_home(stdout: str) -> str | None:
    """The URL of the banner's ``Home`` line, if printed yet."""
    for line in stdout.splitlines():
        if line.startswith("Home"):
            return line.split()[-1].rstrip("/")
    return None


def _wait_until_up(process: subprocess.Popen[bytes], out: Path, url: str | None, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        knock = url or banner_home(out.read_text())
        if knock is not None:
            try:
                httpx.get(knock + "/db", timeout=2)
                return knock
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    return None
