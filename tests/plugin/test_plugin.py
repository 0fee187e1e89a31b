"""The pytest plugin as a user meets it: test files run by pytest inside pytest, the plugin loaded from its entry point.

Each run is a small project exercising many names at once (pytester runs are the slow part).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

API_TESTS = """
import re

import httpx
import pytest
import requests

pytestmark = pytest.mark.jsonserve(data={"posts": [{"id": 1, "title": "a"}]})


def test_list(jsonserve):  # the issue's example, as written
    assert requests.get(f"{jsonserve.url}/posts").json()[0]["title"] == "a"
    assert jsonserve.client.get("/posts/1").status_code == 200
    requests.post(f"{jsonserve.url}/posts", json={"title": "b"})
    assert jsonserve.data["posts"][-1]["title"] == "b"
    assert jsonserve.requests[-1].method == "POST"
    assert jsonserve.requests[-1].json == {"title": "b"}
    socket_get, in_process_get, post = jsonserve.requests
    assert (socket_get.method, socket_get.path, socket_get.status) == ("GET", "/posts", 200)
    assert in_process_get.headers["host"] == "testserver"
    assert (post.status, post.headers["content-type"]) == (201, "application/json")


def test_a_test_writes(jsonserve):
    assert jsonserve.client.post("/posts", json={"title": "mine"}).json()["id"] == 2
    assert jsonserve.client.delete("/posts/1").status_code == 200
    jsonserve.fail("/posts")
    assert [post["title"] for post in jsonserve.data["posts"]] == ["mine"]


def test_the_next_test_starts_afresh(jsonserve):
    assert jsonserve.requests == []
    assert jsonserve.data == {"posts": [{"id": 1, "title": "a"}]}
    assert jsonserve.client.post("/posts", json={"title": "c"}).json()["id"] == 2  # ids count from the data again


@pytest.mark.jsonserve(data="data/db.json", compat="1")  # the closest marker wins; the module's data is replaced
def test_marker_options_and_load(jsonserve):
    response = jsonserve.client.get("/comments", params={"postId:eq": 1, "_sort": "-id"})
    assert [comment["id"] for comment in response.json()] == [2, 1]
    assert jsonserve.requests[-1].query == {"postId:eq": "1", "_sort": "-id"}
    jsonserve.load({"comments": []})
    assert jsonserve.client.get("/comments").json() == []


def test_faults(jsonserve):
    failing = jsonserve.fail("/posts", status=503, times=2)
    assert [requests.get(f"{jsonserve.url}/posts/1").status_code for _ in range(3)] == [503, 503, 200]
    assert failing.hits == 2 and jsonserve.requests[0].status == 503
    gone = {"error": "gone"}
    jsonserve.fail(re.compile(r"/posts/\\d+"), status=404, method="DELETE", body=gone, headers={"X-Why": "t"})
    response = jsonserve.client.delete("/posts/1")
    assert (response.status_code, response.json(), response.headers["x-why"]) == (404, {"error": "gone"}, "t")
    assert jsonserve.client.get("/posts/1").status_code == 200
    jsonserve.delay("/posts", ms=400, times=2)
    with pytest.raises(httpx.ReadTimeout):
        jsonserve.client.get("/posts", timeout=0.05)
    with pytest.raises(requests.Timeout):
        requests.get(f"{jsonserve.url}/posts", timeout=0.05)
    assert jsonserve.client.get("/posts", timeout=0.05).status_code == 200


def test_a_failure_shows_the_requests(jsonserve):
    requests.post(f"{jsonserve.url}/posts?source=test", json={"title": "in the report"})
    assert jsonserve.data["posts"] == []
"""

PLAIN_TESTS = """
import threading


def test_no_server_unless_asked():
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("jsonserve")]


def test_without_a_marker(jsonserve):
    assert jsonserve.data == {}
    assert jsonserve.client.get("/posts").status_code == 404
"""

ASYNC_TESTS = """
import httpx
import pytest

pytestmark = pytest.mark.jsonserve(data={"posts": [{"id": 1, "title": "a"}]})


