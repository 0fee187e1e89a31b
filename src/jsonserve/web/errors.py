"""Domain errors -> RFC 9457 problem responses, in one table; nothing a client sends yields a trace."""

from __future__ import annotations

import logging
from http import HTTPStatus

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve import errors

log = logging.getLogger("jsonserve.web")

STATUS_BY_ERROR: dict[type[errors.JsonServeError], int] = {
    errors.NotFound: 404,
    errors.BadRequest: 400,
    errors.ReadOnly: 403,
    errors.Unauthorized: 401,
    errors.PermissionDenied: 403,
    errors.TooManyRequests: 429,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.ValidationFailed: 422,
    errors.StorageUnavailable: 503,
}
PROBLEM_TYPE = "application/problem+json"
CODE_BY_STATUS = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "payload_too_large"}


def problem_body(status: int, detail: str, code: str, extra: dict[str, object] | None = None) -> bytes:
    """An RFC 9457 problem document, rendered."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra or {})
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def problem(status: int, detail: str, code: str, extra: dict[str, object] | None = None) -> Response:
    """A problem+json response."""
    return Response(problem_body(status, detail, code, extra), status, media_type=PROBLEM_TYPE)


def status_of(error: errors.JsonServeError) -> int:
    """The HTTP status for a domain error (its nearest class in the table)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


async def domain_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, errors.JsonServeError):
        return await server_error(request, exc)
    return domain_response(exc)


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""A complete answer, not yet sent: status, raw headers, body (what the fast lanes prepare)."""


def answer_of(response: Response) -> Answer:
    """The answer a (non-streaming) Starlette ``response`` sends: its status, raw headers and body."""
    return response.status_code, response.raw_headers, bytes(response.body)


async def send_answer(send: Send, answer: Answer) -> None:
    """Send ``answer`` as a Starlette ``Response`` would: the start message, then the whole body."""
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def domain_response(exc: errors.JsonServeError) -> Response:
    """The problem+json response for a domain error, with ``Allow`` or ``Retry-After`` where due.

    Example:
        >>> domain_response(errors.StorageUnavailable("the read failed")).status_code
        503
    """
    extra: dict[str, object] = {}
    if exc.errors:
        extra["errors"] = [{"path": e.path, "message": e.message, "code": e.code} for e in exc.errors]
    response = problem(status_of(exc), exc.detail, exc.code, extra)
    if isinstance(exc, errors.MethodNotAllowed):
        response.headers["Allow"] = ", ".join(exc.allow)
    if isinstance(exc, errors.UnsupportedEncoding):
        response.headers["Accept-Encoding"] = ", ".join(exc.accepted)  # RFC 9110 §15.5.16
    if isinstance(exc, errors.StorageUnavailable):
        response.headers["Retry-After"] = "1"
    if isinstance(exc, errors.TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthorized):
        # RFC 6750: a refused token says so; a missing one only names the scheme.
        invalid = isinstance(exc, errors.InvalidToken)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        return await server_error(request, exc)
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else _default_detail(exc.status_code)
    response = problem(exc.status_code, detail, code)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def server_error(_request: Request, exc: Exception) -> Response:
    log.error("unexpected error", exc_info=exc)
    return _internal_error()


def _internal_error() -> Response:
    return problem(500, "the server failed to answer this request; it has been logged", "internal_error")


class CatchAll:
    """Answer an unexpected exception with a problem+json 500, log it once, keep the connection.

    (Starlette's own handler for ``Exception`` re-raises after answering, so uvicorn logs it again
    and closes the keep-alive connection under the client.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            log.error("unexpected error", exc_info=error)
            if started:
                raise
            await _internal_error()(scope, receive, send)


def _default_detail(status: int) -> str:
    if status == 404:
        return "nothing is served at this path"
    if status == 405:
        return "this method is not allowed here"
    return HTTPStatus(status).description


HANDLERS = {
    errors.JsonServeError: domain_error,
    HTTPException: http_error,
}
