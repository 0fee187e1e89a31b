"""The list lane answers exactly as the routes do, on every backend.

Each request of the table goes to an app with the lane and to one without it, both over the same
service: status, headers (but ``date`` and the request id) and body must be identical. The spy of
``tests/web/conftest.py`` records which requests the lane answered itself, so the comparison cannot
pass because the lane never ran; the requests it must hand over are in the table too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson
import pytest

from jsonserve import testing
from jsonserve.config import Settings
from jsonserve.query import ParseOptions
from jsonserve.service import Service, build_service
from jsonserve.testing.backends import _storage
from jsonserve.web import listlane
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client
from tests.api.conftest import require_postgres

pytestmark = pytest.mark.anyio

HASH = bcrypt.hashpw(b"ada-password", bcrypt.gensalt(rounds=4)).decode()
DATA: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "héllo ✓", "userId": 1, "views": 10},
        {"id": 2, "title": "b second", "userId": 2, "views": 3},
        {"id": 3, "title": "a third", "userId": 1, "views": 7, "body": "x" * 2000},
        {"id": 4, "title": "d fourth", "userId": 2, "views": 1},
        {"id": 5, "title": "c fifth", "userId": 1, "views": 12},
    ],
    "comments": [{"id": 1, "postId": 1, "text": "first"}, {"id": 2, "postId": 3, "text": "second"}],
    "profile": {"name": "typicode"},
    "users": [{"id": 1, "email": "ada@example.com", "password": HASH}],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}, {"id": 2, "text": "bob's", "userId": 2}],
}
ORIGIN = {"Origin": "https://app.example"}
GZIP = {"Accept-Encoding": "gzip"}
# (method, path and query, headers, answered by the lane)
REQUESTS: list[tuple[str, str, dict[str, str], bool]] = [
    ("GET", "/posts", {}, True),
    ("GET", "/posts?_page=2&_limit=2", {}, True),  # Link, X-Total-Count
    ("GET", "/posts?_limit=2&_page=2&title_like=e", {"Host": "api.example:8080"}, True),
    ("GET", "/posts?_page=9&_limit=2", {}, True),  # past the end: no Link
    ("GET", "/posts?_page=2&_per_page=2", {}, True),  # 1.x envelope
    ("GET", "/posts?_page=9&_per_page=2", {}, True),  # clamped to the last page
    ("GET", "/posts?_sort=title&_order=desc&_page=1&_limit=2", {}, True),
    ("GET", "/posts?_sort=-views,title", {}, True),
    ("GET", "/posts?userId=1", {}, True),
    ("GET", "/posts?userId=1&userId=2&views_gte=5", {}, True),
    ("GET", "/posts?views:gt=3&_start=1&_end=3", {}, True),
    ("GET", "/posts?q=h%C3%A9llo", {}, True),
    ("GET", "/posts?_embed=comments&_page=1&_limit=3", {}, True),
    ("GET", "/comments?_expand=post", {}, True),
    ("GET", "/posts?_page=1&_limit=3", GZIP, True),
    ("GET", "/posts", GZIP, True),
    ("GET", "/posts?_page=2&_limit=2", ORIGIN, True),
    ("GET", "/posts", {**ORIGIN, **GZIP}, True),
    ("GET", "/posts?_page=2&_limit=2", {"Origin": "https://elsewhere.example"}, True),
    ("GET", "/posts?userId=1", {}, True),  # asked again: the kept parse answers the same
    ("GET", "/posts?_page=abc", {}, False),  # the routes' 400
    ("GET", "/posts?_sort=title&_order=sideways", ORIGIN, False),
    ("GET", "/posts?_delay=1", {}, False),
    ("GET", "/posts", {"If-None-Match": '"nope"'}, False),
    ("HEAD", "/posts", {}, False),
    ("GET", "/posts/", {}, False),
    ("GET", "/profile", {}, False),
    ("GET", "/nothing?_page=1", {}, False),
    ("GET", "/db", {}, False),
    ("OPTIONS", "/posts", {**ORIGIN, "Access-Control-Request-Method": "GET"}, False),
    ("PUT", "/posts?_page=1", {}, False),  # the routes' 405 (no write: both apps read the same data)
]
Seen = tuple[int, list[tuple[str, str]], bytes]


def _seen(response: httpx.Response) -> Seen:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in ("date", "x-request-id"))
    return response.status_code, headers, response.content


@contextlib.asynccontextmanager
async def _service(backend: str, settings: Settings) -> AsyncIterator[Service]:
    if backend == "postgres":
        require_postgres()
    async with _storage(DATA, backend, settings) as storage, build_service(settings, storage) as service:
        yield service


async def _compare(
    service: Service, settings: Settings, requests: list[Any], answered: list[str]
) -> tuple[set[int], list[Seen]]:
    """Send each request to both apps and assert the answers are equal; the ones the lane answered, and the answers."""
    seen: dict[bool, list[Seen]] = {}
    lane: set[int] = set()
    for fast_reads in (True, False):
        app = create_app(settings, service, manage_storage=False, fast_reads=fast_reads)
        async with open_client(app) as client:
            seen[fast_reads] = []
            for index, (method, path, headers, *_rest) in enumerate(requests):
                before = len(answered)
                seen[fast_reads].append(_seen(await client.request(method, path, headers=headers)))
                if len(answered) > before:
                    lane.add(index)
    for index, request in enumerate(requests):
        assert seen[True][index] == seen[False][index], request
    return lane, seen[True]


@pytest.mark.parametrize("backend", testing.BACKENDS)
@pytest.mark.parametrize(
    "options", [{"cors_origins": ("*",)}, {"cors_origins": None}, {"compat": "1", "max_page_size": 3}]
)
async def test_the_list_lane_answers_as_the_routes(answered: list[str], backend: str, options: dict[str, Any]) -> None:
    settings = Settings(**options)
    async with _service(backend, settings) as service:
        lane, answers = await _compare(service, settings, REQUESTS, answered)
    assert lane == {index for index, request in enumerate(REQUESTS) if request[3]}
    status, headers, body = answers[1]
    assert status == 200 and ("x-total-count", "5") in headers
    if settings.compat == "1":  # every page is 1.x's: the envelope, no Link
        assert orjson.loads(body)["prev"] == 1 and "link" not in dict(headers)
    else:
        assert dict(headers)["link"].startswith('<http://127.0.0.1:3000/posts?_limit=2&_page=1>; rel="first"')


async def test_the_list_lane_keeps_the_rules_of_auth(answered: list[str], tmp_path: Path) -> None:
    # notes are 600 (owner only): anonymous gets the routes' 401 from the lane, ada her own notes only.
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"notes": "600", "posts": "644"}))
    settings = Settings(auth=True, rules_file=rules, cors_origins=("*",))
    async with _service("memory", settings) as service:
        app = create_app(settings, service, manage_storage=False)
        async with open_client(app) as client:
            login = await client.post("/login", json={"email": "ada@example.com", "password": "ada-password"})
            token = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        requests = [
            ("GET", "/notes", {}),
            ("GET", "/notes?_page=1&_limit=1", token),
            ("GET", "/notes", {"Authorization": "Bearer not-a-token"}),
            ("GET", "/posts?userId=1", {}),
            ("GET", "/users", token),  # the password hash is redacted in both
            ("GET", "/users?password=x", token),  # a hidden field cannot be queried: the same refusal
        ]
        lane, answers = await _compare(service, settings, requests, answered)
    assert [status for status, _headers, _body in answers] == [401, 200, 401, 200, 200, 400]
    assert orjson.loads(answers[1][2]) == [DATA["notes"][0]]
    assert b"password" not in answers[4][2]
    # A bad token is refused by the auth layer before the lane; /users is a page of --auth (its POST
    # registers), left to the routes whatever the method.
    assert lane == {0, 1, 3}


async def test_the_kept_parses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listlane, "PARSED_QUERIES", 3)
    settings = Settings()
    async with _service("memory", settings) as service:
        lane = listlane.ListLane(service, ParseOptions())
        for number in range(1, 6):
            parsed = lane.parse("posts", f"_page={number}&_limit=2".encode())
            assert parsed is not None and parsed.query.window is not None
        assert list(lane._parsed) == [("posts", f"_page={n}&_limit=2".encode()) for n in (3, 4, 5)]
        assert lane.parse("posts", b"_page=x") is None and lane.parse("posts", b"_delay=5") is None
        long = b"&".join([b"_page=1", *[b"title_ne=%d" % n for n in range(400)]])
        assert len(long) > listlane.KEPT_QUERY_BYTES
        parsed = lane.parse("posts", long)
        assert parsed is not None and parsed.query.window is not None  # parsed, answered, not kept
        assert [key[1] for key in lane._parsed] == [f"_page={n}&_limit=2".encode() for n in (3, 4, 5)]


@pytest.mark.parametrize(
    ("method", "path", "headers", "target"),
    [
        ("GET", "/posts", [], "posts"),
        ("GET", "/a b", [(b"accept-encoding", b"gzip")], "a b"),
        ("HEAD", "/posts", [], None),
        ("POST", "/posts", [], None),
        ("GET", "/", [], None),
        ("GET", "/posts/", [], None),
        ("GET", "/posts/1", [], None),
        ("GET", "/db", [], None),
        ("GET", "/posts", [(b"if-none-match", b'"x"')], None),
    ],
)
def test_which_requests_may_take_the_list_lane(
    method: str, path: str, headers: list[tuple[bytes, bytes]], target: str | None
) -> None:
    scope = {"type": "http", "method": method, "path": path, "query_string": b"_page=1", "headers": headers}
    assert listlane.list_target(scope, frozenset({"db"})) == target
    assert listlane.list_target({**scope, "root_path": "/proxy"}) is None
    assert listlane.list_target({**scope, "type": "websocket"}) is None
