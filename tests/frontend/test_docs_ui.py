"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) render in headless Chromium with the outside network blocked.

A real ``jsonserve`` serves the built-in demo data on a free loopback port; ``docs-browser.mjs``
drives Debian's Chromium over the DevTools protocol (Node's standard library only, no npm
packages). Each page runs in a browser context whose proxy is a trap that records and refuses
everything but loopback (proven in the way by a probe request before the page loads), host names
other than 127.0.0.1 do not resolve, and DevTools lists every request of the page and its workers.
The tests fail if a page sent anything anywhere but the server, broke its Content-Security-Policy,
threw, or does not show every operation of ``/openapi.json``. Screenshots are left in
``tests/frontend/artifacts/``. Without Chromium (that can be installed) or Node the tests skip,
except under ``CI=true``, where they fail.

Under ``--auth``, one test uses ``/docs`` as a user would (real mouse clicks and typing through
DevTools): the lock icons match the operations the document secures, "Try it out" on ``GET /notes``
(rule ``600``) shows a 401, then, after the Authorize dialog, only the signed-in user's notes, and
the token survives a reload.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM_INSTALL_TIMEOUT, node_executable, tail
from tests.support.server import Server, start_server

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
PAGE_TIMEOUT = 20  # seconds per page, inside docs-browser.mjs; both pages take ~5 s
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROBES = ["GET http://probe.jsonserve.invalid/", "CONNECT probe.jsonserve.invalid:443"]
POSTS_OPERATIONS = {
    ("GET", "/posts"),
    ("POST", "/posts"),
    ("GET", "/posts/{id}"),
    ("PUT", "/posts/{id}"),
    ("PATCH", "/posts/{id}"),
    ("DELETE", "/posts/{id}"),
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# JavaScript run in the pages: when each is ready or has failed, and the operations it shows as
# [METHOD, path, summary].
SWAGGER_UI = {
    "ready": "document.querySelector('.swagger-ui .opblock') !== null",
    "failed": "document.querySelector('.swagger-ui .errors-wrapper') !== null"
    " || document.body.innerText.includes('No operations defined in spec')",
    "collect": """[...document.querySelectorAll('.swagger-ui .opblock')].map(block => [
        block.querySelector('.opblock-summary-method')?.textContent.trim(),
        block.querySelector('.opblock-summary-path')?.getAttribute('data-path'),
        block.querySelector('.opblock-summary-description')?.textContent.trim() ?? ''])""",
}
REDOC = {
    "ready": "document.querySelector('[data-section-id^=\"operation/\"]') !== null",
    "failed": "document.body.innerText.includes('Something went wrong')",
    "collect": """[...document.querySelectorAll('[data-section-id^="operation/"]')].map(section => {
        const verb = section.querySelector('.http-verb');
        return [verb?.textContent.trim().toUpperCase(), verb?.nextElementSibling?.textContent.trim(),
            section.querySelector('h2')?.textContent.trim() ?? ''];
    })""",
}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node() -> str:
    return node_executable()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    """jsonserve on the built-in demo data (no source argument)."""
    server = start_server([], tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def demo_under_base(tmp_path: Path) -> Iterator[Server]:
    """jsonserve on the demo data with ``--base /api/v1``."""
    server = start_server(["--base", "/api/v1"], tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(METHOD, path) -> summary for every operation of an OpenAPI document."""
    return {
        (method.upper(), path): str(operation.get("summary", ""))
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    }


def _browse(
    node: str,
    chromium: Path,
    server: Server,
    pages: dict[str, str],
    steps: list[dict[str, Any]] | None = None,
    timeout: int = PAGE_TIMEOUT,
) -> dict[str, Any]:
    """Run ``docs-browser.mjs`` on ``{artifact name: URL}`` (each page runs ``steps``, if any); its report by name."""
    ARTIFACTS.mkdir(exist_ok=True)
    specs = [
        {
            "name": name,
            "url": url,
            **(SWAGGER_UI if "swagger" in name else REDOC),
            **({"steps": steps} if steps else {}),
        }
        for name, url in pages.items()
    ]
    command = [node, "docs-browser.mjs", "--chromium", str(chromium), "--out", str(ARTIFACTS)]
    command += ["--timeout", str(timeout), "--pages", json.dumps(specs)]
    result = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=timeout * len(pages) + 30, check=False
    )
    assert result.returncode == 0, (
        f"docs-browser.mjs exited {result.returncode}\n--- stderr\n{tail(result.stderr)}"
        f"\n--- server log\n{tail(server.output(), 20)}"
    )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    for record in report["pages"]:
        print(f"{record['name']}: {record['seconds']}s, {len(record['requests'])} requests")
    print(f"browser background requests (blocked, not the pages'): {report['background']}")
    return {"background": report["background"], **{record["name"]: record for record in report["pages"]}}


def _assert_offline_and_clean(record: dict[str, Any], server: Server, root: str = "") -> None:
    """The page loaded, sent nothing outside the server's ``root``, and kept to its CSP without errors."""
    name = record["name"]
    assert sorted(record["probe"]) == sorted(PROBES), (
        f"{name}: the trap proxy did not see the probe requests: {record['probe']}"
    )
    assert record["trapped"] == [], f"{name} sent requests outside the server: {record['trapped']}"
    assert record["outside"] == [], f"{name} requested non-loopback URLs: {record['outside']}"
    network = [url.split(" ", 1)[1] for url in record["requests"]]
    socket = server.url.replace("http://", "ws://", 1)  # a page's own WebSocket (the realtime demo's)
    stray = [
        url for url in network if not url.startswith(("data:", "blob:", f"{server.url}{root}/", f"{socket}{root}/"))
    ]
    assert stray == [], f"{name} requested URLs outside {server.url}{root}/: {stray}"
    assert record["violations"] == [], f"{name} broke its Content-Security-Policy: {record['violations']}"
    assert record["exceptions"] == [], f"{name} threw: {record['exceptions']}"
    errors = [line for line in record["console"] if ".error:" in line]
    assert errors == [], f"{name} logged errors: {errors}"
    assert record["failedLoads"] == [], f"{name} had failed loads: {record['failedLoads']}"
    bad = [response for response in record["responses"] if response["status"] >= 400]
    assert bad == [], f"{name} got error responses: {bad}"
    assert not record["failed"], f"{name} shows an error:\n{record['text'][:2000]}"
    assert record["ready"], (
        f"{name} did not render an operation within {PAGE_TIMEOUT}s:\n{record['text'][:2000]}\n"
        f"requests: {record['requests']}\nresponses: {record['responses']}\nconsole: {record['console'][-20:]}"
    )


def _assert_screenshot(path: str) -> None:
    """A non-empty PNG of the 1280x1000 viewport."""
    data = Path(path).read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1000), f"{path} is {width}x{height}"
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes: a blank page?"


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + 2 * PAGE_TIMEOUT + 60)
def test_swagger_ui_and_redoc_show_every_operation_offline(node: str, chromium: Path, demo: Server) -> None:
    spec = httpx.get(f"{demo.url}/openapi.json", timeout=10).json()
    expected = _operations(spec)
    assert expected.keys() >= POSTS_OPERATIONS, f"/openapi.json lacks /posts operations: {sorted(expected)}"

    report = _browse(node, chromium, demo, {"docs-swagger": f"{demo.url}/docs", "docs-redoc": f"{demo.url}/redoc"})

    swagger, redoc = report["docs-swagger"], report["docs-redoc"]
    for record in (swagger, redoc):
        _assert_offline_and_clean(record, demo)
        _assert_screenshot(record["screenshot"])
    assert spec["info"]["title"] in swagger["text"]
    assert spec["info"]["title"] in redoc["text"]
    shown_by_swagger = {(method, path): summary for method, path, summary in swagger["collected"]}
    assert shown_by_swagger == expected, "Swagger UI's operations differ from /openapi.json's"
    shown_by_redoc = {(method, path): summary for method, path, summary in redoc["collected"]}
    assert shown_by_redoc.keys() == expected.keys(), "ReDoc's operations differ from /openapi.json's"
    assert all(summary in shown_by_redoc[key] for key, summary in expected.items()), "ReDoc lacks summaries"
    assert shown_by_swagger.keys() >= POSTS_OPERATIONS
    assert shown_by_redoc.keys() >= POSTS_OPERATIONS


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + 2 * PAGE_TIMEOUT + 60)
def test_pages_under_base_load_everything_from_under_it(node: str, chromium: Path, demo_under_base: Server) -> None:
    root = "/api/v1"
    pages = {
        "docs-swagger-base": f"{demo_under_base.url}{root}/docs",
        "docs-redoc-base": f"{demo_under_base.url}{root}/redoc",
    }

    report = _browse(node, chromium, demo_under_base, pages)

    for name in pages:
        record = report[name]
        _assert_offline_and_clean(record, demo_under_base, root)
        _assert_screenshot(record["screenshot"])
        assert f"GET {demo_under_base.url}{root}/openapi.json" in record["requests"]
        assert {(method, path) for method, path, _summary in record["collected"]} >= POSTS_OPERATIONS


