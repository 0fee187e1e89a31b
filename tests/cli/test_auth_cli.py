"""``jsonserve --auth`` from the command line: the rules file, the signing key, refusals to start."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.support.cli import run_cli

DB = {"users": [], "notes": [{"id": 1, "userId": 1}], "posts": [{"id": 1, "userId": 1}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    return tmp_path


def test_auth_reads_rules_json_and_keeps_a_generated_key_with_mode_0600(folder: Path) -> None:
    (folder / "rules.json").write_text('{"notes": "600"}')
    refused = run_cli("db.json", "--auth", "--get", "/notes", "--quiet", cwd=folder)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["status"] == 401
    key = folder / ".db.json.jwt-secret"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(key.read_bytes().strip()) >= 32
    public = run_cli("db.json", "--auth", "--get", "/posts", "--quiet", cwd=folder)
    assert public.returncode == 0, public.stderr
    without_auth = run_cli("db.json", "--get", "/notes", "--quiet", cwd=folder)
    assert json.loads(without_auth.stdout) == DB["notes"]  # no --auth: rules.json is not read


def test_rules_implies_auth(folder: Path) -> None:
    (folder / "mine.json").write_text('{"posts": "600"}')
    result = run_cli("db.json", "--rules", "mine.json", "--get", "/posts", "--quiet", cwd=folder)
    assert json.loads(result.stdout)["status"] == 401


@pytest.mark.parametrize(
    ("rules", "words"),
    [('{"notes": "700"}', "not a mode"), ("[", "not JSON"), ('{"notes": {"read": "everyone"}}', "read must be")],
)
def test_an_unusable_rules_file_refuses_to_start(folder: Path, rules: str, words: str) -> None:
    (folder / "rules.json").write_text(rules)
    result = run_cli("db.json", "--rules", "rules.json", "--get", "/posts", cwd=folder)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and words in result.stderr


def test_a_short_key_file_refuses_to_start(folder: Path) -> None:
    (folder / "key").write_text("too short")
    result = run_cli("db.json", "--auth", "--jwt-secret-file", "key", "--get", "/posts", cwd=folder)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "at least 32" in result.stderr
    assert not (folder / ".db.json.jwt-secret").exists()
