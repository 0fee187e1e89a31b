"""The home page at ``/`` when the static folder has no ``index.html``: resources, counts, examples, links.

It lists each resource with its record count (what the caller may read) and a link into the data
browser (``/_/``), shows example requests in both json-server dialects (0.17 and 1.x, both accepted
on every request), and links the tools: the data browser, the API docs (``/docs``, ``/redoc``,
``/openapi.json``: only when they are served, not under ``--no-docs`` nor where a collection of the
same name takes the path), GraphQL (unless ``--no-graphql``, or a collection takes the path) and
the realtime demo. Light and dark themes follow the system.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from jsonserve import __version__
from jsonserve.service import Service
from jsonserve.web.http import principal_of

DOCS_PAGES = (("docs", "Swagger UI"), ("redoc", "ReDoc"), ("openapi.json", "the OpenAPI document"))
TOOLS = (("_/", "Data browser"), ("graphql", "GraphQL"), ("realtime/demo", "Realtime demo"))

_STYLE = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --code: #eef1f4;
  --accent: #0a58ca; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1419; --fg: #e6edf3; --muted: #9aa7b4; --line: #30363d;
  --code: #1f262e; --accent: #6cb6ff; } }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
  background: var(--bg); color: var(--fg); }
a { color: var(--accent); } h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 1.75rem; }
code { background: var(--code); padding: .1rem .3rem; border-radius: 3px; font-size: .9em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
li { margin: .3rem 0; } .count, footer { color: var(--muted); }
table { border-collapse: collapse; width: 100%; } caption { text-align: left; color: var(--muted); }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: .35rem .5rem; vertical-align: top; }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>jsonserve</title>
<style>{style}</style></head>
<body>
<header><h1>jsonserve</h1>
<p>Your JSON REST API is running.</p>
<nav aria-label="Tools"><ul>
{tools}
</ul></nav></header>
<main>
<h2 id="resources">Resources</h2>
<ul aria-labelledby="resources">
{items}
</ul>
<p>The whole database is at <a href="{base}/db">{base}/db</a>.</p>
<h2 id="examples">Example requests</h2>
<p>Both json-server dialects work on every request; pick the one your client speaks.</p>
<table aria-labelledby="examples">
<caption>The same requests in json-server 0.17's and 1.x's query language</caption>
<thead><tr><th scope="col">what</th><th scope="col">json-server 0.17</th>
<th scope="col">json-server 1.x</th></tr></thead>
<tbody>
{examples}
</tbody></table>
<p>Create a record:
<code>curl -X POST {base}/{first} -H 'Content-Type: application/json' -d '{{"title": "hello"}}'</code>;
change one: <code>PATCH {base}/{first}/1</code>; remove one: <code>DELETE {base}/{first}/1</code>.</p>
</main>
<footer><p>jsonserve {version}</p></footer>
</body></html>
"""


async def home_page(
    request: Request, service: Service, base: str, *, docs: bool = True, graphql: bool = True
) -> HTMLResponse:
    """Render the resources with their counts, the examples and the tools (docs pages and GraphQL when served)."""
    counts = await service.counts(principal=principal_of(request.scope))
    root = escape(base)
    items = "\n".join(
        f'<li><a href="{root}/{escape(name)}">/{escape(name)}</a> <span class="count">{_size(count)}</span>'
        f' · <a href="{root}/_/#/{escape(name)}" aria-label="Browse {escape(name)}">browse</a></li>'
        for name, count in counts.items()
    )
    first = next((name for name, count in counts.items() if count is not None), "posts")
    pages = [(path, title) for path, title in DOCS_PAGES if docs and path not in counts]
    tools = [
        *TOOLS[:1],
        *pages,
        *[(path, title) for path, title in TOOLS[1:] if _shown(path, counts, graphql=graphql)],
    ]
    return HTMLResponse(
        _PAGE.format(
            style=_STYLE,
            tools="\n".join(f'<li><a href="{root}/{path}">{title}</a></li>' for path, title in tools),
            items=items or "<li>(no resources yet)</li>",
            base=root,
            first=escape(first),
            examples=_examples(root, escape(first)),
            version=__version__,
        )
    )


def _shown(path: str, counts: dict[str, int | None], *, graphql: bool) -> bool:
    """Whether a tool's link goes on the page: not where a collection takes its first segment (``realtime``)."""
    if path.split("/")[0] in counts:
        return False
    return path != "graphql" or graphql


def _examples(base: str, name: str) -> str:
    """Rows of the examples table: what, the 0.17 request, the 1.x request."""
    rows = (
        ("a page of 10", "_page=1&amp;_limit=10", "_page=1&amp;_per_page=10"),
        ("sorted, newest first", "_sort=id&amp;_order=desc", "_sort=-id"),
        ("a filter", "id_gte=2&amp;id_lte=5", "id:gte=2&amp;id:lte=5"),
        ("a text search", "q=hello", "q=hello"),
    )
    return "\n".join(
        f"<tr><td>{what}</td><td><code>GET {base}/{name}?{old}</code></td>"
        f"<td><code>GET {base}/{name}?{new}</code></td></tr>"
        for what, old, new in rows
    )


def _size(count: int | None) -> str:
    """``object`` for a singular resource, else the record count: "1 record", "2 records", "100,000 records"."""
    if count is None:
        return "object"
    return f"{count:,} record" if count == 1 else f"{count:,} records"
