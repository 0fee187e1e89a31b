"""Shared OpenAPI pieces: the problem+json error body, headers, and response objects.

Example:
    >>> sorted(problem_responses(400, 404))
    ['400', '404']
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
PROBLEM = "application/problem+json"
JSON = "application/json"

PROBLEM_SCHEMA: Json = {
    "type": "object",
    "description": "An RFC 9457 problem; `code` is stable and `errors` names each failing field.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["validation_failed"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "message", "code"],
                "properties": {
                    "path": {"type": "string", "description": "JSON Pointer to the field, or the parameter name."},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

HEADERS: Json = {
    "ETag": {"description": "Strong entity tag of this representation.", "schema": {"type": "string"}},
    "Location": {"description": "URL of the created record.", "schema": {"type": "string"}},
    "X-Total-Count": {
        "description": "Records matching the filters, before paging (sent with `_page`, `_limit`, `_start`, `_end`).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Link": {"description": "0.17 paging links (first, prev, next, last).", "schema": {"type": "string"}},
    "Allow": {"description": "Methods this path supports.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}},
}

REQUEST_HEADERS: Json = {
    "IfNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "Answer 304 with no body when the representation's ETag matches.",
        "schema": {"type": "string"},
    },
}


def header(name: str, *, required: bool = False) -> Json:
    """A shared response header: a reference, or inline when required (a reference takes no ``required``)."""
    if required:
        return {**HEADERS[name], "required": True}
    return {"$ref": f"#/components/headers/{name}"}


def problem_responses(*statuses: int) -> Json:
    """Problem+json responses for ``statuses``."""
    return {str(status): {"$ref": f"#/components/responses/{PROBLEMS[status][0]}"} for status in statuses}


# Fixed names (``http.HTTPStatus`` phrases vary between Python versions: 422 was renamed).
PROBLEMS = {
    400: ("BadRequest", "Bad request: a malformed parameter or body (`errors` names each)."),
    403: ("Forbidden", "The server runs with --read-only."),
    404: ("NotFound", "No such resource or record."),
    405: ("MethodNotAllowed", "Method not allowed here (see `Allow`)."),
    409: ("Conflict", "A record with this id already exists."),
    412: ("PreconditionFailed", "`If-Match` does not match the record's current ETag."),
    413: ("PayloadTooLarge", "The body is larger than --max-body."),
    415: ("UnsupportedMediaType", "Writes take `Content-Type: application/json`."),
    422: ("ValidationFailed", "The record breaks its declared schema; `errors` names every failing field."),
    503: ("ServiceUnavailable", "The data file cannot take writes now (see `Retry-After`)."),
}


def problem_components() -> Json:
    """``components.responses`` entries for every problem status used."""
    responses: Json = {}
    for status, (name, description) in PROBLEMS.items():
        response: Json = {
            "description": description,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 405:
            response["headers"] = {"Allow": header("Allow", required=True)}
        if status == 503:
            response["headers"] = {"Retry-After": header("Retry-After")}
        responses[name] = response
    return responses


def json_response(description: str, schema: Json, headers: Json | None = None, *, example: Any = None) -> Json:
    """A JSON response whose ``ETag`` is always sent; ``example`` (unless ``None``) is what ReDoc shows of it."""
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {
        "description": description,
        "headers": {"ETag": header("ETag", required=True), **(headers or {})},
        "content": {JSON: media},
    }


NOT_MODIFIED: Json = {"description": "Not modified (`If-None-Match` matched).", "headers": {"ETag": header("ETag")}}
