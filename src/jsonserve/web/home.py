"""The home page at ``/`` when the static folder has no ``index.html``: the resources, with counts.

It links the API docs (``/docs``, ``/redoc``, ``/openapi.json``) and ``/graphql`` only when they are
served: not under ``--no-docs`` (``--no-graphql``), and not where a collection of the same name takes the path.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from jsonserve import __version__
from jsonserve.service import Service
from jsonserve.web.http import principal_of

DOCS_PAGES = (("docs", "Swagger UI"), ("redoc", "ReDoc"), ("openapi.json", "the OpenAPI document"))

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
{docs}</p>
<p class="count">jsonserve {version}</p>
</body></html>
"""


async def home_page(
    request: Request, service: Service, base: str, *, docs: bool = True, graphql: bool = False
) -> HTMLResponse:
    """Render the list of resources and their record counts; link the docs pages and ``/graphql`` when served."""
    counts = await service.counts(principal=principal_of(request.scope))
    items = "\n".join(
        f'<li><a href="{escape(base)}/{escape(name)}">/{escape(name)}</a> '
        f'<span class="count">{_size(count)}</span></li>'
        for name, count in counts.items()
    )
    first = next(iter(counts), "posts")
    pages = [(path, title) for path, title in DOCS_PAGES if docs and path not in counts]
    if graphql and "graphql" not in counts:
        pages.append(("graphql", "GraphQL"))
    return HTMLResponse(
        _PAGE.format(
            items=items or "<li>(no resources yet)</li>",
            base=escape(base),
            first=escape(first),
            docs=_docs_sentence(escape(base), pages),
            version=__version__,
        )
    )


def _size(count: int | None) -> str:
    """``object`` for a singular resource, else the record count: "1 record", "2 records"."""
    if count is None:
        return "object"
    return f"{count} record" if count == 1 else f"{count} records"


def _docs_sentence(base: str, pages: list[tuple[str, str]]) -> str:
    """The sentence that links the docs pages served (``pages``), or nothing."""
    if not pages:
        return ""
    links = [f'<a href="{base}/{path}">{title}</a> (<code>{base}/{path}</code>)' for path, title in pages]
    listed = links[0] if len(links) == 1 else ", ".join(links[:-1]) + " and " + links[-1]
    return f"API docs: {listed}."
