"""GraphQL errors with REST's codes: every error has ``extensions.code``, a failed validation each field.

A domain error a resolver raised keeps its REST code and detail (``not_found``, ``forbidden``,
``validation_failed`` with ``extensions.errors: [{path, message, code}]``...). Errors in the
request itself (syntax, validation, variables) are ``invalid_query``; a request over a limit is
``too_complex``; anything unexpected is logged and answered as ``internal_error``, with no detail.
One exception raised for many fields (a relation's load shared by a whole level) is reported once.

Example:
    >>> formatted(GraphQLError("x", original_error=NotFound("no post 7")))["extensions"]
    {'code': 'not_found'}
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from jsonserve.errors import JsonServeError, NotFound  # noqa: F401 - NotFound: the example

log = logging.getLogger("jsonserve.gql")

INVALID_QUERY = "invalid_query"
TOO_COMPLEX = "too_complex"
INTERNAL = "internal_error"
INTERNAL_MESSAGE = "the server failed to resolve this field; it has been logged"


def coded(message: str, code: str) -> dict[str, Any]:
    """An error of the request itself (no location): ``{message, extensions: {code}}``."""
    return {"message": message, "extensions": {"code": code}}


def formatted(error: GraphQLError, default_code: str = INTERNAL) -> dict[str, Any]:
    """``error`` as the response shows it, with REST's code in ``extensions``."""
    original = error.original_error
    body: dict[str, Any] = error.formatted  # type: ignore[assignment]
    if isinstance(original, JsonServeError):
        body["message"] = original.detail
        extensions: dict[str, Any] = {"code": original.code}
        if original.errors:
            extensions["errors"] = [{"path": e.path, "message": e.message, "code": e.code} for e in original.errors]
        body["extensions"] = extensions
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error resolving %s", ".".join(map(str, error.path or ())), exc_info=original)
        body["message"] = INTERNAL_MESSAGE
        body["extensions"] = {"code": INTERNAL}
    else:
        body["extensions"] = {"code": default_code, **(body.get("extensions") or {})}
    return body


def execution_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    """The errors of an execution, formatted; one exception raised for several fields is shown once."""
    seen: set[int] = set()
    shown = []
    for error in errors:
        original = error.original_error
        if original is not None:
            if id(original) in seen:
                continue
            seen.add(id(original))
        shown.append(formatted(error))
    return shown
