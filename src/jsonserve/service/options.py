"""What the service enforces, independent of any transport.

Example:
    >>> ServiceOptions(compat="1", read_only=True).read_only
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from jsonserve.auth.access import RuleSet


@dataclass(frozen=True)
class ServiceOptions:
    """What the service enforces, independent of any transport.

    ``timestamps`` stamps ``createdAt``/``updatedAt`` on records (clients cannot set them);
    ``auto_create`` lets a POST create a collection that does not exist yet; ``reserved`` are names
    a new collection may not take (routes of their own, such as ``docs``); ``max_page_size`` is the
    most records a page or a ``_limit`` holds (what the OpenAPI document tells clients);
    ``reveal_forbidden`` answers a read of one existing record the caller may not read with
    :class:`~jsonserve.errors.PermissionDenied` (json-server-auth's 403) instead of ``NotFound``;
    ``rules`` are the access rules under ``--auth`` (``None`` without), which the catalogue shows
    to the OpenAPI document (the policy that enforces them is built from the same :class:`RuleSet`);
    ``auth_features`` names the optional accounts endpoints that are on (``refresh``: refresh tokens,
    ``jwks``: the public key of ``--jwt-private-key``), for the same document; ``shared`` says that
    other worker processes write to the same store (``--workers``), so the realtime feed follows the
    change log for their changes.
    """

    compat: str = "0.17"
    read_only: bool = False
    fk_suffix: str = "Id"
    timestamps: bool = False
    auto_create: bool = False
    reserved: frozenset[str] = frozenset()
    max_page_size: int = 1000
    reveal_forbidden: bool = False
    rules: RuleSet | None = None
    auth_features: frozenset[str] = frozenset()
    shared: bool = False
