"""``with serve(data) as server`` without pytest's help: options, fault matching, the log's details, cleanup."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import httpx
import pytest
import requests

from jsonserve.errors import InvalidCredentials, TooManyRequests
from jsonserve.testing import Fault, JsonServer, RecordedRequest, serve
from jsonserve.testing.faults import FaultRules
from jsonserve.testing.recorder import describe

POSTS = {"posts": [{"id": 1, "title": "a", "userId": 1}], "users": [{"id": 1, "name": "Ada"}]}


@pytest.mark.parametrize(
    ("pattern", "method", "request_line", "expected"),
    [
        ("/posts", None, "GET /posts", True),
        ("/posts", None, "GET /posts/1/comments", True),
        ("/posts", None, "GET /postscript", False),
        ("/posts/", None, "GET /posts", True),
        ("/posts/*", None, "GET /posts", False),
        ("/posts/*/comments", None, "GET /posts/7/comments", True),
        ("/posts/*/comments", None, "GET /posts/7/likes", False),
        ("/", None, "GET /anything", True),
        (re.compile(r"/posts/\d+"), None, "GET /posts/12", True),
        (re.compile(r"/posts/\d+"), None, "GET /posts/12/comments", False),  # a pattern matches the whole path
        ("/posts", "post", "GET /posts", False),
        ("/posts", "post", "POST /posts", True),
        ("/posts", ("GET", "patch"), "PATCH /posts/1", True),
    ],
)
def test_which_requests_a_rule_matches(
    pattern: str | re.Pattern[str], method: str | tuple[str, ...] | None, request_line: str, expected: bool
) -> None:
    verb, path = request_line.split()
    assert Fault.failing(pattern, method=method).matches(verb, path) is expected


def test_rules_count_down_and_the_first_match_wins() -> None:
    rules = FaultRules(base="/api")
    slow = rules.add(Fault.delaying("/posts", ms=5, times=1))
    first = rules.add(Fault.failing("/posts", status=500, times=1))
    second = rules.add(Fault.failing("posts/1", status=404))
    assert (first.path, second.path) == ("/api/posts", "/api/posts/1")  # text paths are taken under --base
    assert rules.take("GET", "/api/posts/1") == (5, first)
    assert rules.take("GET", "/api/posts/1") == (0, second)
    assert rules.take("GET", "/api/posts") == (0, None)
    assert (slow.hits, first.hits, second.hits) == (1, 1, 1)
    with pytest.raises(ValueError, match="between 400 and 599"):
        Fault.failing("/posts", status=200)
    with pytest.raises(ValueError, match="times is 1 or more"):
        Fault.delaying("/posts", ms=1, times=0)


def test_an_injected_failure_is_a_problem_a_browser_can_read() -> None:
    with serve(POSTS) as server:
        server.fail("/posts", status=429, method="POST")
        response = server.client.post("/posts", json={"title": "b"}, headers={"Origin": "http://app.test"})
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["access-control-allow-origin"] == "*"  # CORS wraps the failure
        assert response.json()["code"] == "injected_fault"
        assert server.requests[-1].json == {"title": "b"}  # the app never read the body: the log did
        assert server.client.head("/posts").status_code == 200
        server.fail("/posts", status=503, method="HEAD")
        head = server.client.head("/posts")
        assert (head.status_code, head.content) == (503, b"")


def test_base_url_paths_and_the_log(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text(json.dumps(POSTS))
    with serve(tmp_path / "db.json", base="/api/v1", timestamps=True) as server:
        assert server.url.endswith("/api/v1")
        created = requests.post(f"{server.url}/posts?draft=1&tag=a&tag=b", json={"title": "b"}, timeout=5)
        assert created.status_code == 201 and "createdAt" in created.json()
        server.fail("/posts", status=502, times=1)
        assert server.client.get("/posts").status_code == 502
        assert server.client.get("/posts").json()[0]["title"] == "a"
        post = server.requests[0]
        assert (post.method, post.path, post.status) == ("POST", "/api/v1/posts", 201)
        assert (post.query, post.query_string) == ({"draft": "1", "tag": "b"}, "draft=1&tag=a&tag=b")
        assert post.headers["content-type"] == "application/json"
        assert [request.status for request in server.requests] == [201, 502, 200]
        snapshot = server.data
        snapshot["posts"].clear()  # a copy: the server's data is untouched
        assert len(server.data["posts"]) == 2


def test_options_as_the_cli_spells_them() -> None:
    schema = {"posts": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}}
    with serve(POSTS, schema=schema, routes={"/blog/*": "/posts/$1"}, compat="1") as server:
        refused = server.client.post("/posts", json={"title": 7})
        assert refused.status_code == 422 and server.requests[-1].status == 422
        assert server.client.get("/blog/1").json()["title"] == "a"
        assert server.client.get("/posts", params={"_per_page": 1}).json()["pages"] == 1  # the 1.x dialect
    with pytest.raises(TypeError, match="unknown jsonserve option 'colour'; the options are data, auth"):
        serve({}, colour="blue").__enter__()
    with pytest.raises(TypeError, match="JSON values only"):
        serve({"posts": [{"id": 1, "when": object()}]}).__enter__()
    with pytest.raises(TypeError, match="memory backend"):
        serve({}, backend="sqlite").__enter__()


def test_large_answers_are_decoded_through_every_door() -> None:
    big = {"posts": [{"id": n, "title": "x" * 100} for n in range(1, 51)]}
    with serve(big) as server:
        in_process = server.client.get("/posts")
        assert in_process.headers["content-encoding"] == "gzip" and len(in_process.json()) == 50
        over_socket = httpx.get(f"{server.url}/posts", headers={"Accept-Encoding": "gzip"})
        assert over_socket.headers["content-encoding"] == "gzip" and len(over_socket.json()) == 50


def test_every_thread_ends_with_the_block() -> None:
    def ours() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith("jsonserve")]

    with serve(POSTS) as server:
        assert isinstance(server, JsonServer)
        assert requests.get(f"{server.url}/posts/1", timeout=5).status_code == 200
        assert ours()
    assert not ours()


def test_the_report_shows_the_last_requests() -> None:
    logged = [RecordedRequest("GET", f"/posts/{n}", {}, {}, b"", 200) for n in range(60)]
    text = describe([*logged, RecordedRequest("PUT", "/posts/1", {}, {}, b"x" * 300, None)]).splitlines()
    assert text[0] == "... 11 earlier requests" and len(text) == 51
    assert text[-1].startswith("PUT /posts/1 -> no answer  xxx") and text[-1].endswith("... (300 bytes)")


def test_a_reset_forgets_shapes_and_failed_logins() -> None:
    users = {"users": [{"id": 1, "email": "ada@example.com", "password": "correct horse"}], "posts": [{"id": 1}]}
    with serve(users, auth=True) as server:

        def post_fields() -> set[str]:
            return set(server.client.get("/openapi.json").json()["components"]["schemas"]["posts"]["properties"])

        assert "words" not in post_fields()
        for _ in range(5):
            with pytest.raises(InvalidCredentials):
                server.login("ada@example.com", "wrong password")
        with pytest.raises(TooManyRequests):
            server.login("ada@example.com", "correct horse")
        server.reset({**users, "posts": [{"id": 1, "words": 12}]})
        assert server.login("ada@example.com", "correct horse")
        assert "words" in post_fields()  # inferred again from the new data
