"""``jsonserve user add|passwd`` (issue 14): users made by the operator log in, admins get the rules' powers.

Each backend: the command adds users to the data, then the in-process app (``create_app`` over the same
data) logs them in. On SQLite and PostgreSQL the app stays open while the command writes (a running
server); a JSON file is locked by its server, so there the command is refused until the app closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import typer
from typer.testing import CliRunner

from jsonserve.auth.passwords import Passwords
from jsonserve.cli.users import user_app
from jsonserve.config import Settings
from jsonserve.server import run_coroutine
from jsonserve.service import build_service
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.transfer import transfer
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client

pytestmark = pytest.mark.anyio

ADA_HASH = bcrypt.hashpw(b"ada-password", bcrypt.gensalt(rounds=4)).decode()
DB: dict[str, Any] = {
    "users": [{"id": 1, "email": "ada@example.com", "password": ADA_HASH}],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}],
}
# The role field is renamed: --admin must set the one the rules name (rules.json found in the folder).
RULES = {"notes": "600", "users": {"read": "owner", "write": "owner", "role": "kind"}}


@pytest.fixture(params=["json", "sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """DB on one backend, with ``rules.json`` and a signing key beside it; the working directory is ``tmp_path``."""
    (tmp_path / "db.json").write_bytes(encode_document(DB))
    (tmp_path / "rules.json").write_text(json.dumps(RULES))
    (tmp_path / "key").write_text("k" * 32)
    with contextlib.chdir(tmp_path):
        if request.param == "json":
            yield "db.json"
            return
        target = "app.db" if request.param == "sqlite" else request.getfixturevalue("pg_database")
        run_coroutine(transfer("db.json", target))
        yield target


def user(*args: str, password: str | None = None) -> typer.testing.Result:
    """``jsonserve user ARGS`` in-process; ``password`` is stdin's one line (stdin is no terminal here)."""
    return CliRunner().invoke(user_app, list(args), input=None if password is None else password + "\n")


@contextlib.asynccontextmanager
async def app(location: str) -> AsyncIterator[httpx.AsyncClient]:
    """The server's app over ``location`` (``--auth``, ./rules.json, the key file), in-process."""
    settings = Settings(source=location, auth=True, rules_file=Path("rules.json"), jwt_secret_file=Path("key"))
    async with (
        build_service(settings) as service,
        open_client(create_app(settings, service, manage_storage=False)) as client,
    ):
        yield client


