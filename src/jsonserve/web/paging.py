"""json-server's list shapes: a plain array with ``X-Total-Count``/``Link`` (0.17), or 1.x's envelope."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

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


def list_headers(request: Request, listing: Listing, envelope: bool) -> dict[str, str]:
    """``X-Total-Count`` for any windowed list; ``Link`` for 0.17 pages when there is more than one."""
    window = listing.query.window
    if window is None:
        return {}
    headers = {"X-Total-Count": str(listing.total)}
    if isinstance(window, PageRequest) and not envelope:
        link = _link(request, window, listing.total)
        if link:
            headers["Link"] = link
    return headers


def _link(request: Request, window: PageRequest, total: int) -> str:
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
    return ", ".join(f'<{_page_url(request, number)}>; rel="{rel}"' for rel, number in relations)


def _page_url(request: Request, number: int) -> str:
    items = [(key, value) for key, value in request.query_params.multi_items() if key != "_page"]
    items.append(("_page", str(number)))
    return str(request.url.replace(query=urlencode(items)))
