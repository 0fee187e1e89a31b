"""``create_app``: Settings (or a Service) -> a Starlette application.

Example:
    >>> app = create_app(Settings(source="db.json"))  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from jsonserve.config import Settings
from jsonserve.errors import NotFound
from jsonserve.service import Service, build_service
from jsonserve.web import auth, browser, demo, docs, stack
from jsonserve.web.errors import HANDLERS
from jsonserve.web.home import home_page
from jsonserve.web.http import api_root, json_response
from jsonserve.web.ops import Ops, ops_pages
from jsonserve.web.realtime import realtime_context, realtime_routes
from jsonserve.web.resources import ALL_METHODS, Fallthrough, Resources, options_or_405

if TYPE_CHECKING:
    from jsonserve.openapi import Documents
    from jsonserve.realtime import Context
    from jsonserve.web.graphql import GraphQLEndpoint

Endpoint = Callable[[Request], Awaitable[Response]]


class LazyGraphQL:
    """``/graphql``, built at its first request (HTTP or WebSocket).

    Importing GraphQL (graphql-core and the engine) was a large part of a server's start-up, and many
    servers never answer a GraphQL request.
    """

    def __init__(self, service: Service, settings: Settings, realtime: Context | None) -> None:
        self.service, self.settings, self.realtime = service, settings, realtime

    @functools.cached_property
    def endpoint(self) -> GraphQLEndpoint:
        """The endpoint (``web/graphql.py``), imported and built once."""
        from jsonserve.web.graphql import GraphQLEndpoint

        return GraphQLEndpoint(self.service, self.settings, self.realtime)

    async def __call__(self, request: Request) -> Response:
        return await self.endpoint(request)

    async def websocket(self, socket: WebSocket) -> None:
        """``graphql-transport-ws``: :meth:`GraphQLEndpoint.websocket`."""
        await self.endpoint.websocket(socket)


def create_app(
    settings: Settings,
    service: Service | None = None,
    *,
    manage_storage: bool = True,
    fast_reads: bool = True,
    policies: Sequence[Middleware] = (),
    freeze: bool = False,
) -> Starlette:
    """The ASGI app; its lifespan opens the storage and closes it (flushing writes) at shutdown.

    Args:
        settings: the server's options.
        service: the service to serve (default: one built from ``settings``).
        manage_storage: with ``False`` the caller opens and closes the service itself (``async with
            service:``; the server does, so that a damaged or locked data file is reported before it starts).
        fast_reads: answer plain ``GET /{collection}/{id}`` in the fast lane (``web/fastpath.py``),
            which gives the same answers as the routes, faster; ``False`` sends them through the routes.
        policies: pure-ASGI middlewares (``Middleware(cls, **options)``) that every request meets, in
            this order, after CORS and before the fast lane and the routes (``web/stack.py``).
        freeze: once the lifespan has started, move every object alive into the garbage collector's
            permanent generation (``gc.freeze()``), out of its full collections. For a process that
            only serves this app (the server's own entry points): in another, garbage not yet
            collected at that moment would never be.
    """
    service = service or build_service(settings)
    static_dir = _static_dir(settings)
    static = StaticFiles(directory=static_dir, html=True) if static_dir else None
    resources = Resources(service, settings, static)
    ops = Ops.build(settings, service)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack_of_closes:
            stack_of_closes.push_async_callback(ops.aclose)
            if manage_storage:
                await stack_of_closes.enter_async_context(service)
            if freeze:
                # What exists once the app is up (modules, routes, loaded data) lives as long as the process:
                # out of the cyclic GC's full collections, which would otherwise walk it all several times
                # a second under load (about 100,000 objects, some 30 ms a pause, on SQLite).
                gc.freeze()
            yield

    realtime = realtime_context(service, settings)
    graphql = LazyGraphQL(service, settings, realtime) if settings.graphql else None
    api, pages = _routes(settings, resources, static_dir, ops, graphql)
    app = Starlette(
        routes=[
            *realtime_routes(realtime, settings, settings.base),
            *([WebSocketRoute(settings.base + "/graphql", graphql.websocket)] if graphql else []),
            *api,
        ],
        middleware=stack.middleware(stack.Parts(settings, service, tuple(policies), fast_reads, ops, pages)),
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.realtime = realtime  # its end_all() ends the realtime streams when the server stops
    # Other transports count their messages and operations with ``await app.state.rate_limiter.hit(key)``
    # (``None`` without --rate-limit; ``web.limiting.key_of(scope)`` gives the key): docs/operations.md.
    app.state.rate_limiter = ops.limiter
    app.state.ops = ops
    return app


def _routes(
    settings: Settings, resources: Resources, static_dir: Path | None, ops: Ops, graphql: LazyGraphQL | None
) -> tuple[list[BaseRoute], frozenset[str]]:
    """The routes, and the names of the pages among the ``/{name}`` paths (which the list lane leaves to them)."""

    async def home(request: Request) -> Response:
        if static_dir is not None and (static_dir / "index.html").is_file() and resources.static is not None:
            return Fallthrough(resources.static)
        return await home_page(
            request, resources.service, api_root(request), docs=settings.docs, graphql=settings.graphql
        )

    async def rules(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), "/__rules is read-only")
        return json_response(request, settings.routes)  # type: ignore[arg-type]

    pages: dict[str, Endpoint] = {"db": resources.db, **({"__rules": rules} if settings.routes else {})}
    pages.update(ops_pages(ops, resources.collection))  # /health, /ready, /metrics
    mounts: list[BaseRoute] = [
        *_auth_routes(settings, resources, pages),
        *browser.browser_routes(resources.service, settings),
    ]
    pages["_"] = browser.to_browser
    if settings.docs:
        pages.update(_docs_pages(resources))
    if graphql is not None:
        pages["graphql"] = _unless_collection(resources, "graphql", graphql)
    if settings.docs or settings.graphql:
        mounts.append(Mount(docs.ASSETS_PATH, app=StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets"))

    async def first_segment(request: Request) -> Response:
        # One route for every /{name}, fixed pages first: Starlette tries routes one by one, and
        # this keeps the record and list routes near the front of that list.
        page = pages.get(request.path_params["name"])
        return await (page or resources.collection)(request)

    api: list[BaseRoute] = [
        *mounts,
        *demo.demo_routes(resources.service, resources.item),
        Route("/{name}/{id}", resources.item, methods=ALL_METHODS),
        Route("/{name}/{id}/{child}", resources.nested, methods=ALL_METHODS),
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/{name}", first_segment, methods=ALL_METHODS),
    ]
    routes: list[BaseRoute] = [Mount(settings.base, routes=api)] if settings.base else api
    if resources.static is not None:
        routes.append(Mount("/", app=resources.static))
    return routes, frozenset(pages)


def _auth_routes(settings: Settings, resources: Resources, pages: dict[str, Endpoint]) -> list[BaseRoute]:
    """With ``--auth``: the accounts pages (added to ``pages``) and the ``/auth/{action}`` route."""
    accounts = resources.service.accounts
    if accounts is None:
        return []
    account_pages = auth.auth_pages(accounts, settings.max_body, settings.max_depth)
    pages.update(account_pages)

    async def users(request: Request) -> Response:
        # json-server-auth: POST /users registers (hashing the password); every other method is the collection's.
        if request.method == "POST":
            return await account_pages["register"](request)
        return await resources.collection(request)

    pages["users"] = users
    actions = auth.auth_routes(accounts, settings.max_body, settings.max_depth)

    async def action(request: Request) -> Response:
        endpoint = actions.get(request.path_params["action"])
        if endpoint is None:
            raise NotFound(f"no /auth/{request.path_params['action']} endpoint")
        return await endpoint(request)

    routes: list[BaseRoute] = [Route("/auth/{action}", action, methods=ALL_METHODS)]
    jwks = auth.jwks_page(accounts)
    if jwks is not None:
        routes.append(Route(auth.JWKS_PATH, jwks, methods=ALL_METHODS))
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

    @functools.cache
    def documents() -> Documents:
        # Made at the first request: the openapi package is a noticeable part of a start-up otherwise.
        from jsonserve.openapi import Documents

        return Documents(resources.service.catalogue)

    async def openapi(request: Request) -> Response:
        # A relative server URL: "Try it out" stays on the page's own origin, behind any proxy.
        root = request.scope.get("root_path", "") or "/"
        return json_response(request, await documents().document(root))

    return {
        "openapi.json": unless_collection("openapi.json", openapi),
        "docs": unless_collection("docs", docs.swagger_ui),
        "redoc": unless_collection("redoc", docs.redoc),
    }


def _unless_collection(resources: Resources, name: str, page: Endpoint) -> Endpoint:
    """``page`` at ``/{name}``, unless the data has a resource of that name: then the resource's routes."""

    async def endpoint(request: Request) -> Response:
        if name in resources.service.kinds():
            request.path_params["name"] = name
            return await resources.collection(request)
        return await page(request)

    return endpoint


def _static_dir(settings: Settings) -> Path | None:
    if settings.no_static:
        return None
    if settings.static_dir is not None:
        return settings.static_dir
    public = Path("public")
    return public if public.is_dir() else None
