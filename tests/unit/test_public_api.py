"""The public surface: what each package exports, that every name resolves and is documented.

The expected ``__all__`` of each package is written out here, so that a change of the public surface
is a deliberate edit of this table (and of its docs), never a side effect.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = {
    "jsonserve": ["__version__"],
    "jsonserve.auth": ["ANONYMOUS", "AllowAll", "ChannelRule", "Guard", "Principal", "ReadRule", "WriteRule"],
    "jsonserve.errors": [
        "BackendUnavailable", "BadRequest", "BodyError", "BrokerUnavailable", "Conflict", "EmailTaken", "FieldError",
        "InvalidCredentials",
        "InvalidId", "InvalidMessage", "InvalidToken", "JsonServeError", "MethodNotAllowed", "NotFound",
        "PayloadTooLarge", "PermissionDenied", "PreconditionFailed", "QueryError", "ReadOnly", "ResyncRequired",
        "StorageCorrupt", "StorageLocked", "StorageUnavailable", "TooManyRequests", "TooManySubscriptions",
        "Unauthorized", "UnknownCollection", "UnsupportedMediaType", "ValidationFailed", "ValueTaken",
    ],
    "jsonserve.gql": ["GraphQL", "GraphQLLimits", "GraphQLOptions", "Outcome", "Prepared"],
    "jsonserve.openapi": ["Documents", "build_document"],
    "jsonserve.query": [
        "AllOf", "AnyOf", "Condition", "Node", "Not", "Op", "Page", "PageRequest", "ParseOptions", "Query", "Slice",
        "SortKey", "TextSearch", "WhereOptions", "matches", "parse_dependents", "parse_params", "parse_where", "run",
    ],
    "jsonserve.realtime": [
        "Change", "ChangeFeed", "Context", "Gate", "Hub", "HubBackend", "Limits", "MemoryHubBackend", "Session",
        "Subscription",
    ],
    "jsonserve.schema": ["Kind", "Relations"],
    "jsonserve.ratelimit": ["Decision", "Policy", "RateLimitError", "RateLimiter", "client_key", "parse_policies"],
    "jsonserve.server": [
        "CannotStart", "HttpServer", "LoopThread", "OnReady", "Ready", "Reply", "configure_logging", "one_shot",
        "open_service", "run", "run_coroutine", "serve_http",
    ],
    "jsonserve.service": [
        "Catalogue", "Listing", "Service", "ServiceOptions", "build_service", "build_storage", "etag_for",
        "etag_matches", "parse_body", "record_etag", "render",
    ],
    "jsonserve.storage": ["Change", "ChangeLog", "Dependent", "MemoryStorage", "Retention", "Storage", "Unique"],
    "jsonserve.testing": ["BACKENDS", "DEFAULTS", "Fault", "JsonServer", "RecordedRequest", "serve"],
    "jsonserve.web": ["create_app"],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_each_package_exports_exactly_its_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_public_name_resolves_and_classes_and_functions_are_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no docstring"
    for name in module.__all__:
        value = getattr(module, name)  # AttributeError: __all__ names something that is not there
        if inspect.isclass(value) or inspect.isfunction(value):
            own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            assert (own or "").strip(), f"{module_name}.{name} has no docstring of its own"