# -- /docs under --auth: lock icons, and "Try it out" before and after the Authorize dialog -----------------

NOTES_LIST = "#operations-notes-list_notes"  # Swagger UI's id for the operation list_notes under the tag notes
FIELDS = f"{NOTES_LIST} .parameters input, {NOTES_LIST} .parameters textarea"
LIVE_STATUS = f"document.querySelector('{NOTES_LIST} .live-responses-table tbody .response-col_status')"
LIVE_BODY = (
    f"document.querySelector('{NOTES_LIST} .live-responses-table tbody .response-col_description .highlight-code pre')"
)
TRY_TIMEOUT = 45  # seconds for the page and every step


def _status_is(status: int) -> str:
    return f"{LIVE_STATUS}?.textContent.trim() === '{status}' && {LIVE_BODY} !== null"


def _try_it_out_steps(token: str) -> list[dict[str, Any]]:
    """What a user does on /docs: look, run GET /notes, authorize with ``token``, run it again, reload."""
    locks = """[...document.querySelectorAll('.swagger-ui .opblock')]
        .filter(block => block.querySelector('.opblock-summary .authorization__btn'))
        .map(block => [block.querySelector('.opblock-summary-method')?.textContent.trim(),
                       block.querySelector('.opblock-summary-path')?.getAttribute('data-path')])"""
    execute = {"click": f"{NOTES_LIST} button.execute", "text": "Execute"}
    return [
        {"read": locks, "what": "find the operations that show a lock"},
        {"click": f"{NOTES_LIST} .opblock-summary-control", "what": "open GET /notes"},
        {"wait": f"document.querySelector('{NOTES_LIST} .parameters input') !== null", "what": "see the parameters"},
        # Swagger UI pre-fills a parameter from its `example` (or an object's sample): none may be, or
        # Execute would not run the plain list (it ran ?_page=1&_per_page=10&...&id=1 once).
        {
            "read": f"[...document.querySelectorAll({FIELDS!r})].map(field => field.value)",
            "what": "read the parameters",
        },
        {**execute, "what": "Execute GET /notes without a token"},
        {"wait": _status_is(401), "what": "see the 401"},
        {"read": f"{LIVE_BODY}.textContent", "what": "read the 401's body"},
        {"click": ".swagger-ui .auth-wrapper button.authorize", "what": "open the Authorize dialog"},
        {"type": ".modal-ux input#auth-bearer-value", "text": token, "what": "type user A's token"},
        {"click": ".modal-ux .auth-btn-wrapper button.authorize", "text": "Authorize", "what": "press Authorize"},
        {"click": ".modal-ux .auth-btn-wrapper button.btn-done", "text": "Close", "what": "close the dialog"},
        {"wait": "document.querySelector('.modal-ux') === null", "what": "see the dialog gone"},
        {
            "wait": f"document.querySelector('{NOTES_LIST} .authorization__btn')?.getAttribute('aria-label')"
            " === 'authorization button locked'",
            "what": "see GET /notes locked",
        },
        {**execute, "what": "Execute GET /notes with the token"},
        {"wait": _status_is(200), "what": "see the 200"},
        {"read": f"{LIVE_BODY}.textContent", "what": "read the 200's body"},
        {"read": f"document.querySelector('{NOTES_LIST} .curl-command')?.textContent", "what": "read the curl line"},
        {"reload": True, "what": "reload the page"},
        {
            "wait": "document.querySelector('.swagger-ui .auth-wrapper button.authorize.locked') !== null",
            "what": "see the token kept across the reload (persistAuthorization)",
        },
    ]


