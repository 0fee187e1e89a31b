"""json-server's ``--routes`` rewrite rules (express-urlrewrite semantics), as pure ASGI middleware.

``{"/api/*": "/$1", "/:resource/:id/show": "/:resource/:id", "/posts/:category": "/posts?category=:category",
"/articles?id=:id": "/posts/:id"}``: ``*`` captures anything (``$1``, ``$2``…), ``:name`` one path
segment. A rule whose pattern has a ``?`` matches the path with its query; others match the path
and keep the query. Rules apply in order, each to the result of the previous one, as in
json-server. Written by hand: no Python library implements this Express dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

_TOKEN = re.compile(r"\*|:([A-Za-z_]\w*)")
_REFERENCE = re.compile(r"\$(\d+)|:([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Rule:
    """One compiled rewrite rule."""

    pattern: re.Pattern[str]
    names: tuple[str, ...]
    target: str
    with_query: bool

    @classmethod
    def compile(cls, source: str, target: str) -> Rule:
        """Compile ``source`` (with ``*`` and ``:name``) into an anchored regular expression."""
        parts, names, position = [], [], 0
        for match in _TOKEN.finditer(source):
            parts.append(re.escape(source[position : match.start()]))
            names.append(match.group(1) or "")
            parts.append("(.*)" if match.group(0) == "*" else r"([^/?#&]+)")
            position = match.end()
        parts.append(re.escape(source[position:]))
        return cls(re.compile("^" + "".join(parts) + "$"), tuple(names), target, "?" in source)

    def apply(self, path: str, query: str) -> tuple[str, str] | None:
        """The rewritten ``(path, query)``, or ``None`` when the rule does not match."""
        subject = f"{path}?{query}" if self.with_query and query else path
        match = self.pattern.match(subject)
        if match is None:
            return None

        def substitute(reference: re.Match[str]) -> str:
            if reference.group(1):
                index = int(reference.group(1))
                return match.group(index) if index <= len(self.names) else reference.group(0)
            name = reference.group(2)
            return match.group(self.names.index(name) + 1) if name in self.names else reference.group(0)

        new_path, _, new_query = _REFERENCE.sub(substitute, self.target).partition("?")
        if not self.with_query and query:
            new_query = f"{new_query}&{query}" if new_query else query
        return new_path or "/", new_query


class RewriteMiddleware:
    """Rewrite the request path and query before routing."""

    def __init__(self, app: ASGIApp, rules: dict[str, str]) -> None:
        self.app = app
        self.rules = [Rule.compile(source, target) for source, target in rules.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.rules:
            path, query = scope["path"], scope["query_string"].decode("latin-1")
            for rule in self.rules:
                rewritten = rule.apply(path, query)
                if rewritten is not None:
                    path, query = rewritten
            if path != scope["path"] or query != scope["query_string"].decode("latin-1"):
                scope = {**scope, "path": unquote(path), "raw_path": path.encode(), "query_string": query.encode()}
        await self.app(scope, receive, send)
