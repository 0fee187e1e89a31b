"""``create_app``: Settings (or a Service) -> a Starlette application.

Example:
    >>> app = create_app(Settings(source="db.json"))  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
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
from jsonserve.service import Service, build_service
from jsonserve.web.errors import HANDLERS, CatchAll
from jsonserve.web.home import home_page
from jsonserve.web.http import api_root, json_response
from jsonserve.web.resources import ALL_METHODS, Fallthrough, Resources
from jsonserve.web.rewrite import RewriteMiddleware

EXPOSED = ["X-Total-Count", "Link", "Location", "ETag"]


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
        Route("/{name}", resources.collection, methods=ALL_METHODS),
        Route("/{name}/{id}", resources.item, methods=ALL_METHODS),
        Route("/{name}/{id}/{child}", resources.nested, methods=ALL_METHODS),
    ]
    routes: list[BaseRoute] = [Mount(settings.base, routes=api)] if settings.base else api
    if resources.static is not None:
        routes.append(Mount("/", app=resources.static))
    return routes


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
