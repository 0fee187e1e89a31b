"""``create_app``: Settings (or a Service) -> a Starlette application.

Example:
    >>> app = create_app(Settings(source="db.json"))  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.config import Settings
from jsonserve.openapi import Documents
from jsonserve.service import Service, build_service
from jsonserve.web import docs
from jsonserve.web.errors import HANDLERS, CatchAll
from jsonserve.web.fastpath import FastRecordReads
from jsonserve.web.home import home_page
from jsonserve.web.http import api_root, json_response
from jsonserve.web.resources import ALL_METHODS, Fallthrough, Resources, options_or_405
from jsonserve.web.rewrite import RewriteMiddleware

EXPOSED = ["X-Total-Count", "Link", "Location", "ETag"]
Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings, service: Service | None = None, *, manage_storage: bool = True) -> Starlette:
    """The ASGI app; its lifespan opens the storage and closes it (flushing writes) at shutdown.

    With ``manage_storage=False`` the caller opens and closes the service itself (``async with
    service:``; the server does, so that a damaged or locked data file is reported before it starts).
    """
    service = service or build_service(settings)
    static_dir = _static_dir(settings)
    static = StaticFiles(directory=static_dir, html=True) if static_dir else None
    resources = Resources(service, settings, static)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if not manage_storage:
            yield
            return
        async with service:
            yield

    app = Starlette(
        routes=_routes(settings, resources, static_dir),
        middleware=_middleware(settings, service),
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    return app


def _routes(settings: Settings, resources: Resources, static_dir: Path | None) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        if static_dir is not None and (static_dir / "index.html").is_file() and resources.static is not None:
            return Fallthrough(resources.static)
        return await home_page(request, resources.service, api_root(request), docs=settings.docs)

    async def rules(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/__rules is read-only")
        return json_response(request, settings.routes)  # type: ignore[arg-type]

    pages: dict[str, Endpoint] = {"db": resources.db, **({"__rules": rules} if settings.routes else {})}
    mounts: list[BaseRoute] = []
    if settings.docs:
        pages.update(_docs_pages(resources))
        mounts.append(Mount(docs.ASSETS_PATH, app=StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets"))

    async def first_segment(request: Request) -> Response:
        # One route for every /{name}, fixed pages first: Starlette tries routes one by one, and
        # this keeps the record and list routes near the front of that list.
        page = pages.get(request.path_params["name"])
        return await (page or resources.collection)(request)

    api: list[BaseRoute] = [
        *mounts,
        Route("/{name}/{id}", resources.item, methods=ALL_METHODS),
        Route("/{name}/{id}/{child}", resources.nested, methods=ALL_METHODS),
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/{name}", first_segment, methods=ALL_METHODS),
    ]
    routes: list[BaseRoute] = [Mount(settings.base, routes=api)] if settings.base else api
    if resources.static is not None:
        routes.append(Mount("/", app=resources.static))
    return routes


def _docs_pages(resources: Resources) -> dict[str, Endpoint]:
    """``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``; a collection of the same name wins."""

    def unless_collection(name: str, page: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if name in resources.service.kinds():
                request.path_params["name"] = name
                return await resources.collection(request)
            if request.method not in ("GET", "HEAD"):
                return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), f"/{name} is a page")
            return await page(request)

        return endpoint

    documents = Documents(resources.service.catalogue)

    async def openapi(request: Request) -> Response:
        # A relative server URL: "Try it out" stays on the page's own origin, behind any proxy.
        root = request.scope.get("root_path", "") or "/"
        return json_response(request, await documents.document(root))

    return {
        "openapi.json": unless_collection("openapi.json", openapi),
        "docs": unless_collection("docs", docs.swagger_ui),
        "redoc": unless_collection("redoc", docs.redoc),
    }


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, answering preflights with 204 and no body as json-server does."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return Response(status_code=204, headers=headers)


class Gzip:
    """Starlette's gzip for clients that accept it; every other request goes straight to the app.

    (Starlette's middleware wraps every response, compressed or not, to add ``Vary``; an
    uncompressed body is valid for every client, so that hop is skipped. Pure ASGI.)
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 1024) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(
            name == b"accept-encoding" and b"gzip" in value for name, value in scope["headers"]
        ):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


FAST_READS = True  # the pure-ASGI lane for plain record reads (tests turn it off to compare)


def _middleware(settings: Settings, service: Service) -> list[Middleware]:
    stack = []
    if FAST_READS and not (settings.base or settings.routes or settings.delay_ms):
        reserved = frozenset({docs.ASSETS_PATH.strip("/")})
        stack.append(
            Middleware(FastRecordReads, service=service, vary_origin=bool(settings.cors_origins), reserved=reserved)
        )
    if settings.cors_origins:
        wildcard = "*" in settings.cors_origins
        stack.append(
            Middleware(
                Cors,
                allow_origins=["*"] if wildcard else list(settings.cors_origins),
                allow_credentials=not wildcard,  # never "any origin" together with credentials
                allow_methods=ALL_METHODS,
                allow_headers=["*"],  # echo any requested header, as json-server 0.17 and 1.x do
                expose_headers=EXPOSED,
                max_age=600,
            )
        )
    stack.append(Middleware(CatchAll))  # inside CORS, so a 500 still carries CORS headers
    stack.append(Middleware(Gzip, minimum_size=1024))
    if settings.routes:
        stack.append(Middleware(RewriteMiddleware, rules=settings.routes))
    return stack


def _static_dir(settings: Settings) -> Path | None:
    if settings.no_static:
        return None
    if settings.static_dir is not None:
        return settings.static_dir
    public = Path("public")
    return public if public.is_dir() else None
