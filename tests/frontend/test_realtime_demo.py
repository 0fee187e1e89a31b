"""The realtime demo (``/realtime/demo``) in headless Chromium, against a real server and real clients.

``docs-browser.mjs`` (the shared DevTools driver: a trap proxy per page, no host name but 127.0.0.1
resolving, every request and WebSocket listed) opens the page and runs its steps; at each ``handoff``
step it waits while this test acts from outside the browser, as another client would:

- records created, changed and deleted over REST with httpx appear, change and go in the live table;
- a chat message published by a Python ``websockets`` client over a real socket appears in the chat,
  with its time, and a message typed and sent in the page reaches that client;
- a dropped WebSocket resumes with ``since``: a record written while the page was disconnected shows
  once it reconnects.

The page must request nothing outside the server, keep to its Content-Security-Policy, throw nothing
and log no error.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.frontend.test_docs_ui import ARTIFACTS, HERE, _assert_offline_and_clean
from tests.support.browser import CHROMIUM_INSTALL_TIMEOUT, node_executable, tail
from tests.support.server import Server, start_server

PAGE_TIMEOUT = 40  # seconds for the whole page, steps included, inside docs-browser.mjs
CHANNEL = "chat:lobby"
DB = {
    "notes": [{"id": 1, "text": "a note"}],
    "posts": [{"id": 1, "title": "first", "views": 3}, {"id": 2, "title": "second", "views": 5}],
}
ROWS = "[...document.querySelectorAll('#records tbody tr[data-id]')]"
MESSAGES = "[...document.querySelectorAll('#messages li')]"


def _row_with(text: str) -> str:
    return f"{ROWS}.some(row => row.textContent.includes({json.dumps(text)}))"


# The page is ready once its chat is joined, the collections are listed and the WebSocket is up.
READY = (
    f"document.body.dataset.chat === {json.dumps(CHANNEL)} && document.querySelector('#collection option')"
    " && jsonserveDemo.live.state === 'live'"
)
STEPS: list[dict[str, Any]] = [
    {"select": "#collection", "value": "posts", "what": "choose posts"},
    {
        "wait": f"jsonserveDemo.collection === 'posts' && !jsonserveDemo.loading && {ROWS}.length === 2",
        "what": "the posts, read over REST once subscribed",
    },
    {"read": f"{ROWS}.map(row => row.dataset.id)", "what": "the rows at first"},
    {"handoff": "create", "what": "a post created over REST"},
    {"wait": _row_with("made with httpx"), "what": "the created row"},
    {"handoff": "update", "what": "the post changed over REST"},
    {"wait": f"{_row_with('changed with httpx')} && !{_row_with('made with httpx')}", "what": "the changed row"},
    {"handoff": "delete", "what": "post 2 deleted over REST"},
    {"wait": f"!{ROWS}.some(row => row.dataset.id === '2')", "what": "the deleted row gone"},
    {
        "read": f"{ROWS}.map(row => [row.dataset.id, row.querySelector('td[data-column=title]')?.textContent])",
        "what": "the rows after the writes",
    },
    {"handoff": "publish", "what": "a message from the Python client"},
    {"wait": f"{MESSAGES}.some(li => li.textContent.includes('hello from python'))", "what": "the message shown"},
    {
        "read": f"{MESSAGES}.map(li => [li.querySelector('time').getAttribute('datetime'),"
        " li.querySelector('time').textContent, li.querySelector('.from').textContent,"
        " li.querySelector('.text').textContent])",
        "what": "the messages",
    },
    {"type": "#chat-text", "text": "hello from the page", "what": "type a message"},
    {"click": "#chat-send", "what": "send it"},
    {"handoff": "receive", "what": "the Python client receives it"},
    {"wait": f"{MESSAGES}.some(li => li.textContent.includes('hello from the page'))", "what": "the page's own, shown"},
    # Drop the connection; the next attempt waits 2 s (its back-off), time for a write meanwhile.
    {
        "read": "(() => { const live = jsonserveDemo.live; const n = live.connects;"
        " live.socket.close(); live.attempt = 3; return n; })()",
        "what": "drop the WebSocket",
    },
    {"wait": "jsonserveDemo.live.state === 'reconnecting'", "what": "the badge says reconnecting"},
    {"handoff": "while-down", "what": "a post created while the page is disconnected"},
    {"read": "[jsonserveDemo.live.state, jsonserveDemo.live.connects]", "what": "still disconnected after it"},
    {"wait": f"{_row_with('written while down')} && jsonserveDemo.live.state === 'live'", "what": "resumed"},
    {"read": "jsonserveDemo.live.connects", "what": "connections so far"},
]

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    started = start_server(["db.json"], tmp_path, timeout=60)  # the machine may be busy
    try:
        yield started
    finally:
        started.stop()


def _next_message(client: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    """The next ``message`` frame the client receives (other frames are skipped)."""
    while True:
        frame: dict[str, Any] = json.loads(client.recv(timeout=seconds))
        if frame["type"] == "message":
            return frame


def _actions(server: Server, client: ClientConnection) -> dict[str, Callable[[], Any]]:
    """What this test does at each handoff of the page's steps (each returns what it made)."""
    made: dict[str, Any] = {}

    def create() -> Any:
        response = httpx.post(f"{server.url}/posts", json={"title": "made with httpx", "views": 7})
        assert response.status_code == 201, response.text
        made["created"] = response.json()["id"]
        return made["created"]

    def update() -> Any:
        response = httpx.patch(f"{server.url}/posts/{made['created']}", json={"title": "changed with httpx"})
        assert response.status_code == 200, response.text
        return response.json()

    def delete() -> Any:
        assert httpx.delete(f"{server.url}/posts/2").status_code == 200
        return 2

    def publish() -> Any:
        client.send(json.dumps({"type": "publish", "channel": CHANNEL, "data": {"text": "hello from python"}}))
        return _next_message(client)  # its own copy: the publish went through

    def while_down() -> Any:
        response = httpx.post(f"{server.url}/posts", json={"title": "written while down"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    return {
        "create": create,
        "update": update,
        "delete": delete,
        "publish": publish,
        "receive": lambda: _next_message(client),
        "while-down": while_down,
    }


def _drive(
    server: Server,
    chromium: Path,
    actions: dict[str, Callable[[], Any]],
    steps: list[dict[str, Any]] = STEPS,
    *,
    failed: str = "document.querySelector('#problems .problem') !== null",
) -> dict[str, Any]:
    """Run ``docs-browser.mjs`` on the demo, answering its handoffs with ``actions``; the page's record."""
    ARTIFACTS.mkdir(exist_ok=True)
    page: dict[str, Any] = {"name": "realtime-demo", "url": f"{server.url}/realtime/demo", "ready": READY}
    page["failed"] = failed
    page["steps"] = steps
    command = [node_executable(), "docs-browser.mjs", "--chromium", str(chromium), "--out", str(ARTIFACTS)]
    command += ["--timeout", str(PAGE_TIMEOUT), "--pages", json.dumps([page])]
    stderr = ARTIFACTS / "realtime-demo.stderr"
    lines: list[str] = []
    with (
        stderr.open("w") as errors,
        subprocess.Popen(
            command,
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "TZ": "UTC"},  # the chat shows local times: make them the server's (UTC)
        ) as driver,
    ):
        assert driver.stdin is not None and driver.stdout is not None
        try:
            for line in driver.stdout:
                lines.append(line)
                if line.startswith('{"handoff"'):
                    value = actions[json.loads(line)["handoff"]]()
                    driver.stdin.write(json.dumps(value) + "\n")
                    driver.stdin.flush()
            code = driver.wait(PAGE_TIMEOUT + 30)
        finally:
            if driver.poll() is None:
                # An action failed: closing stdin fails the handoff, so the driver ends the page, stops its
                # Chromium and exits by itself (terminating it would leave its detached Chromium behind).
                driver.stdin.close()
                driver.stdout.read()
                driver.wait(PAGE_TIMEOUT + 30)
    assert code == 0, (
        f"docs-browser.mjs exited {code}\n--- stderr\n{tail(stderr.read_text())}"
        f"\n--- server log\n{tail(server.output(), 20)}"
    )
    record: dict[str, Any] = json.loads(lines[-1])["pages"][0]
    print(f"{record['name']}: {record['seconds']}s; steps (ms): {[step['ms'] for step in record['steps']]}")
    return record


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + PAGE_TIMEOUT + 60)
def test_the_demo_follows_rest_writes_and_chats_with_another_client(chromium: Path, server: Server) -> None:
    with connect(server.url.replace("http://", "ws://") + "/realtime", open_timeout=5) as client:
        client.send(json.dumps({"type": "subscribe", "id": "c1", "channel": CHANNEL}))
        subscribed = json.loads(client.recv(timeout=5))
        assert (subscribed["type"], subscribed["id"]) == ("subscribed", "c1"), subscribed
        record = _drive(server, chromium, _actions(server, client))

    assert record["stepError"] is None, f"{record['stepError']}\n{record['text'][:2000]}\n{record['console']}"
    _assert_offline_and_clean(record, server)
    steps = {step["what"]: step.get("value") for step in record["steps"]}
    created = steps["a post created over REST"]
    assert steps["the rows at first"] == ["1", "2"]
    assert steps["the rows after the writes"] == [["1", "first"], [str(created), "changed with httpx"]]

    echoed = steps["a message from the Python client"]
    assert echoed["data"] == {"text": "hello from python"} and echoed["from"] is None
    [(at, shown_time, sender, text)] = steps["the messages"]
    assert (at, sender, text) == (echoed["at"], "anonymous", "hello from python")
    assert shown_time == echoed["at"][11:19], "the time shown is the message's (the browser runs in UTC here)"

    received = steps["the Python client receives it"]
    assert received["channel"] == CHANNEL and received["data"] == {"text": "hello from the page"}, received
    published = [json.loads(frame) for frame in record["wsSent"] if '"publish"' in frame]
    assert [frame["data"] for frame in published] == [{"text": "hello from the page"}], "sent as a publish frame"

    connects_before = steps["drop the WebSocket"]
    assert steps["still disconnected after it"] == ["reconnecting", connects_before], "the write was made while down"
    assert steps["connections so far"] == connects_before + 1
    resumed = [json.loads(frame) for frame in record["wsSent"] if '"since"' in frame]
    assert [(frame["id"], frame["collection"]) for frame in resumed] == [("table", "posts")], resumed
    assert resumed[0]["since"] >= 3, "resumed after the last change seen (create, update, delete)"
    assert not any('"since"' in frame and '"channel"' in frame for frame in record["wsSent"]), "channels never resume"


