"""What a request path is, for the cross-cutting layers: its route template, and whether it is the API's.

The access log and ``/metrics`` label requests by route template (``/{name}/{id}``), never by the
raw path, so that a label has a bounded number of values; chaos only fails API requests (not the
home page, the docs, static files or the operations endpoints); rate limits and chaos leave the
operations endpoints (``/health``, ``/ready``, ``/metrics``) alone. A collection of the same name
takes precedence over every page, as it does for ``/db`` and ``/docs``.

Example:
    >>> paths = Paths(service, base="")  # doctest: +SKIP
    >>> paths.route({"path": "/posts/1", "method": "GET"})  # doctest: +SKIP
    Route(template='/{name}/{id}', api=True, ops=False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import Scope

from jsonserve.service import Service
from jsonserve.web import docs

OPS_PAGES = frozenset({"health", "ready", "metrics"})
"""The operations endpoints (``web/ops.py``): never rate-limited, never failed by chaos."""
DOCS_PAGES = frozenset({"docs", "redoc", "openapi.json"})
API_PAGES = frozenset({"db", "__rules", "register", "signup", "login", "signin", "users", "graphql", "realtime"})
"""Single-segment API endpoints that are not collections (``/db``, the accounts pages, other transports)."""
NESTED = {2: "/{name}/{id}", 3: "/{name}/{id}/{child}"}
TRANSPORTS = frozenset({"auth", "realtime", "graphql"})
"""First segments of multi-segment API endpoints (``/auth/me``, ``/realtime/sse``…) that are not collections."""
GUARD = re.compile(r"^[0246]{3}$")  # json-server-auth's guard prefix (``/600/notes``), taken off by the auth layer
ASSETS = docs.ASSETS_PATH.strip("/")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    """A request's route template (bounded: a label), and which layers it concerns."""

    template: str
    api: bool = False  # the REST API (and the other transports): chaos applies
    ops: bool = False  # /health, /ready, /metrics: no rate limit, no chaos


STATIC = Route("/{path}")  # a static file, a page outside --base, or nothing (404)


class Paths:
    """Classifies request paths against the live collections (a collection wins over a page of its name)."""

    def __init__(self, service: Service, base: str = "") -> None:
        self.service = service
        self.base = base

    def route(self, scope: Scope) -> Route:
        """The :class:`Route` of an HTTP or WebSocket request (its path relative to the proxy root and ``--base``)."""
        path = self._relative(scope)
        if path is None:
            return STATIC
        parts = path.strip("/").split("/") if path.strip("/") else []
        if len(parts) > 1 and GUARD.match(parts[0]):
            parts = parts[1:]
        if not parts:
            return Route("/")
        kinds = self.service.kinds()
        if len(parts) == 1:
            return self._single(parts[0], kinds, scope)
        if parts[0] in kinds:
            return Route(NESTED.get(len(parts), "/{name}/{path}"), api=True)
        if parts[0] == ASSETS:
            return Route(docs.ASSETS_PATH + "/{path}")
        if parts == ["realtime", "demo"]:
            return Route("/realtime/demo")  # a page (web/demo.py): no chaos, like /docs
        if parts[0] in TRANSPORTS:
            return Route(f"/{parts[0]}/{{path}}", api=True)
        return STATIC

    def _relative(self, scope: Scope) -> str | None:
        """The path below the proxy's root path and ``--base`` (``None``: outside ``--base``)."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not self.base:
            return path
        if path == self.base or path.startswith(self.base + "/"):
            return path[len(self.base) :]
        return None

    def _single(self, name: str, kinds: Mapping[str, object], scope: Scope) -> Route:
        if name in kinds:
            return Route("/{name}", api=True)
        if name in OPS_PAGES:
            return Route("/" + name, ops=True)
        if name in DOCS_PAGES:
            return Route("/" + name)
        if name in API_PAGES:
            return Route("/" + name, api=True)
        creating = scope.get("method") == "POST" and self.service.creatable(name)  # --auto-create
        return Route("/{name}", api=creating)


ROUTE_KEY = "jsonserve.route"
"""The ASGI scope key where the first layer that asks keeps the request's :class:`Route`."""


def route_of(scope: Scope, paths: Paths) -> Route:
    """The request's :class:`Route`, worked out once per request (every layer that asks gets the same)."""
    route: Route | None = scope.get(ROUTE_KEY)
    if route is None:
        route = scope[ROUTE_KEY] = paths.route(scope)
    return route


def is_write(scope: Scope) -> bool:
    """Whether a request writes (POST, PUT, PATCH, DELETE)."""
    return scope["type"] == "http" and scope["method"] in WRITE_METHODS