@pytest.mark.asyncio
async def test_pytest_asyncio(jsonserve):
    assert (await jsonserve.async_client.post("/posts", json={"title": "b"})).status_code == 201
    async with httpx.AsyncClient(base_url=jsonserve.url) as client:  # the socket, from the test's own loop
        assert [post["title"] for post in (await client.get("/posts")).json()] == ["a", "b"]
    assert [request.method for request in jsonserve.requests] == ["POST", "GET"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_anyio(jsonserve, anyio_backend):
    jsonserve.fail("/posts", status=500, times=1)
    async with jsonserve.async_client as client:  # closing it is allowed: the next test gets a new one
        assert (await client.get("/posts")).status_code == 500
        assert (await client.get("/posts/1")).json()["title"] == "a"
        jsonserve.delay("/posts", ms=400, times=1)
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/posts", timeout=0.05)


@pytest.mark.asyncio
async def test_after_a_closed_client(jsonserve):
    assert (await jsonserve.async_client.get("/posts")).json() == [{"id": 1, "title": "a"}]
"""

AUTH_TESTS = """
import pytest
import requests

from jsonserve.errors import InvalidCredentials, NotFound

pytestmark = pytest.mark.jsonserve(
    data={
        "users": [
            {"id": 1, "email": "ada@example.com", "password": "correct horse"},
            {"id": 2, "email": "bob@example.com", "password": "battery staple"},
        ],
        "notes": [{"id": 1, "userId": 1, "text": "ada's"}, {"id": 2, "userId": 2, "text": "bob's"}],
    },
    auth=True,
    rules={"notes": "600"},
)


def test_login_and_rules(jsonserve):
    token = jsonserve.login("ada@example.com", "correct horse")
    mine = requests.get(f"{jsonserve.url}/notes", headers={"Authorization": f"Bearer {token}"})
    assert [note["text"] for note in mine.json()] == ["ada's"]
    assert requests.get(f"{jsonserve.url}/notes").status_code == 401
    assert jsonserve.requests[0].headers["authorization"] == f"Bearer {token}"  # the log keeps what was sent
    with pytest.raises(InvalidCredentials):
        jsonserve.login("ada@example.com", "wrong password")
    assert jsonserve.data["users"][0]["password"].startswith("$argon2id$")  # hashed when loaded


@pytest.mark.parametrize("who", [{"id": 2, "email": "bob@example.com"}, "BOB@example.com", 2, "2"])
def test_token_for(jsonserve, who):
    token = jsonserve.token_for(who)
    notes = jsonserve.client.get("/notes", headers={"Authorization": f"Bearer {token}"}).json()
    assert [note["text"] for note in notes] == ["bob's"]


def test_token_for_nobody(jsonserve):
    with pytest.raises(NotFound):
        jsonserve.token_for("nobody@example.com")


def test_registration_through_the_api(jsonserve):
    body = {"email": "cy@example.com", "password": "long enough"}
    assert jsonserve.client.post("/register", json=body).status_code == 201
    assert jsonserve.login("cy@example.com", "long enough")
"""

DB = {"comments": [{"id": 1, "postId": 1}, {"id": 2, "postId": 1}, {"id": 3, "postId": 2}]}


def test_every_name_isolation_faults_and_the_report(project: pytest.Pytester) -> None:
    project.makepyfile(test_api=API_TESTS, test_plain=PLAIN_TESTS)
    project.mkdir("data")
    (project.path / "data" / "db.json").write_text(json.dumps(DB))
    result = project.runpytest("test_plain.py", "test_api.py")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a_failure_shows_the_requests _*",
            "*- jsonserve requests -*",
            'POST /posts?source=test -> 201  {"title": "in the report"}',
        ]
    )
    assert result.stdout.str().count("jsonserve requests") == 1  # only the failed test's report has them


def test_async_tests_under_pytest_asyncio_and_anyio(project: pytest.Pytester) -> None:
    project.makepyfile(test_async=ASYNC_TESTS)
    project.runpytest().assert_outcomes(passed=4)  # anyio's test once on asyncio, once on trio


def test_auth_helpers(project: pytest.Pytester) -> None:
    project.makepyfile(test_auth=AUTH_TESTS)
    project.runpytest().assert_outcomes(passed=7)


XDIST_TESTS = """
import os

import pytest
import requests


@pytest.mark.parametrize("n", range(8))
@pytest.mark.jsonserve(data={"posts": []})
def test_each_worker_has_its_own_server(jsonserve, n):
    requests.post(f"{jsonserve.url}/posts", json={"n": n})
    assert jsonserve.data == {"posts": [{"n": n, "id": 1}]}
    with open(f"seen-{n}.txt", "w") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {jsonserve.url}")
"""


def test_xdist_workers_each_have_a_server(project: pytest.Pytester) -> None:
    project.makepyfile(test_xdist=XDIST_TESTS)
    result = project.runpytest_subprocess("-n", "2", "--dist", "load")
    result.assert_outcomes(passed=8)
    seen = {tuple(path.read_text().split()) for path in project.path.glob("seen-*.txt")}
    workers = {worker for worker, _url in seen}
    urls = {url for _worker, url in seen}
    assert workers == {"gw0", "gw1"} and len(urls) == 2, seen


def test_loading_the_plugin_imports_nothing_of_jsonserve() -> None:
    code = "import sys, jsonserve.pytest_plugin; print(sorted(m for m in sys.modules if m.startswith('jsonserve')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['jsonserve', 'jsonserve.pytest_plugin']"