# -- under --auth -----------------------------------------------------------------------------------------------

PASSWORD = "a long password"
RULES = {
    "notes": "600",
    "users": "600",
    "posts": "644",
    "channels": {"chat:*": {"subscribe": "public", "publish": "auth"}},
}
OPTIONS = "[...document.querySelectorAll('#collection option')].map(option => option.value)"
AUTH_STEPS: list[dict[str, Any]] = [
    {"read": OPTIONS, "what": "the collections an anonymous visitor may read"},
    {"type": "#chat-text", "text": "anonymous hello", "what": "type a message, signed out"},
    {"click": "#chat-send", "what": "send it"},
    {"wait": "document.querySelector('#problems .problem')", "what": "the error frame shown"},
    {"read": "document.querySelector('#problems .problem').innerText", "what": "the refusal"},
    {"type": "#login-email", "text": "alice@example.com", "what": "type the email"},
    {"type": "#login-password", "text": PASSWORD, "what": "type the password"},
    {"click": "#login-form button[type=submit]", "what": "sign in"},
    {"wait": f"document.getElementById('sign-out') && {OPTIONS}.includes('notes')", "what": "signed in"},
    {"read": f"[{OPTIONS}, document.getElementById('account').innerText]", "what": "the collections alice may read"},
    {"select": "#collection", "value": "notes", "what": "choose notes"},
    {
        "wait": f"jsonserveDemo.collection === 'notes' && !jsonserveDemo.loading && {ROWS}.length === 1",
        "what": "her note",
    },
    {"handoff": "note", "what": "alice writes a note over REST"},
    {"wait": _row_with("written over REST"), "what": "the new note shown"},
    {"read": f"{ROWS}.map(row => row.querySelector('td[data-column=text]')?.textContent)", "what": "her notes"},
    {"type": "#chat-text", "text": "signed-in hello", "what": "type a message, signed in"},
    {"click": "#chat-send", "what": "send it, signed in"},
    {"handoff": "receive", "what": "the Python client receives it"},
]


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """--auth with alice (a note of her own) and bob (one of his), public posts, chat:* published by users only."""
    data = {"posts": [{"id": 1, "title": "public"}], "notes": [], "users": []}
    (tmp_path / "db.json").write_text(json.dumps(data))
    (tmp_path / "rules.json").write_text(json.dumps(RULES))
    started = start_server(["db.json", "--auth", "--rules", "rules.json"], tmp_path, timeout=60)
    try:
        tokens = {}
        for name in ("alice", "bob"):
            answer = httpx.post(f"{started.url}/register", json={"email": f"{name}@example.com", "password": PASSWORD})
            assert answer.status_code == 201, answer.text
            tokens[name] = answer.json()["accessToken"]
            note = {"text": f"{name}'s note"}
            assert httpx.post(f"{started.url}/notes", json=note, headers=_bearer(tokens[name])).status_code == 201
        yield started, tokens["alice"]
    finally:
        started.stop()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + PAGE_TIMEOUT + 60)
