"""``/docs`` and ``/redoc``: HTML whose every URL is served by the app itself, under ``--base`` too.

The browser test (``tests/frontend/test_docs_ui.py``) renders them; these checks need no browser.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve
from jsonserve.web.docs import ASSETS_DIR, ASSETS_PATH

pytestmark = pytest.mark.anyio

PAGES = ("/docs", "/redoc")
URL_ATTRIBUTES = {"src", "href", "data-openapi-url", "spec-url"}
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}
ABSOLUTE_URL = re.compile(r"https?://", re.IGNORECASE)


class _Urls(HTMLParser):
    """Every URL-valued attribute of a page, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in URL_ATTRIBUTES and value is not None]


def _urls(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


def _policy(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


async def _assert_served(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET ``url`` (a path on the app) and check the status and the content type its extension calls for."""
    response = await client.get(url)
    assert response.status_code == 200, url
    suffix = "." + url.rsplit(".", 1)[-1]
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in CONTENT_TYPES[suffix], f"{url}: {media_type}"
    assert response.content, url
    return response


@pytest.mark.parametrize("page", PAGES)
async def test_page_is_html_whose_urls_all_resolve_on_the_server(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    urls = _urls(response.text)
    assert "/openapi.json" in urls
    assert any(url.startswith(f"{ASSETS_PATH}/") and url.endswith(".js") for url in urls)
    for url in urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("/"), f"{page} links {url!r}: not a path on this server"
        await _assert_served(client, url)


@pytest.mark.parametrize("page", PAGES)
async def test_page_and_its_scripts_name_no_other_site(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert not ABSOLUTE_URL.search(response.text), f"{page} names an absolute URL"
    ours = [url for url in _urls(response.text) if url.startswith(f"{ASSETS_PATH}/jsonserve/")]
    for url in ours:
        assert not ABSOLUTE_URL.search((await client.get(url)).text), f"{url} names an absolute URL"


@pytest.mark.parametrize("page", PAGES)
async def test_content_security_policy_allows_only_the_server(client: httpx.AsyncClient, page: str) -> None:
    policy = _policy(await client.get(page))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["connect-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert all("http" not in sources and "*" not in sources for sources in policy.values())
    assert policy["style-src"] == ("'self' 'unsafe-inline'" if page == "/redoc" else "'self'")


@pytest.mark.parametrize("page", PAGES)
async def test_head_sends_the_headers_without_a_body(client: httpx.AsyncClient, page: str) -> None:
    get, head = await client.get(page), await client.head(page)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-security-policy", "content-length"):
        assert head.headers[name] == get.headers[name]


@pytest.mark.parametrize("page", PAGES)
async def test_other_methods_are_refused(client: httpx.AsyncClient, page: str) -> None:
    assert (await client.post(page, json={})).status_code == 405


@pytest.mark.parametrize("page", PAGES)
async def test_under_base_every_url_carries_it(db: dict[str, Any], page: str) -> None:
    async with serve(db, base="/api/v1") as client:
        response = await client.get(f"/api/v1{page}")
        assert response.status_code == 200
        urls = [url for url in _urls(response.text) if not url.startswith("data:")]
        assert "/api/v1/openapi.json" in urls
        for url in urls:
            assert url.startswith("/api/v1/"), url
            await _assert_served(client, url)
        assert (await client.get(page)).status_code == 404


def _listed_digests(folder: str) -> dict[str, str]:
    """The ``sha256  name`` lines of a vendored folder's SOURCE.txt."""
    text = (ASSETS_DIR / folder / "SOURCE.txt").read_text()
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("folder", ["swagger-ui", "redoc"])
def test_vendored_files_are_the_ones_source_txt_describes(folder: str) -> None:
    files = {path.name: path for path in (ASSETS_DIR / folder).iterdir() if path.name != "SOURCE.txt"}
    assert _listed_digests(folder) == {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()
    }
    assert "LICENSE" in files
    assert not [name for name in files if name.endswith(".map")]
    text = (ASSETS_DIR / folder / "SOURCE.txt").read_text()
    assert re.search(r"^tarball: +https://registry\.npmjs\.org/\S+\.tgz$", text, re.MULTILINE)


def test_redoc_bundle_names_no_redocly_cdn() -> None:
    assert b"cdn.redoc.ly" not in (ASSETS_DIR / "redoc" / "redoc.standalone.js").read_bytes()
