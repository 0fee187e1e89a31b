"""The realtime demo at ``GET /realtime/demo``: a live table of a collection and a chat on a channel.

A plain HTML page whose ES module and CSS ship beside the data browser's (``assets/browser/demo.*``,
served under ``/_/``), so the demo reuses the browser's REST client (``api.js``), realtime
connection (``live.js``) and DOM helpers instead of copies; the page refers to them relatively
(``../_/demo.js``), which holds under ``--base`` and behind a proxy. It is served with the data
browser's Content-Security-Policy: scripts, styles and connections (REST and the ``/realtime``
WebSocket) to the server itself only, no CDN, no build step.

Like ``/docs`` and ``/graphql``, the page yields to the data: with a collection named ``realtime``,
``/realtime/demo`` is that collection's record ``demo`` (:func:`demo_routes` takes the record
endpoint for that case).

Example:
    >>> routes = demo_routes(service, resources.item)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from jsonserve.service import Service
from jsonserve.web.browser import ASSETS_DIR, HEADERS
from jsonserve.web.resources import ALL_METHODS, options_or_405

PATH = "/realtime/demo"
COLLECTION = "realtime"  # a collection of this name takes the path
PAGE = ASSETS_DIR / "demo.html"

Endpoint = Callable[[Request], Awaitable[Response]]


def demo_routes(service: Service, record: Endpoint) -> list[BaseRoute]:
    """``/realtime/demo`` (the page), or ``record`` (``/{name}/{id}``) when ``realtime`` is a collection."""
    page_html = PAGE.read_bytes()

    async def demo(request: Request) -> Response:
        if COLLECTION in service.kinds():
            request.path_params.update(name=COLLECTION, id="demo")
            return await record(request)
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), f"{PATH} is a page")
        return Response(page_html, media_type="text/html; charset=utf-8", headers=HEADERS)

    return [Route(PATH, demo, methods=ALL_METHODS)]
