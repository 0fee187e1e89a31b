"""The declared middleware stack: its layers, their order, and policies that see every request."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.config import Settings
from jsonserve.service import build_service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.testing import serve
from jsonserve.web import fastpath, layers, stack
from jsonserve.web.app import create_app
from jsonserve.web.errors import CatchAll, problem
from jsonserve.web.inprocess import open_client
from jsonserve.web.observe import Observe

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {"posts": [{"id": 1, "title": "a"}], "secrets": [{"id": 1, "pin": "1234"}]}
ORIGIN = {"Origin": "https://app.example"}


class Refuse:
    """A policy: 401 for ``/secrets…``, every other request passed on (and recorded)."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(scope["path"])
            if scope["path"].startswith("/secrets"):
                await problem(401, "log in first", "unauthorized")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Broken:
    """A policy with a bug."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise RuntimeError("policy bug")
        await self.app(scope, receive, send)


def _parts(policies: tuple[Middleware, ...] = (), fast_reads: bool = True, **settings: Any) -> stack.Parts:
    service = build_service(Settings(), MemoryStorage({}))
    return stack.Parts(Settings(**settings), service, policies, fast_reads)


@pytest.mark.parametrize(
    ("parts", "names"),
    [
        (_parts(), ["front lane", "observe", "cors", "catch-all", "gzip", "fast lane"]),
        (_parts(hsts=60), ["observe", "hsts", "cors", "catch-all", "gzip", "fast lane"]),
        (_parts((Middleware(Broken),)), ["observe", "cors", "catch-all", "policies", "gzip", "fast lane"]),
        (_parts(cors_origins=None), ["front lane", "observe", "catch-all", "gzip", "fast lane"]),
        (_parts(fast_reads=False), ["observe", "cors", "catch-all", "gzip"]),
        (_parts(base="/api"), ["observe", "cors", "catch-all", "gzip"]),
        (_parts(delay_ms=10), ["observe", "cors", "catch-all", "gzip"]),
        (_parts(routes={"/api/*": "/$1"}), ["observe", "cors", "catch-all", "rewrite", "gzip"]),
        (
            _parts(rate_limit="5/second", chaos=0.1),
            ["observe", "cors", "catch-all", "rate limit", "chaos", "gzip", "fast lane"],
        ),
        (
            _parts(rate_limit_writes="5/second", chaos_latency=(1, 2)),
            ["observe", "cors", "catch-all", "rate limit", "chaos", "gzip", "fast lane"],
        ),
    ],
)
def test_the_layers_present_and_their_order(parts: stack.Parts, names: list[str]) -> None:
    assert [layer.name for layer in stack.present(parts)] == names


def test_the_middleware_list_puts_the_policies_between_the_catch_all_and_the_fast_lane() -> None:
    parts = _parts((Middleware(Refuse, seen=[]), Middleware(Broken)))
    classes: list[object] = [item.cls for item in stack.middleware(parts)]
    assert classes == [Observe, layers.Cors, CatchAll, Refuse, Broken, layers.Gzip, fastpath.FastReads]


async def test_a_policy_sees_the_fast_lanes_requests_and_answers_inside_cors(answered: list[str]) -> None:
    settings, seen = Settings(), list[str]()
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)))
    async with open_client(create_app(settings, service, policies=[Middleware(Refuse, seen=seen)])) as client:
        refused = await client.get("/secrets/1", headers=ORIGIN)
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "*"
        assert refused.json()["code"] == "unauthorized"
        assert (await client.get("/secrets", headers=ORIGIN)).status_code == 401
        assert (await client.get("/posts/1", headers=ORIGIN)).json() == {"id": 1, "title": "a"}
        preflight = await client.options("/secrets/1", headers={**ORIGIN, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 204  # CORS answers preflights before any policy
    assert seen == ["/secrets/1", "/secrets", "/posts/1"]
    assert answered == ["/posts/1"]  # the lane answered only what the policy let through


async def test_a_policy_that_fails_is_a_problem_500_with_cors_headers() -> None:
    settings = Settings()
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)))
    async with open_client(create_app(settings, service, policies=[Middleware(Broken)])) as client:
        response = await client.get("/posts/1", headers=ORIGIN)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["code"] == "internal_error"


RESPONSE_HEADERS = [
    [(b"content-type", b"application/json")],
    [(b"vary", b"Accept-Encoding"), (b"etag", b'"1"')],
    [(b"vary", b"Accept-Encoding"), (b"etag", b'"1"'), (b"vary", b"Cookie"), (b"x-a", b"b")],
    [],
]


@pytest.mark.parametrize("response_headers", RESPONSE_HEADERS)
@pytest.mark.parametrize("origin", [None, b"https://app.example"])
@pytest.mark.parametrize("cors_origins", [("*",), ("https://app.example",)])
async def test_cors_adds_the_headers_starlettes_cors_adds(
    response_headers: list[tuple[bytes, bytes]], origin: bytes | None, cors_origins: tuple[str, ...]
) -> None:
    # The Cors subclass answers requests without an Origin on a shorter path of its own: same headers, same order.
    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(response_headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    (declared,) = stack.middleware(_parts(cors_origins=cors_origins, fast_reads=False))[1:2]
    headers = [(b"host", b"t")] + ([(b"origin", origin)] if origin else [])
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers}
    answers: list[list[Message]] = []
    options: dict[str, Any] = dict(declared.kwargs)
    for cls in (layers.Cors, CORSMiddleware):
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)  # noqa: B023 - each pass collects its own messages

        await cls(app, **options)(dict(scope), receive, send)
        answers.append(sent)
    assert answers[0] == answers[1]
    assert any(name == b"vary" and value.endswith(b"Origin") for name, value in answers[0][0]["headers"])


async def test_a_rewrite_to_a_guard_prefix_is_applied_by_the_auth_layer(tmp_path: Path) -> None:
    # json-server-auth's routes.json: the rewrite runs before auth, which takes the prefix off and applies it.
    routes = {"/notes*": "/600/notes$1", "/posts*": "/664/posts$1"}
    data: dict[str, Any] = {"users": [], "notes": [{"id": 1, "userId": 7}], "posts": [{"id": 1, "userId": 7}]}
    (tmp_path / "rules.json").write_text("{}")
    async with serve(data, auth=True, rules_file=tmp_path / "rules.json", routes=routes) as client:
        assert (await client.get("/notes")).status_code == 401  # 600: sign in first
        assert (await client.get("/notes/1")).status_code == 401
        assert (await client.get("/posts")).status_code == 200  # 664: everyone reads
        assert (await client.post("/posts", json={"title": "x"})).status_code == 401  # logged-in users write
        session = await client.post("/register", json={"email": "grace@example.com", "password": "password-1"})
        grace = {"Authorization": f"Bearer {session.json()['accessToken']}"}
        assert (await client.get("/notes", headers=grace)).json() == []  # only her own
        assert (await client.get("/notes/1", headers=grace)).status_code == 403
        assert (await client.post("/posts", json={"title": "x"}, headers=grace)).status_code == 201
