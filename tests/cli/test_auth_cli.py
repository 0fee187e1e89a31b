"""``jsonserve --auth`` from the command line: the rules file, the signing key, refusals to start."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

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


def pem_of(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_private_key_signs_and_is_published_and_unusable_keys_refuse_to_start(folder: Path) -> None:
    (folder / "ed.pem").write_bytes(pem_of(ed25519.Ed25519PrivateKey.generate()))
    served = run_cli("db.json", "--auth", "--jwt-private-key", "ed.pem", "--get", "/.well-known/jwks.json", cwd=folder)
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["keys"][0]["alg"] == "EdDSA"
    assert not (folder / ".db.json.jwt-secret").exists()  # no HMAC key is generated beside the data
    (folder / "small.pem").write_bytes(pem_of(rsa.generate_private_key(65537, 1024)))  # noqa: S505 - refused
    (folder / "public.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    for name, words in (("small.pem", "1024 bits; at least 2048"), ("public.pem", "not a PEM private key"),
                        ("missing.pem", "cannot read")):  # fmt: skip
        result = run_cli("db.json", "--auth", "--jwt-private-key", name, "--get", "/posts", cwd=folder)
        assert result.returncode == 1, name
        assert "cannot start" in result.stderr and words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_two_signing_keys_are_a_usage_error(folder: Path) -> None:
    (folder / "secret").write_text("s" * 32)
    result = run_cli("db.json", "--auth", "--jwt-private-key", "k.pem", "--jwt-secret-file", "secret", cwd=folder)
    assert result.returncode == 2
    assert "--jwt-private-key" in result.stderr and "not both" in result.stderr
