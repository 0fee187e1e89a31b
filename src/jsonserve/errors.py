"""The domain error hierarchy.

Every error carries a stable ``code`` (the same string appears in REST problem bodies, and later in
GraphQL ``extensions.code`` and WebSocket error frames). No HTTP status lives here: the web layer
maps classes to statuses in one table.

Example:
    >>> raise NotFound("no post with id 7")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BackendUnavailable",
    "BadRequest",
    "BodyError",
    "BrokerUnavailable",
    "Conflict",
    "EmailTaken",
    "FieldError",
    "InvalidCredentials",
    "InvalidId",
    "InvalidMessage",
    "InvalidToken",
    "JsonServeError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "QueryError",
    "ReadOnly",
    "ResyncRequired",
    "StorageCorrupt",
    "StorageLocked",
    "StorageUnavailable",
    "TooManyRequests",
    "TooManySubscriptions",
    "Unauthorized",
    "UnknownCollection",
    "UnsupportedMediaType",
    "ValidationFailed",
    "ValueTaken",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one part of the input (a query parameter or a body path)."""

    path: str
    message: str
    code: str


class JsonServeError(Exception):
    """Base class of every error a client can cause."""

    code = "error"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)


class NotFound(JsonServeError):
    """The resource or record does not exist."""

    code = "not_found"


class UnknownCollection(NotFound):
    """A realtime subscription names a resource the store does not serve."""

    code = "unknown_collection"


class BadRequest(JsonServeError):
    """The request is malformed."""

    code = "bad_request"


class QueryError(BadRequest):
    """A query parameter is unknown or malformed."""

    code = "invalid_query"


class BodyError(BadRequest):
    """The request body is not acceptable JSON."""

    code = "invalid_body"


class InvalidMessage(BadRequest):
    """A realtime message that is not JSON, not an object, too large, or not one the protocol knows."""

    code = "invalid_message"


class TooManySubscriptions(BadRequest):
    """A realtime connection (or an SSE request) asks for more subscriptions than one may hold."""

    code = "too_many_subscriptions"


class InvalidId(BadRequest):
    """A client-supplied id is not an integer or a short string."""

    code = "invalid_id"


class ValidationFailed(JsonServeError):
    """A write breaks the collection's declared schema; ``errors`` names every failing field."""

    code = "validation_failed"


class Conflict(JsonServeError):
    """The write collides with existing data (for example a duplicate id)."""

    code = "conflict"


class ValueTaken(Conflict):
    """A create would give a second record the value of a field that must be unique (``Storage.create(unique=)``)."""

    code = "value_taken"


class PreconditionFailed(JsonServeError):
    """An ``If-Match`` precondition does not hold."""

    code = "precondition_failed"


class MethodNotAllowed(JsonServeError):
    """The method is not supported on this route."""

    code = "method_not_allowed"

    def __init__(self, detail: str, allow: Sequence[str]) -> None:
        super().__init__(detail)
        self.allow = tuple(allow)


class ReadOnly(JsonServeError):
    """The server runs with ``--read-only``."""

    code = "read_only"


class PayloadTooLarge(JsonServeError):
    """The body is larger than the configured limit."""

    code = "payload_too_large"


class UnsupportedMediaType(JsonServeError):
    """A write whose body is not ``application/json``."""

    code = "unsupported_media_type"


class UnsupportedEncoding(UnsupportedMediaType):
    """A body whose ``Content-Encoding`` the server cannot decode; ``accepted`` lists the codings it can."""

    code = "unsupported_encoding"

    def __init__(self, detail: str, accepted: Sequence[str]) -> None:
        super().__init__(detail)
        self.accepted = tuple(accepted)


class StorageUnavailable(JsonServeError):
    """The storage cannot accept writes now (I/O failure, damaged external edit)."""

    code = "storage_unavailable"


class StorageCorrupt(Exception):
    """A data file cannot be loaded or a database reached; the server refuses to start (never a client error)."""


class StorageLocked(Exception):
    """Another process already serves this data file."""


class BackendUnavailable(Exception):
    """The chosen backend needs an optional dependency that is not installed."""


class BrokerUnavailable(Exception):
    """The realtime message broker (``--redis``) cannot be reached as the server starts: it refuses to start."""


class ResyncRequired(JsonServeError):
    """A reader asked for changes after a ``seq`` the change log no longer keeps: re-read, then resume at ``latest``."""

    code = "resync_required"

    def __init__(self, detail: str, latest: int) -> None:
        super().__init__(detail)
        self.latest = latest


class Unauthorized(JsonServeError):
    """The request needs a signed-in user and carries no token (``--auth``)."""

    code = "unauthorized"


class InvalidToken(Unauthorized):
    """The request's token is forged, expired, revoked or malformed."""

    code = "invalid_token"


class PermissionDenied(JsonServeError):
    """The signed-in user may not do this (a rule, the owner field, a privilege field)."""

    code = "forbidden"


class EmailTaken(BadRequest):
    """Registration with an email another user has (compared case-insensitively)."""

    code = "email_taken"


class InvalidCredentials(BadRequest):
    """A login with an unknown email or a wrong password: one error for both, on purpose."""

    code = "invalid_credentials"


class TooManyRequests(JsonServeError):
    """Too many failed attempts (login throttling); ``retry_after`` is in whole seconds."""

    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
