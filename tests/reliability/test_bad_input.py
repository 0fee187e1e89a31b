"""I1-I11, C5: a table of malformed requests against a real server on a temporary db.json.

Every row must get its expected 4xx (never a 5xx) as ``application/problem+json`` with
``{type, title, status, detail, code}`` and no stack trace; after the whole table ``GET /db``, the
data file and the journal are byte-identical to before (nothing a rejected request sends is stored).
Rows marked raw go through a plain socket so that uvicorn sees them exactly as written (``..``
segments, invalid percent-encoding, oversized ``Content-Length`` with a short body).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.helpers import (
    TRACE_MARKERS,
    problem_errors,
    raw_request,
    start,
)
from tests.reliability.stores import STORE_KINDS, Store, throwaway_database
from tests.support.server import Server

pytestmark = pytest.mark.e2e

JSON = "application/json"
MIB = 1024 * 1024
LONG = "x" * 10_000

SEED = {
    "posts": [
        {"id": 1, "title": "json-server", "views": 100, "userId": 1, "tags": ["a"]},
        {"id": 2, "title": "jsonserve", "views": 250, "userId": 2},
    ],
    "comments": [{"id": 1, "body": "first", "postId": 1}, {"id": 2, "body": "second", "postId": 2}],
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "many": [{"id": n, "n": n} for n in range(1, 1006)],
    "profile": {"name": "typicode"},
}


@dataclass(frozen=True)
class Case:
    """One malformed request and the status it must get."""

    id: str
    method: str
    path: str
    body: bytes | None = None
    expected: int = 400
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    chunked: bool = False


@dataclass(frozen=True)
class Raw:
    """A request sent byte for byte on its own connection."""

    id: str
    request: bytes
    expected: int


def post(case_id: str, body: bytes, expected: int = 400, path: str = "/posts", **kw: object) -> Case:
    return Case(case_id, "POST", path, body, expected, **kw)  # type: ignore[arg-type]


def get(case_id: str, path: str, expected: int = 400) -> Case:
    return Case(case_id, "GET", path, None, expected, content_type=None)


def deep(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return ('{"a":' + opener * levels + closer * levels + "}").encode()


def raw(case_id: str, request_line: str, expected: int, headers: str = "", body: bytes = b"") -> Raw:
    head = f"{request_line}\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode("latin-1")
    return Raw(case_id, head + body, expected)


DIGITS_5000 = b"9" * 5000
TABLE: list[Case] = [
    # I1 invalid JSON
    post("truncated", b'{"title": "x"'),
    post("trailing-comma-object", b'{"title": "x",}'),
    post("trailing-comma-array", b'{"tags": [1, 2,]}'),
    post("bom", b'\xef\xbb\xbf{"title": "x"}'),
    post("empty", b""),
    post("whitespace-only", b" \r\n\t "),
    post("single-quotes", b"{'title': 'x'}"),
    post("unquoted-key", b"{title: 1}"),
    post("comment", b'{"a": 1 /* c */}'),
    post("two-documents", b"{}{}"),
    post("trailing-garbage", b'{"a": 1} x'),
    Case("patch-truncated", "PATCH", "/posts/1", b'{"title": '),
    Case("put-invalid", "PUT", "/posts/1", b'{"title" "x"}'),
    Case("put-singular-invalid", "PUT", "/profile", b'{"name": }'),
    # I2 wrong content types
    post("text-plain", b'{"title": "x"}', 415, content_type="text/plain"),
    post("form", b"title=x", 415, content_type="application/x-www-form-urlencoded"),
    post(
        "multipart",
        b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n',
        415,
        content_type="multipart/form-data; boundary=b",
    ),
    post("no-content-type", b'{"title": "x"}', 415, content_type=None),
    post("text-json", b'{"title": "x"}', 415, content_type="text/json"),
    post("json-prefix-only", b'{"title": "x"}', 415, content_type="application/jsonx"),
    Case("patch-text-plain", "PATCH", "/posts/1", b'{"title": "x"}', 415, content_type="text/plain"),
    Case("put-form", "PUT", "/posts/1", b"title=x", 415, content_type="application/x-www-form-urlencoded"),
    Case("put-singular-text", "PUT", "/profile", b'{"name": "x"}', 415, content_type="text/plain"),
    post("nested-text-plain", b'{"body": "x"}', 415, path="/posts/1/comments", content_type="text/plain"),
    Case(
        "json-patch-array",
        "PATCH",
        "/posts/1",
        b'[{"op": "remove", "path": "/title"}]',
        400,
        content_type="application/json-patch+json",
    ),
    # I5 numbers
    post("nan", b'{"a": NaN}'),
    post("infinity", b'{"a": Infinity}'),
    post("minus-infinity", b'{"a": -Infinity}'),
    post("1e309", b'{"a": 1e309}'),
    post("minus-1e309", b'{"a": -1e309}'),
    # Integer literals beyond 64 bits: a 400 saying to send them as strings (issue 13; tests/api/test_writes.py),
    # not the nearest double, whose digits differ from what was sent.
    post("integer-2^64", b'{"a": 18446744073709551616}'),
    post("integer-2^63", b'{"a": 9223372036854775808}'),
    post("integer-below-64-bits", b'{"a": {"b": [-9223372036854775809]}}'),
    Case("put-integer-beyond-64-bits", "PUT", "/posts/1", b'{"views": 12345678901234567891}'),
    Case("patch-integer-beyond-64-bits", "PATCH", "/posts/1", b'{"views": 12345678901234567891}'),
    Case("put-singular-integer-beyond-64-bits", "PUT", "/profile", b'{"n": 12345678901234567891}'),
    post("integer-beyond-double", b'{"a": 1' + b"0" * 400 + b"}"),
    post("minus-integer-beyond-double", b'{"a": -1' + b"0" * 400 + b"}"),
    post("5000-digit-int", b'{"a": ' + DIGITS_5000 + b"}"),
    post("5000-digit-int-in-array", b'{"a": [1, -' + DIGITS_5000 + b"]}"),
    # I6 duplicate keys at any depth
    post("duplicate-top", b'{"title": "a", "title": "b"}'),
    post("duplicate-depth-3", b'{"a": {"b": {"c": 1, "c": 2}}}'),
    post("duplicate-in-array", b'{"a": [{"k": 1}, {"k": 1, "k": 1}]}'),
    Case("duplicate-patch", "PATCH", "/posts/1", b'{"views": 1, "views": 2}'),
    # I7 strings and bytes
    post("nul-value", b'{"title": "a\\u0000b"}'),
    post("nul-key", b'{"ti\\u0000tle": "x"}'),
    post("lone-high-surrogate", b'{"title": "\\ud800"}'),
    post("lone-low-surrogate", b'{"title": "x\\udc00"}'),
    post("surrogate-in-key", b'{"\\udbff": 1}'),
    post("invalid-utf8", b'{"title": "\xff\xfe"}'),
    post("overlong-utf8", b'{"title": "\xc0\xaf"}'),
    post("utf8-encoded-surrogate", b'{"title": "\xed\xa0\x80"}'),
    post("latin-1-body", b'{"title": "caf\xe9"}'),
    # non-object bodies
    post("array", b'[{"title": "x"}]'),
    post("string", b'"title"'),
    post("number", b"42"),
    post("null", b"null"),
    post("boolean", b"true"),
    Case("patch-array", "PATCH", "/posts/1", b"[]"),
    Case("put-singular-array", "PUT", "/profile", b'["x"]'),
    # I4 nesting
    post("nesting-65", deep(64)),
    post("nesting-65-objects", ('{"a":' * 65 + "1" + "}" * 65).encode()),
    post("nesting-100000", b"[" * 100_000 + b"]" * 100_000),
    post("nesting-100000-in-object", deep(100_000)),
    # I3 size (default limit 1 MiB)
    post("over-limit-content-length", b'{"a": "' + b"x" * MIB + b'"}', 413),
    post("over-limit-chunked", b"x" * (MIB + 64 * 1024), 413, chunked=True),
    # C5 ids in bodies
    post("id-object", b'{"id": {"x": 1}}'),
    post("id-array", b'{"id": [1]}'),
    post("id-empty-string", b'{"id": ""}'),
    post("id-true", b'{"id": true}'),
    post("id-float", b'{"id": 1.5}'),
    post("id-slash", b'{"id": "a/b"}'),
    post("id-spaces", b'{"id": " 7"}'),
    post("id-control-char", b'{"id": "a\\tb"}'),
    post("id-10kb", json.dumps({"id": LONG}).encode()),
    post("id-taken-int", b'{"id": 1}', 409),
    post("id-taken-string", b'{"id": "1"}', 409),
    post("nested-id-taken", b'{"id": 1}', 409, path="/posts/1/comments"),
    # I9 filters
    get("unknown-operator", "/posts?views:foo=1"),
    get("unknown-reserved", "/posts?_foo=1"),
    get("like-open-paren", "/posts?title_like=("),
    get("like-300-chars", "/posts?title_like=" + "a" * 300),
    get("value-10kb", "/posts?title=" + LONG),
    get("name-10kb", f"/posts?{LONG}=1"),
    get("where-invalid", "/posts?_where={"),
    get("where-or-not-a-list", '/posts?_where={"or":5}'),
    get("where-value-object-in-op", '/posts?_where={"views":{"gt":[1]}}'),
    get("jsonp", "/posts?callback=x"),
    get("empty-path-segment", "/posts?meta..lang=en"),
    # I10 paging and embedding
    get("page-negative", "/posts?_page=-1"),
    get("page-zero", "/posts?_page=0"),
    get("page-abc", "/posts?_page=abc"),
    get("limit-negative", "/posts?_limit=-1"),
    get("limit-abc", "/posts?_limit=abc"),
    get("start-abc", "/posts?_start=abc"),
    get("per-page-zero", "/posts?_per_page=0"),
    get("delay-abc", "/posts?_delay=abc"),
    get("embed-unknown", "/posts?_embed=nope"),
    get("expand-unknown", "/comments?_expand=nope"),
    get("embed-unknown-item", "/posts/1?_embed=nope"),
    get("embed-11", "/posts?_embed=" + ",".join(f"c{n}" for n in range(11))),
    get("expand-11-repeated", "/comments?" + "&".join(f"_expand=p{n}" for n in range(11))),
    # I11 paths
    get("dotdot-encoded", "/%2e%2e/%2e%2e/etc/passwd", 404),
    get("dotdot-record", "/posts/%2e%2e", 404),
    get("nul-collection", "/posts%00", 404),
    get("nul-id", "/posts/1%00", 404),
    get("collection-10kb", "/" + LONG, 404),
    post("post-collection-10kb", b'{"a": 1}', 404, path="/" + LONG),
    get("unknown-nested", "/posts/1/nope", 404),
    get("singular-by-id", "/profile/1", 404),
    # methods and targets
    Case("put-collection", "PUT", "/posts", b'{"title": "x"}', 405),
    Case("patch-collection", "PATCH", "/posts", b'{"title": "x"}', 405),
    Case("delete-collection", "DELETE", "/posts", None, 405, content_type=None),
    Case("post-record", "POST", "/posts/1", b'{"title": "x"}', 405),
    Case("delete-singular", "DELETE", "/profile", None, 405, content_type=None),
    Case("post-db", "POST", "/db", b"{}", 405),
    Case("delete-db", "DELETE", "/db", None, 405, content_type=None),
    Case("trace", "TRACE", "/posts", None, 405, content_type=None),
    Case("patch-missing", "PATCH", "/posts/999", b'{"title": "x"}', 404),
    Case("delete-missing", "DELETE", "/posts/999", None, 404, content_type=None),
    Case("delete-unknown-dependent", "DELETE", "/posts/1?_dependent=nope", None, 400, content_type=None),
    Case("delete-stale-if-match", "DELETE", "/posts/1", None, 412, None, (("If-Match", '"stale"'),)),
    Case("patch-stale-if-match", "PATCH", "/posts/1", b'{"views": 0}', 412, headers=(("If-Match", '"stale"'),)),
    Case("put-stale-if-match", "PUT", "/posts/1", b'{"title": "x"}', 412, headers=(("If-Match", '"x", "y"'),)),
]

RAW_TABLE: list[Raw] = [
    raw("raw-dotdot", "GET /../db.json HTTP/1.1", 404),
    raw("raw-dotdot-deep", "GET /posts/../../../etc/passwd HTTP/1.1", 404),
    raw("raw-dotdot-static-style", "GET /..%2f..%2fdb.json HTTP/1.1", 404),
    raw("raw-bad-percent-path", "GET /posts%zz HTTP/1.1", 404),
    raw("raw-bad-percent-id", "GET /posts/%zz HTTP/1.1", 404),
    raw("raw-percent-invalid-utf8-path", "GET /%ff%fe HTTP/1.1", 404),
    raw("raw-bad-percent-page", "GET /posts?_page=%zz HTTP/1.1", 400),
    raw("raw-percent-invalid-utf8-limit", "GET /posts?_limit=%ff HTTP/1.1", 400),
    raw("raw-percent-invalid-utf8-where", "GET /posts?_where=%ff%fe HTTP/1.1", 400),
    raw("raw-percent-invalid-utf8-param", "GET /posts?_%ff=1 HTTP/1.1", 400),
    raw("raw-propfind", "PROPFIND /posts HTTP/1.1", 405),
    raw(
        "raw-announced-100mb",
        "POST /posts HTTP/1.1",
        413,
        "Content-Type: application/json\r\nContent-Length: 104857600\r\n",
        b'{"title": "x"}',
    ),
    # What llhttp cannot parse: uvicorn's own 400, made problem+json by jsonserve.server.protocol.
    raw(
        "raw-request-line-over-64kib",
        "GET /posts?" + "&".join(f"a{i}=" + "b" * 1000 for i in range(70)) + " HTTP/1.1",
        400,
    ),
    raw("raw-garbage-request-line", "GET /posts HTTP/9.x", 400),
    raw(
        "raw-announced-limit-plus-1",
        "POST /posts HTTP/1.1",
        413,
        f"Content-Type: application/json\r\nContent-Length: {MIB + 1}\r\n",
        b"{}",
    ),
]


@dataclass
class Target:
    """The module's server and what it served and stored before the table ran."""

    server: Server
    folder: Path
    db: bytes
    file: bytes
    journal: bytes


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("bad-input")
    (folder / "db.json").write_text(json.dumps(SEED, indent=2))
    server = start(["db.json", "--no-static"], folder)
    try:
        time.sleep(0.3)  # nothing is pending, but let any start-up rewrite settle
        db = httpx.get(server.url + "/db").content
        yield Target(server, folder, db, (folder / "db.json").read_bytes(), (folder / ".db.json.journal").read_bytes())
    finally:
        server.kill()


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start_at in range(0, len(data), size):
        yield data[start_at : start_at + size]


