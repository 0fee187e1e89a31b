"""After a clean shutdown only the user's file is left (issue 13, point 12); one server per file still holds.

While a server runs, ``.db.json.journal`` and ``.db.json.lock`` sit beside ``db.json``; a clean stop
(SIGTERM, Ctrl+C) retires both, once the file holds every write. A ``kill -9`` leaves them, and the
next start replays the journal: crash safety is unchanged.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.server import Server, start_server

pytestmark = pytest.mark.e2e

DB = {"posts": [{"id": 1, "title": "one"}]}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    return tmp_path / "db.json"


def files(folder: Path) -> list[str]:
    """What is in the folder, besides the servers' logs (the test's, not the server's)."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("server-"))


def stop(server: Server, sig: signal.Signals = signal.SIGTERM) -> None:
    server.process.send_signal(sig)
    server.process.wait(15)
    assert server.process.returncode == 0, server.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_clean_stop_leaves_only_the_users_file(data: Path, sig: signal.Signals) -> None:
    server = start_server(["db.json"], data.parent)
    try:
        for title in ("two", "three"):
            assert httpx.post(server.url + "/posts", json={"title": title}).status_code == 201
        assert httpx.delete(server.url + "/posts/3").status_code == 200
        assert files(data.parent) == [".db.json.journal", ".db.json.lock", "db.json"]  # while it runs
    finally:
        stop(server, sig)
    assert files(data.parent) == ["db.json"]
    assert json.loads(data.read_text())["posts"] == [{"id": 1, "title": "one"}, {"title": "two", "id": 2}]

    again = start_server(["db.json"], data.parent)
    try:
        created = httpx.post(again.url + "/posts", json={"title": "four"})
        assert created.json()["id"] == 4, "a deleted maximum id is not handed out again after a restart"
    finally:
        stop(again)
    assert files(data.parent) == ["db.json"]


def test_a_killed_server_leaves_its_journal_and_the_next_start_uses_it(data: Path) -> None:
    server = start_server(["db.json"], data.parent)
    try:
        assert httpx.post(server.url + "/posts", json={"title": "acknowledged"}).status_code == 201
    finally:
        server.kill()  # SIGKILL, within the compaction delay
    assert ".db.json.journal" in files(data.parent)
    again = start_server(["db.json"], data.parent)
    try:
        assert [post["title"] for post in httpx.get(again.url + "/posts").json()] == ["one", "acknowledged"]
    finally:
        stop(again)
    assert files(data.parent) == ["db.json"]


def test_one_server_per_file_before_and_after_a_clean_stop(data: Path) -> None:
    """The lock file is removed at a clean stop; the next server takes a new one, and a third is still refused."""
    first = start_server(["db.json"], data.parent)
    try:
        refused = run_cli("db.json", "--port", "0", cwd=data.parent, timeout=30)
        assert refused.returncode == 1
        assert f"already being served by another jsonserve (pid {first.process.pid})" in refused.stderr
    finally:
        stop(first)
    assert files(data.parent) == ["db.json"]
    second = start_server(["db.json"], data.parent)
    try:
        refused = run_cli("db.json", "--port", "0", cwd=data.parent, timeout=30)
        assert refused.returncode == 1
        assert f"already being served by another jsonserve (pid {second.process.pid})" in refused.stderr
        assert httpx.post(second.url + "/posts", json={"title": "by the second"}).status_code == 201
    finally:
        stop(second)
    assert files(data.parent) == ["db.json"]


def test_import_and_export_leave_no_lock_or_journal(data: Path) -> None:
    folder = data.parent
    assert run_cli("import", "db.json", "app.db", "-q", cwd=folder).returncode == 0
    assert run_cli("export", "app.db", "out.json", "-q", cwd=folder).returncode == 0
    assert files(folder) == ["app.db", "db.json", "out.json"]
    assert json.loads((folder / "out.json").read_text()) == DB
