"""Graceful shutdown on a real socket (issue 17, point 7): SIGTERM while many clients write stops
the server with exit status 0, no 5xx, and every acknowledged (2xx) write present after a restart;
a second signal while a slow request is in flight exits at once, still losing nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server, start_server

pytestmark = pytest.mark.e2e
CLIENTS = 16


async def write_until_stopped(server: Server, acked: list[int], statuses: list[int], enough: asyncio.Event) -> None:
    """One client: POST after POST on its own connection until the server goes away."""
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        while True:
            try:
                answer = await client.post("/posts", json={"title": "w"})
            except httpx.TransportError:
                return  # refused or closed: the server is stopping
            statuses.append(answer.status_code)
            if answer.status_code == 201:
                acked.append(answer.json()["id"])
            if len(acked) >= 200:
                enough.set()


async def writes_then(server: Server, sig: signal.Signals) -> tuple[list[int], list[int]]:
    acked: list[int] = []
    statuses: list[int] = []
    enough = asyncio.Event()
    clients = [asyncio.create_task(write_until_stopped(server, acked, statuses, enough)) for _ in range(CLIENTS)]
    await asyncio.wait_for(enough.wait(), 30)
    server.process.send_signal(sig)
    await asyncio.wait_for(asyncio.gather(*clients), 30)
    return acked, statuses


def stored_ids(folder: Path) -> set[int]:
    again = start_server(["db.json"], folder)
    try:
        return {post["id"] for post in httpx.get(again.url + "/posts").json()}
    finally:
        again.stop()


@pytest.mark.parametrize("source", ["db.json", "app.db"])
def test_sigterm_during_writes_loses_nothing_acknowledged(tmp_path: Path, source: str) -> None:
    (tmp_path / "db.json").write_text('{"posts": []}')
    if source == "app.db":
        (tmp_path / "db.json").unlink()
    server = start_server([source], tmp_path)
    acked, statuses = asyncio.run(writes_then(server, signal.SIGTERM))
    assert server.process.wait(15) == 0, server.output()
    assert statuses and max(statuses) < 500, sorted(set(statuses))
    assert len(acked) == len(set(acked)) >= 200
    if source == "db.json":
        assert set(acked) <= {post["id"] for post in json.loads((tmp_path / "db.json").read_text())["posts"]}
    again = start_server([source], tmp_path)
    try:
        assert set(acked) <= {post["id"] for post in httpx.get(again.url + "/posts").json()}
    finally:
        again.stop()


def test_a_second_signal_exits_at_once_and_keeps_acknowledged_writes(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"posts": []}')
    server = start_server(["db.json", "--shutdown-timeout", "30"], tmp_path)

    async def scenario() -> tuple[list[int], float]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            acked = [(await client.post("/posts", json={"title": str(n)})).json()["id"] for n in range(20)]
            slow = asyncio.create_task(client.get("/posts?_delay=20000"))  # in flight through the first signal
            await asyncio.sleep(0.3)
            server.process.send_signal(signal.SIGINT)
            await asyncio.sleep(0.5)
            assert server.process.poll() is None, "the first signal waits for the request in flight"
            began = time.monotonic()
            server.process.send_signal(signal.SIGINT)
            server.process.wait(10)
            with pytest.raises(httpx.TransportError):  # cut off: its connection closed, not a 500
                await slow
            return acked, time.monotonic() - began

    acked, took = asyncio.run(scenario())
    assert server.process.returncode == 0, server.output()
    assert took < 3, f"the second signal took {took:.1f}s to stop the server"
    assert set(acked) <= stored_ids(tmp_path)


def test_requests_still_in_flight_after_the_bound_are_cut_off(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"posts": []}')
    server = start_server(["db.json", "--shutdown-timeout", "1"], tmp_path)

    async def scenario() -> float:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            quick = asyncio.create_task(client.get("/posts?_delay=300"))
            slow = asyncio.create_task(client.get("/posts?_delay=20000"))
            await asyncio.sleep(0.1)
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert (await quick).status_code == 200  # finished within the bound
            with pytest.raises(httpx.TransportError):
                await slow
            server.process.wait(10)
            return time.monotonic() - began

    took = asyncio.run(scenario())
    assert server.process.returncode == 0, server.output()
    assert 0.9 < took < 4
