"""json-server's list shapes: a plain array with ``X-Total-Count``/``Link`` (0.17), or 1.x's envelope."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.types import Scope

from jsonserve._types import JSONValue
from jsonserve.query.evaluate import clamp_page, page_count
from jsonserve.query.model import PageRequest
from jsonserve.service import Listing


def list_payload(listing: Listing, envelope: bool) -> JSONValue:
    """The body: the records, or ``{first, prev, next, last, pages, items, data}`` for a 1.x page."""
    window = listing.query.window
    if not (envelope and isinstance(window, PageRequest)):
        return listing.items  # type: ignore[return-value]
    pages = page_count(window, listing.total)
    page = clamp_page(window, listing.total)
    return {
        "first": 1,
        "prev": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
        "last": pages,
        "pages": pages,
        "items": listing.total,
        "data": listing.items,  # type: ignore[dict-item]
    }


def list_headers(scope: Scope, page_query: str, listing: Listing, envelope: bool) -> dict[str, str]:
    """``X-Total-Count`` for any windowed list; ``Link`` for 0.17 pages when there is more than one.

    ``page_query`` is :func:`page_query` of the request's parameters (``scope`` gives the rest of its URL).
    """
    window = listing.query.window
    if window is None:
        return {}
    headers = {"X-Total-Count": str(listing.total)}
    if isinstance(window, PageRequest) and not envelope:
        link = _link(scope, page_query, window, listing.total)
        if link:
            headers["Link"] = link
    return headers


def page_query(items: Iterable[tuple[str, str]]) -> str:
    """The query string of the ``Link`` URLs, but the page's number: ``_page`` moved last, its value left off.

    A page's URL is then the request's with this query and the number appended: one URL is built per
    answer, not one per relation (building them cost more than the rest of a list's answer).

    Example:
        >>> page_query([("_page", "2"), ("_limit", "10"), ("q", "a b")])
        '_limit=10&q=a+b&_page='
    """
    kept = [(key, value) for key, value in items if key != "_page"]
    kept.append(("_page", ""))
    return urlencode(kept)


def _link(scope: Scope, query: str, window: PageRequest, total: int) -> str:
    pages = page_count(window, total)
    if pages <= 1 or window.number > pages:
        return ""  # json-server 0.17 sends no Link for a single page or a page past the end
    page = window.number
    relations = [("first", 1)]
    if page > 1:
        relations.append(("prev", page - 1))
    if page < pages:
        relations.append(("next", page + 1))
    relations.append(("last", pages))
    prefix = str(URL(scope=scope).replace(query=query))  # a request URL has no fragment: the query ends it
    return ", ".join(f'<{prefix}{number}>; rel="{rel}"' for rel, number in relations)
