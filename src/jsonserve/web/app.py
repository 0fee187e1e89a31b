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

from jsonserve.config import Settings
from jsonserve.openapi import build_document
from jsonserve.service import Service, build_service
from jsonserve.web import docs
from jsonserve.web.errors import HANDLERS, CatchAll
from jsonserve.web.home import home_page
from jsonserve.web.http import api_root, json_response
from jsonserve.web.resources import ALL_METHODS, Fallthrough, Resources, options_or_405
from jsonserve.web.rewrite import RewriteMiddleware

EXPOSED = ["X-Total-Count", "Link", "Location", "ETag"]
Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings, service: Service | None = None, *, manage_storage: bool = True) -> Starlette:
    """The ASGI app; its lifespan opens the storage and closes it (flushing writes) at shutdown.

    With ``manage_storage=False`` the caller opens and closes the storage itself (the CLI does, so
    that a damaged or locked data file is reported before the server starts).
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
        await service.storage.open()
        try:
            yield
        finally:
            await service.storage.aclose()

    app = Starlette(
        routes=_routes(settings, resources, static_dir),
        middleware=_middleware(settings),
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
        return await home_page(request, resources.service, api_root(request))

    async def rules(request: Request) -> Response:
        return json_response(request, settings.routes)  # type: ignore[arg-type]

    api: list[BaseRoute] = [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/db", resources.db, methods=ALL_METHODS),
        *([Route("/__rules", rules, methods=["GET", "HEAD"])] if settings.routes else []),
        *(_docs_routes(resources) if settings.docs else []),
        Route("/{name}", resources.collection, methods=ALL_METHODS),
        Route("/{name}/{id}", resources.item, methods=ALL_METHODS),
        Route("/{name}/{id}/{child}", resources.nested, methods=ALL_METHODS),
    ]
    routes: list[BaseRoute] = [Mount(settings.base, routes=api)] if settings.base else api
    if resources.static is not None:
        routes.append(Mount("/", app=resources.static))
    return routes


def _docs_routes(resources: Resources) -> list[BaseRoute]:
    """``/openapi.json``, ``/docs`` (Swagger UI), ``/redoc`` and their assets; a collection of the same name wins."""

    def unless_collection(name: str, page: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if name in resources.service.kinds():
                request.path_params["name"] = name
                return await resources.collection(request)
            if request.method not in ("GET", "HEAD"):
                return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), f"/{name} is a page")
            return await page(request)

        return endpoint

    async def openapi(request: Request) -> Response:
        # A relative server URL: "Try it out" stays on the page's own origin, behind any proxy.
        root = request.scope.get("root_path", "") or "/"
        document = await build_document(resources.service, root)
        return json_response(request, document)

    return [
        Route("/openapi.json", unless_collection("openapi.json", openapi), methods=ALL_METHODS),
        Route("/docs", unless_collection("docs", docs.swagger_ui), methods=ALL_METHODS),
        Route("/redoc", unless_collection("redoc", docs.redoc), methods=ALL_METHODS),
        Mount(docs.ASSETS_PATH, app=StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets"),
    ]


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, answering preflights with 204 and no body as json-server does."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return Response(status_code=204, headers=headers)


def _middleware(settings: Settings) -> list[Middleware]:
    stack = []
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
    stack.append(Middleware(GZipMiddleware, minimum_size=1024))
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
