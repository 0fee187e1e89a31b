"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) pages, served from assets shipped in the package.

Both pages work with no internet access: everything they load is under :data:`ASSETS_DIR`, served
at :data:`ASSETS_PATH` by the app's ``StaticFiles`` mount.

- ``assets/swagger-ui/``: files from the npm package ``swagger-ui-dist`` (Apache-2.0);
- ``assets/redoc/``: ``bundles/redoc.standalone.js`` from the npm package ``redoc`` (MIT), with
  its "API docs by Redocly" logo pointed at a ``data:`` URL instead of Redocly's CDN;
- ``assets/jsonserve/``: ours, the script that starts Swagger UI (a ``<redoc>`` tag starts ReDoc)
  and a few lines of CSS.

The vendored folders are written by ``scripts/vendor-docs-assets.sh`` (pinned versions, integrity
checked); each holds the package's licence files and a ``SOURCE.txt`` with the version, tarball URL
and the sha256 of every file. Upgrade them with that script, never by hand.

Every URL in the pages is a path built from the request's ``root_path``, so they work under
``--base`` and behind a proxy that sets a root path; the OpenAPI document is ``<root>/openapi.json``.
A Content-Security-Policy holds the pages to their own server: scripts only from ``'self'`` (no
inline script, no eval), requests, fonts and styles from ``'self'``, images from ``'self'`` and
``data:``. ReDoc needs two more things, found by running it under the policy: ``'unsafe-inline'``
styles (styled-components inserts ``<style>`` elements; ReDoc's ``nonce`` option does not reach all
of them in the standalone bundle) and ``blob:`` workers (its search index).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

ASSETS_PATH = "/__docs"
ASSETS_DIR = Path(__file__).parent / "assets"
TITLE = "jsonserve API"

_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'self'",
}

_SWAGGER_UI_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{assets}/jsonserve/docs.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{assets}/jsonserve/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/jsonserve/docs.css">
</head>
<body class="redoc">
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


async def swagger_ui(request: Request) -> Response:
    """Swagger UI over ``<root>/openapi.json``: operations listed, "Try it out" on."""
    assets, openapi = _urls(request)
    html = _SWAGGER_UI_PAGE.format(title=escape(TITLE), assets=assets, openapi=openapi)
    return page_response(html, policy())


async def redoc(request: Request) -> Response:
    """ReDoc over ``<root>/openapi.json``; it needs inline styles (styled-components) and a ``blob:`` worker."""
    assets, openapi = _urls(request)
    html = _REDOC_PAGE.format(title=escape(TITLE), assets=assets, openapi=openapi)
    return page_response(html, policy(**{"style-src": "'self' 'unsafe-inline'", "worker-src": "blob:"}))


def _urls(request: Request) -> tuple[str, str]:
    """The assets URL and the OpenAPI document's URL: paths under the request's root path, HTML-escaped."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return escape(root + ASSETS_PATH), escape(root + "/openapi.json")


def policy(**overrides: str) -> str:
    """The Content-Security-Policy header: :data:`_POLICY` with some directives replaced or added."""
    return "; ".join(f"{name} {value}" for name, value in {**_POLICY, **overrides}.items())


def page_response(html: str, csp: str) -> Response:
    """An HTML page that the browser must hold to the policy ``csp`` and revalidate before reuse."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return HTMLResponse(html, headers=headers)
