"""M3, D5 and recovery at start: one server per file, damaged files refused untouched, leftovers cleaned.

* a second server on the same file exits non-zero within 2 s and says why (the lock);
* an empty, truncated or invalid db.json (or a damaged journal) is refused with exit != 0 and a clear
  message, and the file is byte-identical afterwards (lowdb 1.0 silently started empty on a blank file);
* temporary files left by an interrupted write are removed at start, for the data file and the journal;
* a journal whose last line was torn by a crash is replayed up to that line.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.helpers import dump, read_json_file, run_to_exit, start, temp_leftovers

pytestmark = pytest.mark.e2e

SEED: dict[str, Any] = {"posts": [{"id": 1, "title": "one"}], "profile": {"name": "p"}}


def test_second_server_on_the_same_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_bytes(dump(SEED))
    first = start(["db.json", "--no-static"], tmp_path)
    try:
        assert httpx.post(first.url + "/posts", json={"title": "by the first"}).status_code == 201
        second = run_to_exit(["db.json", "--no-static"], tmp_path, timeout=10)
        assert second.returncode not in (0, -999), second
        # At once, not after a wait for the lock (a start takes about 1 s here, up to 3 s on a loaded machine).
        assert second.elapsed < 5.0, f"took {second.elapsed:.2f} s to give up"
        message = " ".join(second.output.lower().split())
        assert "lock" in message or "already being served" in message, second.output
        assert str(first.process.pid) in second.output, "the message should name the process holding the file"
        assert "Traceback" not in second.output
        # the first server is unaffected
        assert httpx.post(first.url + "/posts", json={"title": "still works"}).status_code == 201
        titles = [post["title"] for post in httpx.get(first.url + "/posts").json()]
        assert titles == ["one", "by the first", "still works"]
    finally:
        first.kill()


DAMAGED: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\n",
    "truncated": dump(SEED)[:25],
    "truncated-mid-string": b'{"posts": [{"id": 1, "title": "on',
    "invalid": b"{posts: []}",
    "trailing-comma": b'{"posts": [],}',
    "binary": b"\x00\xff\xfe garbage",
    "not-an-object": b'[{"id": 1}]',
    "scalar-resource": b'{"posts": 5}',
    "duplicate-ids": b'{"posts": [{"id": 1}, {"id": 1}]}',
    "record-not-an-object": b'{"posts": [1, 2]}',
}


@pytest.mark.parametrize("content", list(DAMAGED.values()), ids=list(DAMAGED))
def test_damaged_data_file_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    """D5: refuse to start (exit != 0, a message naming the file), never rewrite the damaged file."""
    path = tmp_path / "db.json"
    path.write_bytes(content)
    result = run_to_exit(["db.json", "--no-static"], tmp_path)
    assert result.returncode not in (0, -999), result
    assert "cannot start:" in result.output and len(result.output.split("cannot start:")[1].strip()) > 10, result
    assert "Traceback" not in result.output, result.output
    assert path.read_bytes() == content
    assert temp_leftovers(tmp_path) == []
    assert not (tmp_path / ".db.json.journal").exists(), "nothing should be written for a file that was refused"


def test_damaged_journal_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A journal damaged before its last line is not guessed around: refuse to start, touch nothing."""
    path, journal = tmp_path / "db.json", tmp_path / ".db.json.journal"
    path.write_bytes(dump(SEED))
    journal.write_bytes(
        b'{"meta":{"version":1,"seq":0,"high":{"posts":1}}}\n'
        b"garbage in the middle\n"
        b'{"seq":2,"ops":[["put","posts",{"id":2,"title":"two"}]]}\n'
    )
    before = (path.read_bytes(), journal.read_bytes())
    result = run_to_exit(["db.json", "--no-static"], tmp_path)
    assert result.returncode not in (0, -999), result
    assert "cannot start" in result.output and "journal" in result.output, result.output
    assert (path.read_bytes(), journal.read_bytes()) == before