@pytest.fixture
def notes_server(tmp_path: Path) -> Iterator[Server]:
    """jsonserve --auth on an empty ``notes`` collection whose rule is json-server-auth's ``600``."""
    (tmp_path / "db.json").write_text(json.dumps({"notes": []}))
    (tmp_path / "rules.json").write_text(json.dumps({"notes": "600"}))
    server = start_server(["db.json", "--auth", "--rules", "rules.json"], tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _user_with_notes(server: Server, email: str, texts: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """Register ``email`` over HTTP and create ``texts`` as their notes: their token and their notes."""
    registered = httpx.post(f"{server.url}/register", json={"email": email, "password": "a long password"}, timeout=10)
    assert registered.status_code == 201, registered.text
    token = registered.json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    notes = []
    for text in texts:
        created = httpx.post(f"{server.url}/notes", json={"text": text}, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        notes.append(created.json())
    return token, notes


@pytest.mark.timeout(CHROMIUM_INSTALL_TIMEOUT + TRY_TIMEOUT + 60)
def test_docs_under_auth_show_locks_and_try_it_out_works_after_authorize(
    node: str, chromium: Path, notes_server: Server
) -> None:
    token_a, notes_a = _user_with_notes(notes_server, "ada@example.com", ["ada's first", "ada's second"])
    _token_b, notes_b = _user_with_notes(notes_server, "linus@example.com", ["linus's"])
    spec = httpx.get(f"{notes_server.url}/openapi.json", timeout=10).json()
    secured = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS and operation.get("security")
    }
    assert ("GET", "/notes") in secured, f"/openapi.json does not secure GET /notes: {sorted(secured)}"

    report = _browse(
        node,
        chromium,
        notes_server,
        {"docs-swagger-auth": f"{notes_server.url}/docs"},
        _try_it_out_steps(token_a),
        TRY_TIMEOUT,
    )

    record = report["docs-swagger-auth"]
    done = "\n".join(
        f"  {'ok' if step['ok'] else 'FAILED'} {step['what']} ({step['ms']} ms)" for step in record["steps"]
    )
    context = (
        f"\nsteps:\n{done}\nscreenshot: {record['screenshot']}\npage text:\n{record['text'][:1500]}"
        f"\nresponses: {record['responses'][-10:]}\nserver log:\n{tail(notes_server.output(), 20)}"
    )
    assert record["ready"], f"/docs did not render an operation within {TRY_TIMEOUT}s{context}"
    assert record["stepError"] is None, f"{record['stepError']}{context}"
    values = {step["what"]: step.get("value") for step in record["steps"]}
    assert record["trapped"] == [] and record["outside"] == [], f"/docs reached outside: {record['trapped']}"
    assert record["violations"] == [] and record["exceptions"] == [], f"{record['violations']} {record['exceptions']}"

    locks = {tuple(pair) for pair in values["find the operations that show a lock"]}
    assert locks == secured, f"lock icons on {sorted(locks)}, but the document secures {sorted(secured)}"
    assert ("GET", "/notes") in locks and ("POST", "/login") not in locks

    prefilled = [value for value in values["read the parameters"] if value not in ("", "{}")]
    assert prefilled == [], f"Try it out pre-filled the parameters of GET /notes with {prefilled}"
    refused = json.loads(values["read the 401's body"])
    assert (refused["status"], refused["code"]) == (401, "unauthorized"), refused
    shown = json.loads(values["read the 200's body"])
    assert shown == notes_a, f"GET /notes as user A showed {shown}; A's notes are {notes_a}, B's {notes_b}"
    assert f"Authorization: Bearer {token_a}" in values["read the curl line"], values["read the curl line"]
    # The 401 is the only error response the page met (and the console line Chromium writes for it).
    bad = [(response["status"], response["url"]) for response in record["responses"] if response["status"] >= 400]
    assert bad == [(401, f"{notes_server.url}/notes")], f"unexpected error responses: {bad}"
    _assert_screenshot(record["screenshot"])
