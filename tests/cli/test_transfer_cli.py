"""``jsonserve import`` / ``export`` and ``--workers``, run as real processes."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from jsonserve.storage.file.document import encode_document
from jsonserve.storage.sql.indexes import index_name
from tests.support.cli import run_cli
from tests.support.server import start_server

DOC: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "ünïcode ✓", "userId": 3, "big": 2**63 - 1, "ratio": 0.1, "tags": [{"a": None}]},
        {"id": "b", "title": "string id", "userId": "3"},
    ],
    "profile": {"name": "typicode"},
    "$schema": "x",
}


run = run_cli


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "db.json"
    path.write_bytes(encode_document(DOC))
    return path


def test_import_then_export_gives_back_the_same_file(tmp_path: Path, source: Path) -> None:
    result = run("import", "db.json", "app.db", "--index", "posts.userId", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "copied 2 records (3 resources) to app.db" in result.stderr
    result = run("export", "app.db", "out.json", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "out.json").read_bytes() == source.read_bytes()
    with sqlite3.connect(tmp_path / "app.db") as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    assert index_name("posts", ("userId",)) in names


def test_a_non_empty_target_needs_force(tmp_path: Path, source: Path) -> None:
    assert run("import", "db.json", "app.db", "-q", cwd=tmp_path).returncode == 0
    result = run("import", "db.json", "app.db", cwd=tmp_path)
    assert result.returncode == 1
    assert "already holds data (use --force to replace it)" in result.stderr
    assert "copying" not in result.stderr  # no progress bar before the refusal
    result = run("export", "app.db", "db.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists (use --force" in result.stderr
    assert run("import", "db.json", "app.db", "--force", "-q", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("import", "db.json", "app.db", "--index", "userId"), 2, "is not COLLECTION.FIELD"),
        (("export", "missing.db", "out.json"), 1, "does not exist"),
        (("import", "db.json", "db.json"), 1, "the same"),
        (("db.json", "--workers", "2"), 2, "several workers need a SQLite or PostgreSQL source"),
        (("--workers", "2"), 2, "several workers"),
    ],
)
def test_bad_requests_are_refused_clearly(
    tmp_path: Path, source: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code
    assert message in " ".join(result.stderr.split()).replace("│ ", "").replace(" │", "")


def test_help_says_index_is_ignored_for_json(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert "--index" in result.stdout
    assert "--workers" in result.stdout
    assert "ignored for JSON files" in " ".join(result.stdout.replace("│", "").split())


def test_round_trip_through_sqlite_and_postgres(tmp_path: Path, source: Path, pg_database: str) -> None:
    hops = [("db.json", "app.db"), ("app.db", pg_database), (pg_database, "out.json")]
    for origin, destination in hops:
        result = run("import", origin, destination, "--index", "posts.userId", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == DOC


@pytest.mark.e2e
def test_workers_share_one_sqlite_database(tmp_path: Path) -> None:
    server = start_server(["app.db", "--workers", "2", "--index", "posts.userId"], tmp_path, timeout=30)
    try:

        def post_many(thread: int) -> list[Any]:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answers = [client.post("/posts", json={"thread": thread, "n": n}) for n in range(50)]
            assert all(answer.status_code == 201 for answer in answers), [a.text for a in answers if a.is_error]
            return [answer.json()["id"] for answer in answers]

        with ThreadPoolExecutor(8) as pool:
            ids = [record_id for batch in pool.map(post_many, range(8)) for record_id in batch]
        assert len(ids) == len(set(ids)) == 400
        with httpx.Client(base_url=server.url, timeout=30) as client:
            stored = {post["id"] for post in client.get("/posts", params={"_limit": 1000}).json()}
            assert set(ids) <= stored
            etag = client.get(f"/posts/{ids[0]}").headers["ETag"]
            assert client.put(f"/posts/{ids[0]}", json={"v": 1}, headers={"If-Match": etag}).status_code == 200
            stale = [client.put(f"/posts/{ids[0]}", json={"v": 2}, headers={"If-Match": etag}) for _ in range(6)]
            assert {answer.status_code for answer in stale} == {412}  # whichever worker answers
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()
