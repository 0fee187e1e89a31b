"""Access tokens: JWTs signed with one key, verified against an allow-list of algorithms.

A token carries ``sub`` (the user's id as text), ``email``, ``iat``, ``exp``, ``iss``, ``jti`` and
``ver``, the user's token version when it was issued: logging out or changing the password moves
the version on, and every token issued before stops working (checked by the caller, who knows the
user's current version). Verification refuses any algorithm outside the allow-list (``none``, and
RS256 presented with our HMAC key: algorithm confusion), a bad signature, a missing claim, an
expired token or one not valid yet (``nbf``), with no leeway; the clock is injected.

Example:
    >>> tokens = Tokens(b"k" * 32, clock=lambda: 1_000_000.0)
    >>> tokens.verify(tokens.issue("7", "ada@example.com", 0)).subject
    '7'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from jsonserve.errors import InvalidToken

__all__ = ["ALGORITHMS", "DEFAULT_TTL", "ISSUER", "REQUIRED_CLAIMS", "Claims", "Tokens"]

ALGORITHMS = ("HS256",)
"""The algorithms a token may be signed with (an HMAC key signs and verifies only these)."""
DEFAULT_TTL = 3600
ISSUER = "jsonserve"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss")


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whose it is, the token version it was issued under, its id and expiry."""

    subject: str
    email: str | None
    version: int
    token_id: str
    expires: int


class Tokens:
    """Issue and verify access tokens with one HMAC key (at least 32 bytes)."""

    def __init__(
        self,
        key: bytes,
        *,
        ttl: int = DEFAULT_TTL,
        issuer: str = ISSUER,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._key = key
        self.ttl = ttl
        self._issuer = issuer
        self._clock = clock
        self._new_id = new_id

    def issue(self, subject: str, email: str | None, version: int) -> str:
        """A signed token for the user ``subject``, valid for ``ttl`` seconds from now."""
        now = int(self._clock())
        claims = {
            "sub": subject,
            "email": email,
            "iat": now,
            "exp": now + self.ttl,
            "iss": self._issuer,
            "jti": self._new_id(),
            "ver": version,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHMS[0])

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; :class:`InvalidToken` (why, in a few words) for any other."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=list(ALGORITHMS),
                issuer=self._issuer,
                # Times are checked below against the injected clock, with no leeway.
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )  # fmt: skip
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the token is not valid: {error}") from None
        return self._checked(claims)

    def _checked(self, claims: dict[str, Any]) -> Claims:
        now = self._clock()
        exp, nbf, iat = claims["exp"], claims.get("nbf", 0), claims["iat"]
        if not (_is_number(exp) and _is_number(nbf) and _is_number(iat)):
            raise InvalidToken("the token's times are not numbers")
        if exp <= now:
            raise InvalidToken("the token has expired")
        if nbf > now or iat > now:
            raise InvalidToken("the token is not valid yet")
        subject, version, token_id, email = claims["sub"], claims.get("ver", 0), claims["jti"], claims.get("email")
        if not isinstance(subject, str) or not subject or not _is_int(version) or not isinstance(token_id, str):
            raise InvalidToken("the token's claims are malformed")
        return Claims(subject, email if isinstance(email, str) else None, version, token_id, int(exp))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
