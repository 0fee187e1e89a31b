"""Faults on cue: ``fail`` and ``delay`` rules, and the ASGI policy that applies them.

A rule matches a path and, optionally, methods. A path given as text matches that path and every
path below it, segment by segment (``"/posts"``: ``/posts``, ``/posts/1``, ``/posts/1/comments``;
not ``/postscript``), where ``*`` stands for any one segment (``"/posts/*/comments"``); a compiled
regular expression must match the whole path. The query string plays no part. A rule applies
``times`` times, then stops (``None``: until the rules are cleared, at the end of the test).

For each request, the first live ``delay`` rule that matches slows it down, then the first live
``fail`` rule that matches answers in the app's place. The policy sits where the stack's policies
do (after CORS, ``--routes`` rewrites and auth; see ``web/stack.py``), so a browser page reads an
injected failure as it would a real one, and paths are those the API serves (under ``--base``).

Example:
    >>> rules = FaultRules()
    >>> fault = rules.add(Fault.failing("/posts", status=503, times=1))
    >>> rules.take("GET", "/posts/1") == (0, fault), rules.take("GET", "/posts/1")
    (True, (0, None))
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve._types import JSONValue

__all__ = ["Fault", "FaultPolicy", "FaultRules", "PathPattern"]

PathPattern = str | re.Pattern[str]
FAULT_CODE = "injected_fault"
PROBLEM_TYPE = "application/problem+json"


@dataclass(eq=False)
class Fault:
    """One rule: which requests it matches, what it does to them, and how often it did so (``hits``)."""

    path: PathPattern
    methods: frozenset[str] | None = None
    status: int | None = None  # a failure: answer with this status in the app's place
    delay_ms: int = 0  # a delay: wait this long before the request goes on
    times: int | None = None  # how many more requests it applies to (None: every one)
    body: JSONValue | None = None  # the failure's JSON body (default: a problem+json document)
    headers: Mapping[str, str] = field(default_factory=dict)
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def failing(
        cls,
        path: PathPattern,
        *,
        status: int = 503,
        times: int | None = None,
        method: str | Iterable[str] | None = None,
        body: JSONValue | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """A rule that answers ``status`` (with ``body`` and ``headers``) instead of the API."""
        if not 400 <= status <= 599:
            raise ValueError(f"a failure's status is between 400 and 599, not {status}")
        return cls(path, _methods(method), status=status, times=_times(times), body=body, headers=dict(headers or {}))

    @classmethod
    def delaying(
        cls, path: PathPattern, *, ms: int, times: int | None = None, method: str | Iterable[str] | None = None
    ) -> Fault:
        """A rule that holds matching requests for ``ms`` milliseconds before the API answers."""
        if ms < 0:
            raise ValueError(f"a delay is 0 ms or more, not {ms}")
        return cls(path, _methods(method), delay_ms=ms, times=_times(times))

    @property
    def live(self) -> bool:
        """Whether the rule still applies to some request."""
        return self.times is None or self.hits < self.times

    def matches(self, method: str, path: str) -> bool:
        """Whether a request to ``path`` with ``method`` is one of this rule's."""
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(path) is not None
        return _prefix_matches(self.path, path)

    def take(self) -> bool:
        """Count one request against the rule; ``False`` when it was used up meanwhile."""
        with self._lock:
            if not self.live:
                return False
            self.hits += 1
            return True

    def response(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The status, headers and body a failure answers."""
        status = self.status or 503
        body = orjson.dumps(self.body if self.body is not None else self._problem(status), option=orjson.OPT_INDENT_2)
        media = "application/json" if self.body is not None else PROBLEM_TYPE
        headers = {"content-type": media, **{name.lower(): value for name, value in self.headers.items()}}
        headers["content-length"] = str(len(body))
        return status, [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()], body

    def _problem(self, status: int) -> dict[str, JSONValue]:
        where = self.path.pattern if isinstance(self.path, re.Pattern) else self.path
        return {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": f"a failure injected by the test for {where}",
            "code": FAULT_CODE,
        }


class FaultRules:
    """The rules of one test server, in the order they were added; cleared between tests."""

    def __init__(self, base: str = "") -> None:
        self.base = base.rstrip("/")
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Add ``fault`` (a text path is taken under ``--base``); the same rule, to read its ``hits`` later."""
        if isinstance(fault.path, str) and self.base and not _prefix_matches(self.base, fault.path):
            fault.path = self.base + ("/" + fault.path.lstrip("/") if fault.path.strip("/") else "")
        self._rules = [*self._rules, fault]
        return fault

    def clear(self) -> None:
        """Drop every rule."""
        self._rules = []

    def take(self, method: str, path: str) -> tuple[int, Fault | None]:
        """For one request: the delay to apply (ms) and the failure to answer with (if any), each counted."""
        delay, failure = 0, None
        for rule in self._rules:
            if not rule.live or not rule.matches(method, path):
                continue
            if rule.status is None and not delay and rule.take():
                delay = rule.delay_ms
            elif rule.status is not None and failure is None and rule.take():
                failure = rule
        return delay, failure


class FaultPolicy:
    """A pure-ASGI policy (``create_app(policies=[Middleware(FaultPolicy, rules=rules)])``) applying ``rules``."""

    def __init__(self, app: ASGIApp, rules: FaultRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Delay, then fail or pass on, an HTTP request; any other scope passes untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        delay, failure = self.rules.take(scope["method"], scope["path"])
        if delay:
            await asyncio.sleep(delay / 1000)
        if failure is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = failure.response()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})


def _prefix_matches(pattern: str, path: str) -> bool:
    wanted = [part for part in pattern.split("/") if part]
    parts = [part for part in path.split("/") if part]
    if len(parts) < len(wanted):
        return False
    return all(want in ("*", part) for want, part in zip(wanted, parts, strict=False))


def _methods(method: str | Iterable[str] | None) -> frozenset[str] | None:
    if method is None:
        return None
    names = [method] if isinstance(method, str) else list(method)
    return frozenset(name.upper() for name in names)


def _times(times: int | None) -> int | None:
    if times is not None and times < 1:
        raise ValueError(f"times is 1 or more (or None: every matching request), not {times}")
    return times
