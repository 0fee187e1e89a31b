"""The caller of a Service method: who they are and which roles they hold.

A transport builds one per request (today always :data:`ANONYMOUS`; the auth issue builds it from a
verified JWT) and passes it to every Service method; the Service records its ``id`` as the actor of
the changes it makes and hands it to the read rule.

Example:
    >>> Principal("7", frozenset({"admin"})).has_role("admin"), ANONYMOUS.is_anonymous
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guard:
    """A json-server-auth guard prefix on the request (``/600/notes``): ``mode`` applies to ``collection`` too."""

    collection: str
    mode: str


@dataclass(frozen=True)
class Principal:
    """An authenticated user (``id`` is their id as text) or, with no ``id``, the anonymous caller.

    ``guard`` is the request's guard prefix, if any: a rule applies its mode on top of the
    collection's own (it travels with the caller because it belongs to this request, as the caller does).
    """

    id: str | None = None
    roles: frozenset[str] = frozenset()
    guard: Guard | None = None

    def __post_init__(self) -> None:
        # An anonymous caller with roles would be a privilege no token ever granted.
        if self.id is None and self.roles:
            raise ValueError("an anonymous principal holds no roles")

    @property
    def is_anonymous(self) -> bool:
        """Whether no user is signed in."""
        return self.id is None

    def has_role(self, role: str) -> bool:
        """Whether the principal holds ``role``."""
        return role in self.roles


ANONYMOUS = Principal()
"""The caller with no identity: what every request is until an auth middleware says otherwise."""