@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_malformed_request(target: Target, case: Case) -> None:
    headers = dict(case.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    content = chunks(case.body) if case.chunked and case.body is not None else case.body
    with httpx.Client(base_url=target.server.url, timeout=30) as client:
        response = client.request(case.method, case.path, content=content, headers=headers)
    problems = problem_errors(
        response.status_code, response.headers.get("content-type", ""), response.content, case.expected
    )
    assert not problems, f"{case.id}: {problems}; body {response.text[:300]!r}"


@pytest.mark.parametrize("case", RAW_TABLE, ids=[case.id for case in RAW_TABLE])
def test_malformed_raw_request(target: Target, case: Raw) -> None:
    response = raw_request(target.server.port, case.request)
    problems = problem_errors(response.status, response.content_type, response.body, case.expected)
    assert not problems, f"{case.id}: {problems}; body {response.body[:300]!r}"


# Requests uvicorn's HTTP parser rejects before the application sees them: the answer is uvicorn's
# own plain-text 400, which we accept (no 5xx, no trace), since no application code can shape it.
TRANSPORT_TABLE: list[Raw] = [
    raw("unknown-method", "FOO /posts HTTP/1.1", 400),
    raw("raw-invalid-utf8-query", "GET /posts?title=\xff\xfe HTTP/1.1", 400),
    raw("raw-invalid-utf8-path", "GET /\xff HTTP/1.1", 400),
    raw(
        "content-length-not-a-number",
        "POST /posts HTTP/1.1",
        400,
        "Content-Type: application/json\r\nContent-Length: abc\r\n",
    ),
    raw(
        "content-length-twice",
        "POST /posts HTTP/1.1",
        400,
        "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
        b"{}",
    ),
]


@pytest.mark.parametrize("case", TRANSPORT_TABLE, ids=[case.id for case in TRANSPORT_TABLE])
def test_request_rejected_by_the_http_parser(target: Target, case: Raw) -> None:
    response = raw_request(target.server.port, case.request)
    assert response.status == case.expected, response
    text = response.body.decode(errors="replace")
    assert not any(marker in text for marker in TRACE_MARKERS), text


@pytest.mark.parametrize(
    ("path", "count"),
    [
        ("/many?_limit=1000000000", 1000),
        ("/many?_page=1&_limit=1000000000", 1000),
        ("/many?_per_page=1000000000", 1000),
    ],
)
def test_huge_page_sizes_are_clamped(target: Target, path: str, count: int) -> None:
    response = httpx.get(target.server.url + path)
    assert response.status_code == 200
    payload = response.json()
    items = payload["data"] if isinstance(payload, dict) else payload
    assert len(items) == count
    if "x-total-count" in response.headers:
        assert response.headers["x-total-count"] == "1005"


@pytest.mark.parametrize(
    "path",
    [
        "/posts?title=%ff%fe",  # percent-encoded invalid UTF-8 in a filter value
        "/posts?title=%zz",  # invalid percent-encoding, kept literally
        "/posts?%ff=1",  # ... in a field name
        "/posts?q=%ff",
        "/posts?title_like=%ff",
        "/posts?_sort=%ff",
    ],
)
def test_odd_query_encodings_never_fail(target: Target, path: str) -> None:
    """Not client errors by any written rule, but never a 5xx, a trace, or the whole collection by accident."""
    response = raw_request(target.server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert response.status < 500, response
    if response.status == 200 and "_sort" not in path:
        assert json.loads(response.body) == []
    else:
        text = response.body.decode(errors="replace")
        assert not any(marker in text for marker in TRACE_MARKERS)


def test_nothing_was_stored_after_the_table(target: Target) -> None:
    """Runs after the tables (file order): the database, the file and the journal are untouched."""
    time.sleep(1.3)  # past the compaction window, so a stray write would have reached the file
    assert httpx.get(target.server.url + "/db").content == target.db
    assert (target.folder / "db.json").read_bytes() == target.file
    assert (target.folder / ".db.json.journal").read_bytes() == target.journal
    log = target.server.output()
    assert not any(marker in log for marker in TRACE_MARKERS), log[-3000:]
    assert "unexpected error" not in log
    # the server is still healthy: a valid write and a list work after everything above
    created = httpx.post(target.server.url + "/users", json={"name": "after"})
    assert created.status_code == 201
    assert httpx.get(target.server.url + "/users").status_code == 200


def test_client_that_disconnects_mid_body_is_not_a_server_error(tmp_path: Path) -> None:
    """A client that gives up mid-upload (or sends a broken chunked body) is not a 500 or a logged trace."""
    (tmp_path / "db.json").write_text(json.dumps({"posts": []}))
    server = start(["db.json", "--no-static"], tmp_path)
    try:
        short = (
            b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"title": '
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(short)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1024)
        broken_chunks = (
            b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n"
        )
        assert raw_request(server.port, broken_chunks).status == 400
        time.sleep(0.3)
        assert httpx.get(server.url + "/posts").json() == []
        log = server.output()
        assert "unexpected error" not in log, log[-2000:]
        assert "Traceback" not in log, log[-2000:]
    finally:
        server.kill()


def test_table_is_big_enough() -> None:
    assert len(TABLE) + len(RAW_TABLE) + len(TRANSPORT_TABLE) >= 60


# -- issue 13: three classes of bad input, on every storage backend ---------------------------------
# (1) integer literals beyond 64 bits, (2) bodies with a Content-Encoding, (3) queries as long as the
# HTTP parser lets through (a request line under 64 KiB), which reached SQLite's expression depth and
# PostgreSQL's 32,767 parameters (500s). Each backend gets its own server, seeded with SEED; after the
# tables, what it stores is what it stored before.

GZIP = (("Content-Encoding", "gzip"),)
PLAIN = b'{"title": "x"}'
URL_BUDGET = 60_000


def _bomb(mebibytes: int) -> bytes:
    encoder = zlib.compressobj(9, wbits=31)
    block = b"{" * (1024 * 1024)
    return b"".join(encoder.compress(block) for _ in range(mebibytes)) + encoder.flush()


def _query(pairs: list[str]) -> str:
    query = "&".join(pairs)
    assert len(query) < URL_BUDGET, len(query)
    return query


def _in_lists(count: int) -> str:
    """``id:in=…`` parameters holding ``count`` values (4,096 characters a value at most)."""
    lists: list[list[str]] = [[]]
    for number in map(str, range(count)):
        if len(",".join([*lists[-1], number])) > 4096:
            lists.append([])
        lists[-1].append(number)
    return _query([f"id:in={','.join(items)}" for items in lists])


PATH_21 = ".".join(["a"] * 21)
BACKEND_TABLE: list[Case] = [
    # (1) integers outside 64 bits: a 400 saying to send them as strings, on POST, PUT and PATCH
    post("int-2^63", b'{"n": 9223372036854775808}'),
    post("int-below-2^63", b'{"n": {"deep": [-9223372036854775809]}}'),
    post("int-2^64", b'{"n": 18446744073709551616}'),
    Case("put-int-beyond-64-bits", "PUT", "/posts/1", b'{"views": 12345678901234567891}'),
    Case("patch-int-beyond-64-bits", "PATCH", "/posts/1", b'{"views": 12345678901234567891}'),
    Case("patch-singular-int-beyond-64-bits", "PATCH", "/profile", b'{"n": -99999999999999999999}'),
    # (2) Content-Encoding: never stored under a wrong label
    post("plain-json-labelled-gzip", PLAIN, headers=GZIP),
    post("plain-json-labelled-deflate", PLAIN, headers=(("Content-Encoding", "deflate"),)),
    post("truncated-gzip", gzip.compress(PLAIN, mtime=0)[:-4], headers=GZIP),
    Case("patch-gzip-then-garbage", "PATCH", "/posts/1", gzip.compress(PLAIN, mtime=0) + b"!", headers=GZIP),
    post("br", PLAIN, 415, headers=(("Content-Encoding", "br"),)),
    post("zstd", PLAIN, 415, headers=(("Content-Encoding", "zstd"),)),
    post("unknown-coding", PLAIN, 415, headers=(("Content-Encoding", "x-nope"),)),
    Case("put-compress", "PUT", "/posts/1", PLAIN, 415, headers=(("Content-Encoding", "compress"),)),
    post("three-codings", PLAIN, 415, headers=(("Content-Encoding", "gzip, gzip, gzip"),)),
    post("gzip-bomb-64-mib", _bomb(64), 413, headers=GZIP),
    post("gzip-json-that-is-invalid", gzip.compress(b'{"title": ', mtime=0), headers=GZIP),
    post("gzip-json-with-huge-int", gzip.compress(b'{"n": 99999999999999999999}', mtime=0), headers=GZIP),
    # (3) queries past the bounds of query/limits.py: the same 400 on every backend
    get("values-10001", "/many?" + _in_lists(10_001)),
    get("conditions-101", "/many?" + _query([f"n_gt={n}" for n in range(101)])),
    get("fields-3000", "/many?" + _query([f"f{n}=1" for n in range(3000)])),
    get("ne-and-lt-2000", "/many?" + _query([f"n_ne=1&n_lt={n}" for n in range(2000)])),
    get("where-or-101", "/many?_where=" + json.dumps({"or": [{"n": {"lt": n}} for n in range(101)]})),
    get("where-empty-groups-300", "/many?_where=" + json.dumps({"or": [{} for _ in range(300)]})),
    get("sort-11", "/many?_sort=" + ",".join(f"f{n}" for n in range(11))),
    get("sort-600-repeated", "/many?" + _query([f"_sort=f{n}" for n in range(600)])),
    get("path-21-segments", f"/many?{PATH_21}=1"),
    get("sort-path-21-segments", f"/many?_sort={PATH_21}"),
]

# ... and what stays within them answers 200 everywhere (before, several of these were 500s on SQL)
PATH_20 = ".".join(["\u0661"] * 20)
LONG_QUERIES: list[tuple[str, str, int]] = [
    ("repeated-id-5000", _query([f"id={n}" for n in range(1, 5001)]), 1005),
    ("repeated-id-ne-5000", _query([f"id_ne={n}" for n in range(1, 5001)]), 0),
    ("in-10000", _in_lists(10_000), 1005),
    ("gt-100", _query([f"n_gt={n}" for n in range(100)]), 1005),
    ("ne-and-lt-50", _query([f"n_ne={n}&n_lt={n + 1000}" for n in range(50)]), 956),
    ("path-20-arabic-indic-digits-100", _query([f"{PATH_20}_lt={n}" for n in range(100)]), 0),
    ("path-20-minus-one-100", _query([f"{'.'.join(['-1'] * 20)}_lt={n}" for n in range(100)]), 0),
    ("where-or-99", "_where=" + json.dumps({"or": [{"n": {"lt": n}} for n in range(1, 100)]}), 98),
    ("sort-10", "_sort=" + ",".join(["-n", *(f"f{n}" for n in range(9))]), 1005),
]


@dataclass
class BackendTarget:
    """One backend's server, its store, and ``GET /db`` before the tables."""

    store: Store
    server: Server
    db: bytes


@pytest.fixture(scope="module", params=STORE_KINDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendTarget]:
    kind = str(request.param)
    folder = tmp_path_factory.mktemp(f"bad-input-{kind}")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(throwaway_database("jsonserve_bad_input")) if kind == "postgres" else None
        store = Store(kind, folder, url)
        store.seed(SEED)
        server = start([store.source, "--no-static"], folder)
        stack.callback(server.kill)
        time.sleep(0.3)  # let any start-up write settle
        yield BackendTarget(store, server, httpx.get(server.url + "/db").content)


@pytest.mark.parametrize("case", BACKEND_TABLE, ids=[case.id for case in BACKEND_TABLE])
def test_issue13_bad_input_on_every_backend(backend: BackendTarget, case: Case) -> None:
    headers = dict(case.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    with httpx.Client(base_url=backend.server.url, timeout=30) as client:
        response = client.request(case.method, case.path, content=case.body, headers=headers)
    problems = problem_errors(
        response.status_code, response.headers.get("content-type", ""), response.content, case.expected
    )
    assert not problems, f"{case.id}: {problems}; body {response.text[:300]!r}"
    if response.status_code == 415:
        assert response.headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(("name", "query", "count"), LONG_QUERIES, ids=[name for name, _, _ in LONG_QUERIES])
def test_long_queries_answer_on_every_backend(backend: BackendTarget, name: str, query: str, count: int) -> None:
    response = httpx.get(f"{backend.server.url}/many?{query}", timeout=60)
    assert response.status_code == 200, f"{name}: {response.text[:300]}"
    assert len(response.json()) == min(count, 1005), name


def test_issue13_nothing_was_stored_on_every_backend(backend: BackendTarget) -> None:
    """Runs after the two tables (pytest keeps their order per backend): nothing was stored, no trace logged."""
    time.sleep(1.3)  # past the JSON file's compaction window
    assert httpx.get(backend.server.url + "/db").content == backend.db
    assert backend.store.read() == json.loads(backend.db)
    log = backend.server.output()
    assert not any(marker in log for marker in TRACE_MARKERS), log[-3000:]
    assert "unexpected error" not in log
