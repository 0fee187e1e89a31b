"""The data browser at ``/_/``: a page, its ES modules and CSS (shipped in the package), and ``/_/meta.json``.

Everything the browser loads is under :data:`ASSETS_DIR` (plain ES modules and one CSS file, no build
step, no third-party code) and is served by a ``StaticFiles`` mount; the page itself carries a
Content-Security-Policy that holds it to its own server (scripts from ``'self'`` only, no inline
script, requests and the realtime WebSocket to ``'self'``). The browser talks to the ordinary REST
API, ``/auth/*`` and ``/realtime`` like any client, with the signed-in user's bearer token, so it
shows exactly what that user may read.

``GET /_/meta.json`` tells the page what to draw, in one request: the server's mode (dialect,
read-only, id field, timestamps, ``--auth``, docs) and, for each resource the caller may read, its
kind, its record count and its shape: the declared schema (``--schema``) or else the inferred one,
without hidden fields. ``/openapi.json`` has the same resources, but it describes inferred fields in
words ("Seen in the data as: string"), lists what anonymous callers may read, and is absent under
``--no-docs``: the browser needs the types (for columns and form inputs) and the caller's own view.

Example:
    >>> routes = browser_routes(service, settings)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from jsonserve import __version__
from jsonserve.auth import Principal
from jsonserve.config import Settings
from jsonserve.errors import Unauthorized
from jsonserve.query.model import AnyOf
from jsonserve.service import Service
from jsonserve.web.http import json_response, principal_of
from jsonserve.web.resources import options_or_405

PATH = "/_"
ASSETS_DIR = Path(__file__).parent / "assets" / "browser"
NOTHING = AnyOf(())  # the read rule's "matches no record"

POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    )
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def browser_routes(service: Service, settings: Settings) -> list[BaseRoute]:
    """``/_/`` (the page), ``/_/meta.json`` and the page's files, to mount where the API is."""
    page_html = (ASSETS_DIR / "index.html").read_bytes()

    async def page(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/_/ is a page")
        return Response(page_html, media_type="text/html; charset=utf-8", headers=HEADERS)

    async def meta(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/_/meta.json is read-only")
        return json_response(request, await describe(service, settings, principal_of(request.scope)))

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return [
        Mount(
            PATH,
            routes=[
                Route("/", page, methods=methods),
                Route("/meta.json", meta, methods=methods),
                Mount("/", app=StaticFiles(directory=ASSETS_DIR), name="browser-assets"),
            ],
        )
    ]


async def to_browser(request: Request) -> Response:
    """``/_`` -> ``/_/`` (relative, so that it holds under ``--base`` and behind a proxy); ``_`` is no collection."""
    if request.method not in ("GET", "HEAD"):
        return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/_ is the data browser, not a collection")
    return RedirectResponse("_/", status_code=308)


async def describe(service: Service, settings: Settings, principal: Principal) -> dict[str, Any]:
    """What the browser draws: the server's mode and each resource ``principal`` may read.

    Example:
        >>> (await describe(service, Settings(), ANONYMOUS))["resources"][0]["name"]  # doctest: +SKIP
        'posts'
    """
    counts = await service.counts(principal=principal)
    resources = []
    for name, kind in service.kinds().items():
        if not _readable(service, principal, name):
            continue
        declared = service.catalogue.declared(name)
        schema = declared.schema if declared is not None else (await service.catalogue.shape(name)).to_json_schema()
        resources.append(
            {
                "name": name,
                "kind": kind.value,
                "count": counts.get(name),
                "declared": declared is not None,
                "schema": _without(schema, service.catalogue.hidden(name)),
            }
        )
    return {
        "version": __version__,
        "compat": settings.compat,
        "readOnly": settings.read_only,
        "idField": settings.id_field,
        "timestamps": settings.timestamps,
        "docs": settings.docs,
        "auth": {"refresh": bool(settings.refresh_ttl)} if settings.auth else None,
        "user": principal.id,
        "resources": resources,
    }


def _readable(service: Service, principal: Principal, name: str) -> bool:
    """Whether ``principal`` may read any of ``name`` (the rules leave it something to see)."""
    try:
        return service.read_rule(principal, name) != NOTHING
    except Unauthorized:
        return False


def _without(schema: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """``schema`` without the properties no answer shows (a user's password hash)."""
    if not hidden:
        return schema
    properties = {key: value for key, value in schema.get("properties", {}).items() if key not in hidden}
    required = [key for key in schema.get("required", ()) if key not in hidden]
    return {**schema, "properties": properties, "required": required}
