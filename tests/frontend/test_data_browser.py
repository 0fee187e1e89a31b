"""The data browser (``/_/``) and the home page, used in headless Chromium as a user would, offline.

One browser session (``ui-browser.mjs``, over the DevTools protocol like ``docs-browser.mjs``) drives
two real servers:

- ``plain``: 100,000 ``posts`` under ``--schema`` (views >= 0) plus a singular ``profile``: the home
  page; the table (columns, keyboard); paging (each page change timed in the page with
  ``performance.now()``, budget 300 ms); sort and filter changing the rows and the shown query (and
  its curl and fetch forms); an edit saved with PATCH and read back over REST; a 422 on its field; a
  conflicting edit showing both versions; create and delete with a confirmation; writes from outside
  appearing in the open table within 1 s; a dropped realtime connection resuming with ``since``.
- ``auth``: ``--auth`` with rules (notes ``600``, secrets admin-only, users ``600``): what an anonymous
  visitor, a user and an admin see; a refused login shown plainly; tokens never in a URL.

axe-core (npm, ``package.json``) checks the home page, the table, the editor and the login form: no
serious or critical violation. With ``JSONSERVE_SCREENSHOTS=1`` the screens are written, light and
dark, to ``docs/ui/`` (the pictures of docs/ui.md); otherwise nothing is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM_INSTALL_TIMEOUT, NPM_CI_TIMEOUT, tail
from tests.support.server import Server, start_server

HERE = Path(__file__).resolve().parent
DOCS_UI = HERE.parent.parent / "docs" / "ui"
RECORDS = 100_000
PAGE_BUDGET_MS = 300
LIVE_BUDGET_MS = 1000
BROWSER_TIMEOUT = 50  # seconds for every step of both scenarios, inside ui-browser.mjs
PASSWORD = "a long password"
SCHEMA = {
    "posts": {
        "type": "object",
        "required": ["title"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string", "minLength": 1},
            "views": {"type": "integer", "minimum": 0},
            "published": {"type": "boolean"},
        },
    }
}
RULES = {"notes": "600", "users": "600", "secrets": {"read": "admin", "write": "admin"}, "posts": "644"}
SERIOUS = ("serious", "critical")

pytestmark = pytest.mark.e2e


def _views(number: int) -> int:
    return (number * 7919) % 10007


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """100k posts (a generated JSON file: about half a second) with a declared schema."""
    folder = tmp_path_factory.mktemp("plain")
    posts = [
        {"id": n, "title": f"Post {n}", "views": _views(n), "published": n % 3 == 0} for n in range(1, RECORDS + 1)
    ]
    (folder / "db.json").write_text(json.dumps({"posts": posts, "profile": {"name": "typicode"}}))
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    server = start_server(["db.json", "--schema", "schema.json"], folder, timeout=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    """--auth: alice and bob with notes of their own, an admin, an admin-only collection, public posts."""
    folder = tmp_path_factory.mktemp("auth")
    data = {"posts": [{"id": 1, "title": "public"}], "notes": [], "secrets": [{"id": 1, "text": "the launch code"}]}
    (folder / "db.json").write_text(json.dumps({**data, "users": []}))
    (folder / "rules.json").write_text(json.dumps(RULES))
    command = [sys.executable, "-m", "jsonserve", "user", "add", "root@example.com", "db.json", "--admin"]
    added = subprocess.run(
        [*command, "--password-stdin"], cwd=folder, input=PASSWORD, capture_output=True, text=True, check=False
    )
    assert added.returncode == 0, added.stderr
    server = start_server(["db.json", "--auth", "--rules", "rules.json"], folder)
    try:
        notes = {}
        for name, texts in (("alice", ["alice's first", "alice's second"]), ("bob", ["bob's"])):
            answer = httpx.post(f"{server.url}/register", json={"email": f"{name}@example.com", "password": PASSWORD})
            assert answer.status_code == 201, answer.text
            token = answer.json()["accessToken"]
            for text in texts:
                created = httpx.post(
                    f"{server.url}/notes", json={"text": text}, headers={"Authorization": f"Bearer {token}"}
                )
                assert created.status_code == 201, created.text
            notes[name] = texts
        yield server, notes
    finally:
        server.stop()


def _drive(node: str, chromium: Path, plain: Server, guarded: Server) -> dict[str, Any]:
    """Run ``ui-browser.mjs`` against both servers; its report."""
    screenshots = os.environ.get("JSONSERVE_SCREENSHOTS") == "1"
    if screenshots:
        DOCS_UI.mkdir(exist_ok=True)
    config = {
        "plain": plain.url,
        "auth": guarded.url,
        "users": {
            "alice": {"email": "alice@example.com", "password": PASSWORD},
            "admin": {"email": "root@example.com", "password": PASSWORD},
        },
        "axe": str(HERE / "node_modules" / "axe-core" / "axe.min.js"),
        "screenshots": str(DOCS_UI) if screenshots else None,
        "timeout": BROWSER_TIMEOUT,
    }
    command = [node, "ui-browser.mjs", "--chromium", str(chromium), "--config", json.dumps(config)]
    result = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=BROWSER_TIMEOUT + 30, check=False
    )
    logs = f"\n--- plain server\n{tail(plain.output(), 20)}\n--- auth server\n{tail(guarded.output(), 20)}"
    assert result.returncode == 0, f"ui-browser.mjs exited {result.returncode}\n{tail(result.stderr)}{logs}"
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    checks = report["checks"]
    print(f"page changes (ms): {[round(ms, 1) for ms in checks.get('pageTimings', [])]}; live: {checks.get('live')}")
    found = {screen: [f"{v['id']}:{v['impact']}" for v in violations] for screen, violations in report["axe"].items()}
    print(f"axe: {found}")
    assert "failure" not in report, (
        f"{report['failure']}\nthe page: {report.get('page')}"
        f"\nchecks so far: {json.dumps(report['checks'])[:3000]}{logs}"
    )
    return report


@pytest.mark.timeout(NPM_CI_TIMEOUT + CHROMIUM_INSTALL_TIMEOUT + BROWSER_TIMEOUT + 120)
def test_the_data_browser_does_what_its_issue_asks(
    npm_node: str, chromium: Path, plain: Server, guarded: tuple[Server, dict[str, Any]]
) -> None:
    auth_server, notes = guarded
    report = _drive(npm_node, chromium, plain, auth_server)
    checks = report["checks"]

    _assert_home(checks["home"])
    _assert_table_sort_filter(checks)
    _assert_paging(checks)
    _assert_editing(checks)
    _assert_live(checks["live"])
    _assert_auth(checks, notes)
    _assert_offline(report, [plain.url, auth_server.url])
    for screen in ("home", "table", "editor", "login"):
        serious = [v for v in report["axe"][screen] if v["impact"] in SERIOUS]
        assert serious == [], f"axe on the {screen}: {json.dumps(serious, indent=1)}"
    assert report["errors"] == [], f"the pages threw or logged errors: {report['errors']}"
    assert report["violations"] == [], f"Content-Security-Policy violations: {report['violations']}"


def _assert_home(home: dict[str, Any]) -> None:
    text = home["text"]
    assert "posts" in text and "100,000 records" in text and "profile" in text, text
    assert "/posts?_page=1&_limit=10" in text and "/posts?_page=1&_per_page=10" in text, "both dialects' examples"
    for link in ("/_/", "/docs", "/redoc", "/graphql", "/realtime/demo"):
        assert any(href.endswith(link) for href in home["links"]), f"the home page does not link {link}"


def _assert_table_sort_filter(checks: dict[str, Any]) -> None:
    table = checks["table"]
    assert table["ids"] == [str(n) for n in range(1, 26)], table
    assert table["columns"] == ["id", "title", "views", "published"], table["columns"]
    assert table["query"].endswith("/posts?_page=1&_limit=25"), table["query"]
    assert "1\u201325 of 100,000" in table["range"], table["range"]
    assert checks["keyboard"] == "2", "ArrowDown from the first row's link should focus the second's"

    ascending = [int(v) for v in checks["sortAsc"]["views"]]
    assert ascending == sorted(ascending) and ascending[0] == 0, ascending
    assert "_sort=views" in checks["sortAsc"]["query"] and checks["sortAsc"]["sort"].startswith("views")
    descending = [int(v) for v in checks["sortDesc"]["views"]]
    assert descending == sorted(descending, reverse=True) and descending[0] == 10006, descending
    assert checks["sortDesc"]["query"].endswith("_sort=views&_order=desc&_page=1&_limit=25")

    shown = checks["filter"]
    expected = sum(1 for n in range(1, RECORDS + 1) if _views(n) >= 9990 and n % 3 == 0)
    assert shown["query"].endswith("?views_gte=9990&published=true&_sort=views&_order=desc&_page=1&_limit=25"), shown
    assert all(int(v) >= 9990 for v in shown["views"]) and set(shown["published"]) == {"true"}, shown
    assert shown["range"].endswith(f"of {expected}"), (shown["range"], expected)
    assert shown["curl"] == f"curl '{shown['query']}'", shown["curl"]
    assert f'fetch("{shown["query"]}")' in shown["fetch"], shown["fetch"]
    assert "views_gte=9990" in shown["address"], "the address holds the query (a link to this view)"
    response = httpx.get(shown["query"])
    assert [str(record["views"]) for record in response.json()] == shown["views"], "the shown query gives the rows"


def _assert_paging(checks: dict[str, Any]) -> None:
    timings = checks["pageTimings"]
    assert len(timings) == 8 and max(timings) < PAGE_BUDGET_MS, f"page changes took {timings} ms"
    last = checks["lastPage"]
    assert last["ids"] == [str(n) for n in range(99_976, 100_001)], last
    assert "_page=4000" in last["query"] and "99,976\u2013100,000 of 100,000" in last["range"], last


def _assert_editing(checks: dict[str, Any]) -> None:
    assert checks["edit"]["title"] == "Edited in the browser", checks["edit"]
    invalid = checks["invalid"]
    assert invalid["ariaInvalid"] == "true" and "0" in invalid["message"], invalid
    assert "422" in invalid["problem"], invalid["problem"]
    assert checks["invalidStored"]["views"] == _views(5), "a refused edit stores nothing"

    conflict = checks["conflict"]
    assert checks["outsidePatch"] == 200
    assert conflict["mine"] == '"Mine, from the browser"' and conflict["theirs"] == '"Theirs, over REST"', conflict
    assert conflict["differs"], conflict
    assert checks["conflictResolved"]["title"] == "Mine, from the browser"

    assert checks["created"]["title"] == "Created in the browser" and checks["created"]["views"] == 3
    assert checks["created"]["published"] is True, checks["created"]
    assert "cannot be undone" in checks["deleteDialog"]
    assert checks["deleted"] == 404


def _assert_live(live: dict[str, Any]) -> None:
    for what in ("createMs", "updateMs", "deleteMs"):
        assert live[what] < LIVE_BUDGET_MS, f"a REST write from outside took {live[what]} ms to show ({what})"
    assert "reconnecting" in live["stateWhileDown"].lower(), live
    assert live["stateAfter"] == "live" and live["reconnected"] >= 1, live


def _assert_auth(checks: dict[str, Any], notes: dict[str, list[str]]) -> None:
    assert checks["anonymous"] == ["posts"], checks["anonymous"]
    assert "400" in checks["badLogin"] and "wrong email or password" in checks["badLogin"], checks["badLogin"]
    alice = checks["alice"]
    assert "secrets" not in alice["sidebar"] and {"posts", "notes"} <= set(alice["sidebar"]), alice
    assert sorted(alice["notes"]) == sorted(notes["alice"]), alice["notes"]
    assert "alice@example.com" in alice["account"]
    assert "No resource named secrets" in alice["secrets"]
    assert checks["afterSignOut"] == ["posts"]
    admin = checks["admin"]
    assert "secrets" in admin["sidebar"], admin
    assert sorted(admin["notes"]) == sorted(notes["alice"] + notes["bob"]), admin["notes"]


def _assert_offline(report: dict[str, Any], origins: list[str]) -> None:
    network = report["network"]
    assert network["probe"], "the trap proxy did not see the probe: it may not be in the way"
    assert network["trapped"] == [], f"requests left loopback: {network['trapped']}"
    ws_origins = [origin.replace("http://", "ws://") for origin in origins]
    for request in network["requests"]:
        url = request.split(" ", 1)[1]
        assert url.startswith((*(f"{o}/" for o in origins + ws_origins), "data:")), request
        assert "eyJ" not in url and "token" not in url.lower(), f"a token in a URL: {request}"
    assert any(frame.startswith('{"type":"auth"') for frame in network["wsSent"]), "the WebSocket signs in by frame"
    resumed = [json.loads(frame) for frame in network["wsSent"] if '"since"' in frame]
    assert any(frame["type"] == "subscribe" and frame["since"] > 0 for frame in resumed), "no resume with since"
    errors = [e for e in network["errors"] if not e.startswith(("400 ", "404 ", "412 ", "422 "))]
    assert errors == [], f"unexpected error responses: {errors}"
