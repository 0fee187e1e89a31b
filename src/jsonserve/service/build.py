"""Settings -> a ready (not yet opened) Service: the one place that reads Settings for the data side.

Example:
    >>> service = build_service(Settings())  # the in-memory demo data
    >>> type(service.storage).__name__
    'MemoryStorage'
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonserve.auth.access import USERS, load_rules, parse_rules
from jsonserve.auth.keys import SigningKey, key_file_beside, private_key, signing_key
from jsonserve.auth.policy import RulePolicy
from jsonserve.auth.tokens import Tokens
from jsonserve.config import Settings
from jsonserve.demo import STARTER, demo_data
from jsonserve.realtime.brokers import hub_backend
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import load_schemas
from jsonserve.service.accounts import HIDDEN_FIELDS, Accounts
from jsonserve.service.core import Service
from jsonserve.service.options import ServiceOptions
from jsonserve.service.redact import Redaction
from jsonserve.storage.base import Storage
from jsonserve.storage.registry import backend_name, load_backend, local_path

# Paths with routes of their own: a POST there never creates a collection (``--auto-create``).
RESERVED_NAMES = frozenset({"db", "docs", "redoc", "graphql", "realtime", "_"})  # "_": the data browser
AUTH_NAMES = frozenset({"auth", "register", "signup", "login", "signin"})
KEY_FILE = ".jsonserve.jwt-secret"  # the generated key of a PostgreSQL source, in the working directory


def build_storage(settings: Settings) -> Storage:
    """The storage backend the source names (imported only when chosen)."""
    name = backend_name(settings.source)
    cls: Any = load_backend(name)
    if name == "memory":
        return cls(demo_data(), id_field=settings.id_field)  # type: ignore[no-any-return]
    if name == "json":
        path = Path(str(settings.source))
        return cls(path, watch=settings.watching, id_field=settings.id_field, seed=STARTER)  # type: ignore[no-any-return]
    # A new, empty database starts with the sample data, as a missing JSON file does.
    return cls(settings.source, id_field=settings.id_field, seed=STARTER, indexes=settings.indexes)  # type: ignore[no-any-return]


def build_service(settings: Settings, storage: Storage | None = None, hub: Hub | None = None) -> Service:
    """A Service over ``storage`` (or the one ``settings.source`` names), publishing to ``hub`` (or a fresh one).

    Raises :class:`SchemaFileError` when ``--schema`` names a file that cannot be used, and with
    ``--auth`` :class:`RulesError` (the rules file) or :class:`WeakKey` (the signing key or private key).
    """
    options = ServiceOptions(
        compat=settings.compat,
        read_only=settings.read_only,
        fk_suffix=settings.fk_suffix,
        timestamps=settings.timestamps,
        auto_create=settings.auto_create,
        reserved=RESERVED_NAMES | (AUTH_NAMES if settings.auth else frozenset()),
        max_page_size=settings.max_page_size,
        reveal_forbidden=settings.auth and not settings.hide_forbidden,
        shared=settings.workers > 1,
    )
    schemas = load_schemas(settings.schema_file) if settings.schema_file else {}
    storage = storage or build_storage(settings)
    hub = hub or Hub(backend=hub_backend(settings.redis_url, storage))
    if not settings.auth:
        return Service(storage, hub, options, schemas)
    rules = load_rules(settings.rules_file) if settings.rules_file else parse_rules({})
    policy = RulePolicy(rules.with_guards(settings.routes.values()), id_field=settings.id_field)
    redaction = Redaction({USERS: HIDDEN_FIELDS})
    features = frozenset({"refresh"} if settings.refresh_ttl else ()) | frozenset(
        {"jwks"} if settings.jwt_private_key is not None else ()
    )
    options = replace(options, rules=policy.rules, auth_features=features)  # what the catalogue shows /openapi.json
    service = Service(
        storage,
        hub,
        options,
        schemas,
        read_rule=policy,
        write_rule=policy,
        redaction=redaction,
        channel_rule=policy,
    )
    tokens = Tokens(token_key(settings), ttl=settings.token_ttl, refresh_ttl=settings.refresh_ttl)
    service.accounts = Accounts(service, policy, tokens)
    return service


def token_key(settings: Settings) -> SigningKey | bytes:
    """The private key of ``--jwt-private-key`` when given, else the HMAC secret (see :func:`signing_key`)."""
    if settings.jwt_private_key is not None:
        return private_key(settings.jwt_private_key)
    return signing_key(os.environ, settings.jwt_secret_file, generated_key_file(settings))


def generated_key_file(settings: Settings) -> Path | None:
    """Where a generated signing key is kept (``None`` for the demo data: its key lives in memory, as its data)."""
    if settings.source is None:
        return None
    path = local_path(settings.source)
    return key_file_beside(path) if path is not None else Path(KEY_FILE)