def test_leftover_temp_files_of_the_data_file_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_bytes(dump(SEED))
    for name in (".db.json.tmp-4242-0", ".db.json.tmp-4242-7"):
        (tmp_path / name).write_bytes(b'{"posts": [{"id": 1, "ti')
    (tmp_path / "notes.tmp").write_text("not ours")
    server = start(["db.json", "--no-static"], tmp_path)
    try:
        assert temp_leftovers(tmp_path) == []
        assert (tmp_path / "notes.tmp").read_text() == "not ours"
        assert httpx.get(server.url + "/posts").json() == SEED["posts"]
    finally:
        server.kill()


def test_leftover_temp_file_of_the_journal_is_removed_at_start(tmp_path: Path) -> None:
    """A kill during a compaction's journal swap leaves ``..db.json.journal.tmp-*``: cleaned like the data's temps."""
    (tmp_path / "db.json").write_bytes(dump(SEED))
    (tmp_path / "..db.json.journal.tmp-4242-3").write_bytes(b'{"meta":{"version":1,"seq":9,"high":{}}}\n')
    server = start(["db.json", "--no-static"], tmp_path)
    try:
        assert temp_leftovers(tmp_path) == []
    finally:
        server.kill()


def _journal(*lines: Any, torn: bytes = b"") -> bytes:
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines) + torn


def test_journal_with_a_torn_last_line_is_replayed_up_to_it(tmp_path: Path) -> None:
    """A crash mid-append leaves a torn last line (never acknowledged): the complete lines are replayed, it is not."""
    path = tmp_path / "db.json"
    path.write_bytes(dump({"posts": [{"id": 1, "title": "one"}], "comments": []}))
    (tmp_path / ".db.json.journal").write_bytes(
        _journal(
            {"meta": {"version": 1, "seq": 3, "high": {"posts": 1, "comments": 0}}},
            {"seq": 3, "ops": [["put", "posts", {"id": 9, "title": "already in the file (seq <= meta)"}]]},
            {"seq": 4, "ops": [["put", "posts", {"id": 2, "title": "two"}]]},
            {"seq": 5, "ops": [["put", "posts", {"id": 1, "title": "one, edited"}]]},
            {"seq": 7, "ops": [["del", "posts", 2], ["put", "comments", {"id": 1, "body": "c", "postId": 1}]]},
            torn=b'{"seq":8,"ops":[["put","posts",{"id":3,"title":"tor',
        )
    )
    server = start(["db.json", "--no-static"], tmp_path, verbose=True)
    try:
        expected = {"posts": [{"id": 1, "title": "one, edited"}], "comments": [{"id": 1, "body": "c", "postId": 1}]}
        assert httpx.get(server.url + "/db").json() == expected
        assert read_json_file(path) == expected  # replayed into the file at start
        journal = (tmp_path / ".db.json.journal").read_bytes()
        assert b"tor" not in journal and journal.count(b"\n") == 1, journal  # a fresh journal
        created = httpx.post(server.url + "/posts", json={"title": "next"})
        assert created.json()["id"] == 3, "the id high-water mark covers the replayed (and deleted) id 2"
        assert "replayed 3 journaled writes" in server.output()
    finally:
        server.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clean_stop_leaves_every_write_in_the_file(tmp_path: Path, sig: signal.Signals) -> None:
    """A graceful stop (docker stop / systemd send SIGTERM, Ctrl+C is SIGINT) writes the file a last time.

    The writes are durable in the journal either way; but the file is what people read, copy and
    commit once the server is stopped, so it must hold every acknowledged write, and be alone in its
    folder (the journal, holding nothing else, is retired; the lock file is removed).
    """
    path = tmp_path / "db.json"
    path.write_bytes(dump(SEED))
    server = start(["db.json", "--no-static"], tmp_path)
    try:
        with httpx.Client(base_url=server.url) as http:
            ids = [http.post("/posts", json={"title": f"n{n}"}).json()["id"] for n in range(20)]
            assert http.patch("/profile", json={"name": "patched"}).status_code == 200
            assert http.delete(f"/posts/{ids[0]}").status_code == 200
        server.process.send_signal(sig)  # at once: within the compaction window of the last write
        server.process.wait(10)
    finally:
        server.kill()
    on_disk = read_json_file(path)
    assert [post["id"] for post in on_disk["posts"]] == [1, *ids[1:]], "acknowledged writes missing from the file"
    assert on_disk["profile"] == {"name": "patched"}
    assert temp_leftovers(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix != ".log") == ["db.json"]
