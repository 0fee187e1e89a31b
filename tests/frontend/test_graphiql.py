"""GraphiQL at ``GET /graphql`` works in headless Chromium with the outside network blocked.

The same machinery as ``test_docs_ui.py`` (``docs-browser.mjs``: Debian's Chromium over the DevTools
protocol, a trap proxy per page, no host name but 127.0.0.1 resolving): the page is opened with a
query in its URL, GraphiQL's run button is pressed once it is there, and the page must then show
the answer that a plain POST gets, having requested nothing outside the server, kept to its
Content-Security-Policy, thrown nothing and logged no error.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.frontend.test_docs_ui import ARTIFACTS, HERE, _assert_offline_and_clean, _assert_screenshot
from tests.support.browser import CHROMIUM_INSTALL_TIMEOUT, node_executable, tail
from tests.support.server import Server, start_server

PAGE_TIMEOUT = 20
QUERY = "{ postsCount users(limit: 2, orderBy: [{id: DESC}]) { name } }"
# Evaluated in the page every 100 ms: once the answer shows, ready; else press GraphiQL's run button (again
# each second: a press before its editors are set up does nothing).
GRAPHIQL = {
    "ready": """(() => {
        if ((document.querySelector('.graphiql-response')?.innerText ?? '').includes('"postsCount"')) return true;
        const button = document.querySelector('.graphiql-execute-button');
        if (button && !(Date.now() - (window.__pressed ?? 0) < 1000)) { window.__pressed = Date.now(); button.click(); }
        return false;
    })()""",
    "failed": "(document.querySelector('.graphiql-response')?.innerText ?? '').includes('\"errors\"')",
    "collect": "document.querySelector('.graphiql-response')?.innerText ?? ''",
}

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    server = start_server([], tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _browse(chromium: Path, server: Server, name: str, url: str, page: dict[str, str] = GRAPHIQL) -> dict[str, Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    pages = json.dumps([{"name": name, "url": url, **page}])
    command = [node_executable(), "docs-browser.mjs", "--chromium", str(chromium), "--out", str(ARTIFACTS)]
    command += ["--timeout", str(PAGE_TIMEOUT), "--pages", pages]
    result = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=PAGE_TIMEOUT + 30, check=False)
    assert result.returncode == 0, (
        f"docs-browser.mjs exited {result.returncode}\n--- stderr\n{tail(result.stderr)}"
        f"\n--- server log\n{tail(server.output(), 20)}"
    )
    record: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])["pages"][0]
    print(f"{name}: {record['seconds']}s, {len(record['requests'])} requests")
    return record


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + PAGE_TIMEOUT + 60)
def test_graphiql_runs_a_query_offline(chromium: Path, demo: Server) -> None:
    expected = httpx.post(f"{demo.url}/graphql", json={"query": QUERY}, timeout=10).json()["data"]

    record = _browse(chromium, demo, "graphiql", f"{demo.url}/graphql?query={quote(QUERY)}")

    _assert_offline_and_clean(record, demo)
    _assert_screenshot(record["screenshot"])
    shown = json.loads(record["collected"].replace("\xa0", " "))  # CodeMirror shows indentation as no-break spaces
    assert shown == {"data": expected}
    posts = [request for request in record["requests"] if request.startswith(f"POST {demo.url}/graphql")]
    assert len(posts) >= 2  # GraphiQL's introspection (its docs and completion), then the query


SUBSCRIPTION = "subscription { postChanged { op record { title } } }"
# Press run (again each second while GraphiQL shows its play icon: a press before its editors are set up
# does nothing; once the subscription runs it shows a stop icon, and a press would stop it), then
# create a post over REST from the page every second until its event shows in the response.
SUBSCRIBED = {
    "ready": """(() => {
        if ((document.querySelector('.graphiql-response')?.innerText ?? '').includes('written over REST')) return true;
        const button = document.querySelector('.graphiql-execute-button');
        if (!button || Date.now() - (window.__acted ?? 0) < 1000) return false;
        window.__acted = Date.now();
        if (button.querySelector('title')?.textContent === 'play icon') { button.click(); return false; }
        fetch('/posts', {method: 'POST', headers: {'content-type': 'application/json'},
                         body: JSON.stringify({title: 'written over REST'})});
        return false;
    })()""",
    "failed": GRAPHIQL["failed"],
    "collect": GRAPHIQL["collect"],
}


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + PAGE_TIMEOUT + 60)
def test_graphiql_runs_a_subscription_over_the_websocket(chromium: Path, demo: Server) -> None:
    record = _browse(
        chromium, demo, "graphiql-subscription", f"{demo.url}/graphql?query={quote(SUBSCRIPTION)}", SUBSCRIBED
    )

    _assert_offline_and_clean(record, demo)
    shown = json.loads(record["collected"].replace("\xa0", " "))
    assert shown == {"data": {"postChanged": {"op": "CREATE", "record": {"title": "written over REST"}}}}, shown
    created = httpx.get(f"{demo.url}/posts", params={"title": "written over REST"}, timeout=10).json()
    assert created, "the page's REST write was not stored"
