"""Request and response helpers: JSON rendering with ETags, conditional GETs, bounded JSON bodies."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

from jsonserve._types import JSONValue, Record
from jsonserve.auth import ANONYMOUS, Principal
from jsonserve.errors import BodyError, InvalidToken, PayloadTooLarge, UnsupportedMediaType
from jsonserve.service import etag_for, etag_matches, parse_body, render
from jsonserve.web.encoding import body_codings, decode_body

JSON_TYPE = "application/json"
NO_CACHE = {"Cache-Control": "no-cache"}
PRINCIPAL_KEY = "jsonserve.principal"
"""The ASGI scope key where an auth middleware puts the request's :class:`Principal`."""


def principal_of(scope: Scope) -> Principal:
    """Who makes this request: what an auth middleware put in the scope, else the anonymous caller."""
    principal: Principal = scope.get(PRINCIPAL_KEY, ANONYMOUS)
    return principal


def json_response(
    request: Request, payload: JSONValue, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Pretty JSON with a strong ETag; a matching ``If-None-Match`` on a GET gives 304."""
    body = render(payload)
    etag = etag_for(body)
    all_headers = {**NO_CACHE, "ETag": etag, **(headers or {})}
    if request.method in ("GET", "HEAD") and status == 200:
        condition = request.headers.get("if-none-match")
        if condition is not None and etag_matches(condition, etag):
            return Response(status_code=304, headers=all_headers)
    return Response(body, status, headers=all_headers, media_type=JSON_TYPE)


def api_root(request: Request) -> str:
    """The absolute URL the API is served under (``--base`` and any proxy root path included)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def too_large(max_body: int) -> PayloadTooLarge:
    """The 413 for a body over ``max_body`` bytes: it names the option that raises the limit."""
    return PayloadTooLarge(f"the body is larger than the {max_body}-byte limit (set by the server's --max-body option)")


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, with any parameters."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, max_body: int, max_depth: int) -> Record:
    """The JSON object a write sends: 415 for other types and codings, 413 past ``max_body`` (never read whole).

    A gzip or deflate body is decoded, ``max_body`` applying to both its sizes (``web/encoding.py``).
    """
    return parse_body(await read_body(request, max_body), max_depth=max_depth)


async def read_body(request: Request, max_body: int) -> bytes:
    """The decoded bytes of a JSON body (any JSON value), with :func:`read_json`'s checks of type, coding and size."""
    if not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType("writes take a JSON body: send Content-Type: application/json")
    codings = body_codings(request.headers.get("content-encoding"))
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdecimal():
            raise BodyError("Content-Length is not a number")
        if int(declared) > max_body:
            raise too_large(max_body)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise too_large(max_body)
            chunks.append(chunk)
    except ClientDisconnect:  # the client gave up mid-body: a client error, not a logged 500
        raise BodyError("the connection closed before the whole body arrived") from None
    body = b"".join(chunks)
    for coding in reversed(codings):  # listed in the order they were applied
        body = decode_body(body, coding, max_body)
    return body


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization`` header (``None`` without one); a malformed header is a refused token."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise InvalidToken("send Authorization: Bearer <accessToken>")
            return str(token.strip())
    return None