def test_under_auth_the_demo_shows_refusals_then_signs_in_with_its_form(
    chromium: Path, guarded: tuple[Server, str]
) -> None:
    server, alice = guarded

    def note() -> Any:
        answer = httpx.post(f"{server.url}/notes", json={"text": "written over REST"}, headers=_bearer(alice))
        assert answer.status_code == 201, answer.text
        return answer.json()

    with connect(server.url.replace("http://", "ws://") + "/realtime", open_timeout=5) as client:
        client.send(json.dumps({"type": "subscribe", "id": "c1", "channel": CHANNEL}))
        assert json.loads(client.recv(timeout=5))["type"] == "subscribed"
        actions = {"note": note, "receive": lambda: _next_message(client)}
        record = _drive(server, chromium, actions, AUTH_STEPS, failed="false")

    assert record["stepError"] is None, f"{record['stepError']}\n{record['text'][:2000]}\n{record['console']}"
    _assert_offline_and_clean(record, server)
    steps = {step["what"]: step.get("value") for step in record["steps"]}
    assert steps["the collections an anonymous visitor may read"] == ["posts"]
    refusal = steps["the refusal"]
    assert "Message not sent: unauthorized" in refusal and "code: unauthorized" in refusal, refusal
    options, account = steps["the collections alice may read"]
    assert {"posts", "notes"} <= set(options) and "alice@example.com" in account
    assert sorted(steps["her notes"]) == ["alice's note", "written over REST"], "hers only, live"
    received = steps["the Python client receives it"]
    assert received["data"] == {"text": "signed-in hello"} and received["from"] == 1, received
    sent = [json.loads(frame) for frame in record["wsSent"]]
    assert [frame["type"] for frame in sent].count("auth") >= 1, "the token goes in an auth frame"
    assert [f["data"] for f in sent if f["type"] == "publish"] == [
        {"text": "anonymous hello"},
        {"text": "signed-in hello"},
    ]
    for request in record["requests"]:
        assert "eyJ" not in request and "token" not in request.lower(), f"a token in a URL: {request}"
