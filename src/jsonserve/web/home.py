"""The home page at ``/`` when the static folder has no ``index.html``: the resources, with counts."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from jsonserve import __version__
from jsonserve.service import Service
from jsonserve.web.http import principal_of

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>jsonserve</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.6rem; }} code {{ background: #f3f3f3; padding: .1rem .3rem; border-radius: 3px; }}
li {{ margin: .3rem 0; }} .count {{ color: #777; }}
</style></head>
<body>
<h1>jsonserve</h1>
<p>Your JSON REST API is running. Resources:</p>
<ul>
{items}
</ul>
<p>Try <code>GET {base}/{first}?_page=1</code>, filters such as <code>?id=1</code>, <code>_sort</code>,
<code>_embed</code> and <code>_expand</code>. The whole database is at <a href="{base}/db">{base}/db</a>.
API docs will live at <code>{base}/docs</code>.</p>
<p class="count">jsonserve {version}</p>
</body></html>
"""


async def home_page(request: Request, service: Service, base: str) -> HTMLResponse:
    """Render the list of resources and their record counts."""
    counts = await service.counts(principal=principal_of(request.scope))
    items = "\n".join(
        f'<li><a href="{escape(base)}/{escape(name)}">/{escape(name)}</a> '
        f'<span class="count">{"object" if count is None else f"{count} records"}</span></li>'
        for name, count in counts.items()
    )
    first = next(iter(counts), "posts")
    return HTMLResponse(
        _PAGE.format(
            items=items or "<li>(no resources yet)</li>", base=escape(base), first=escape(first), version=__version__
        )
    )