async def login(api: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await api.post("/login", json={"email": email, "password": password})


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


async def test_added_users_log_in_admins_have_the_powers_and_passwd_revokes_tokens(location: str) -> None:
    sql = location != "db.json"
    async with contextlib.AsyncExitStack() as running:
        if sql:  # a server runs meanwhile: the command's writes reach it through the database
            api = await running.enter_async_context(app(location))
        else:  # the server's lock keeps the command out of its JSON file
            async with app(location):
                refused = await asyncio.to_thread(user, "add", "x@example.com", location, password="long enough")
            assert refused.exit_code == 1 and "already being served by another jsonserve" in refused.output
        added = await asyncio.to_thread(user, "add", "Root@Example.com", location, "--admin", password="root-password")
        assert added.exit_code == 0, added.output
        assert added.output == "added user 2: Root@Example.com (admin)\n"
        plain = await asyncio.to_thread(user, "add", "grace@example.com", location, password="grace-password")
        assert plain.output == "added user 3: grace@example.com\n"
        for args, password, words in [  # refused, in one line, and nothing is written (the list of users below)
            (("add", "ROOT@example.COM", location, "--admin"), "other-password", "is already registered"),
            (("add", "GRACE@EXAMPLE.COM", location), "other-password", "is already registered"),
            (("add", "new@example.com", location), "7 chars", "at least 8 characters"),
            (("add", "not-an-email", location), "long enough", "a valid email is required"),
            (("passwd", "nobody@example.com", location), "long enough", "no user has the email"),
            (("passwd", "grace@example.com", location), "short", "at least 8 characters"),
        ]:
            result = await asyncio.to_thread(user, *args, password=password)
            assert result.exit_code == 1 and result.output.startswith("jsonserve: ") and words in result.output
            assert len(result.output.splitlines()) == 1, result.output
        if not sql:
            api = await running.enter_async_context(app(location))
        root = bearer(await login(api, "root@example.com", "root-password"))
        grace_session = await login(api, "Grace@example.com", "grace-password")
        grace = bearer(grace_session)
        assert "password" not in grace_session.text and "$argon2" not in grace_session.text
        assert (await api.get("/notes/1", headers=root)).status_code == 200  # the admin reads ada's 600 note
        assert (await api.get("/notes/1", headers=grace)).status_code == 403
        everyone = [(u["id"], u["email"], u.get("kind")) for u in (await api.get("/users", headers=root)).json()]
        assert everyone == [
            (1, "ada@example.com", None),
            (2, "Root@Example.com", "admin"),
            (3, "grace@example.com", None),
        ]
        stored = await api._transport.app.state.service.storage.get("users", "3")  # type: ignore[attr-defined]
        assert stored["password"].startswith("$argon2id$")
        if not sql:
            await running.aclose()
        changed = await asyncio.to_thread(user, "passwd", "GRACE@example.com", location, password="grace-new-pass")
        assert changed.exit_code == 0, changed.output
        assert changed.output.startswith("set the password of user 3: grace@example.com;")
        if not sql:
            api = await running.enter_async_context(app(location))
        assert (await api.get("/auth/me", headers=grace)).status_code == 401  # the earlier token is revoked
        assert (await login(api, "grace@example.com", "grace-password")).status_code == 400
        assert (
            await api.get("/auth/me", headers=bearer(await login(api, "grace@example.com", "grace-new-pass")))
        ).json()["email"] == "grace@example.com"


def test_without_rules_admin_sets_role_and_bad_sources_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_bytes(encode_document({"posts": []}))
    with contextlib.chdir(tmp_path):
        result = user("add", "root@example.com", "--admin", password="root-password")  # default source: db.json
        assert result.exit_code == 0, result.output
        users = json.loads((tmp_path / "db.json").read_text())["users"]
        assert [(u["email"], u["role"], u["tokenVersion"]) for u in users] == [("root@example.com", "admin", 0)]
        assert not list(tmp_path.glob(".*"))  # no key file, no journal or lock left behind
        for args, words in [
            (("add", "a@example.com", "missing.json"), "missing.json does not exist"),
            (("add", "a@example.com", "gone.db"), "gone.db does not exist"),
            (("add", "a@example.com", "db.txt"), "give a .json file"),
            (("add", "a@example.com", "db.json", "--rules", "nope.json"), "cannot read the rules file"),
        ]:
            result = user(*args, password="long enough")
            assert result.exit_code == 1 and words in result.output and len(result.output.splitlines()) == 1
        result = user("add", "a@example.com")  # nothing on stdin
        assert result.exit_code == 1 and "no password on stdin" in result.output
    assert not (tmp_path / "gone.db").exists()


def test_the_password_prompt_is_hidden_and_confirmed(tmp_path: Path) -> None:
    """On a terminal (a pty here) the password is asked twice and never echoed; a mismatch asks again."""
    (tmp_path / "db.json").write_bytes(encode_document({"users": []}))
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jsonserve", "user", "add", "pty@example.com"],
        cwd=tmp_path, stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True,  # no /dev/tty
    )  # fmt: skip
    os.close(secondary)
    try:
        screen = Screen(primary)
        answers = ("first-password", "other-password", "pty-password", "pty-password")
        for prompt, answer in zip(["Password: ", "Repeat for confirmation: "] * 2, answers, strict=True):
            screen.expect(prompt)  # getpass writes the last character once echo is off (and typeahead flushed)
            os.write(primary, answer.encode() + b"\n")
        screen.expect("added user 1: pty@example.com")
        assert process.wait(30) == 0, screen.text
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    assert screen.text.count("Password:") == 2 and screen.text.count("Repeat for confirmation:") == 2
    assert "do not match" in screen.text
    assert "password" not in screen.text.replace("Password:", "")  # nothing typed was echoed
    (stored,) = json.loads((tmp_path / "db.json").read_text())["users"]
    assert Passwords().verify(stored["password"], "pty-password")


class Screen:
    """What a pty's program has written so far."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""
        self._seen = 0

    def expect(self, words: str, timeout: float = 30) -> None:
        """Read until ``words`` appears after what an earlier :meth:`expect` matched."""
        deadline = time.monotonic() + timeout
        while (found := self.text.find(words, self._seen)) < 0:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {words!r} in {self.text!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the program ended
                chunk = b""
            if not chunk:
                raise AssertionError(f"no {words!r} in {self.text!r}")
            self.text += chunk.decode(errors="replace").replace("\r\n", "\n")
        self._seen = found + len(words)
