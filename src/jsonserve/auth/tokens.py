"""Access and refresh tokens: JWTs signed with one key, verified against an allow-list of one algorithm.

Every token carries ``sub`` (the user's id as text), ``iat``, ``exp``, ``iss``, ``jti``, ``typ``
(``access`` or ``refresh``) and ``ver``, the user's token version when it was issued: logging out or
changing the password moves the version on, and every token issued before stops working (checked
by the caller, who knows the user's current version). An access token also carries ``email``; a
refresh token ``fam``, the login session it belongs to (each refresh hands out the next token of
the same family, see :mod:`jsonserve.auth.sessions`). A refresh token is never accepted where an
access token is expected, nor the other way round.

The key is an HMAC secret (HS256) or a private key (RS256, EdDSA; :class:`~jsonserve.auth.keys.SigningKey`),
and the allow-list is exactly its algorithm: ``none``, another HMAC size, and HS256 signed with an
RSA public key as the secret (algorithm confusion) are all refused. So are a bad signature, a
missing claim, an expired token and one not valid yet (``nbf``), with no leeway; the clock is injected.

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

from jsonserve.auth.keys import SigningKey
from jsonserve.errors import InvalidToken

__all__ = ["ACCESS", "DEFAULT_TTL", "ISSUER", "REFRESH", "REQUIRED_CLAIMS", "Claims", "Tokens"]

DEFAULT_TTL = 3600
ISSUER = "jsonserve"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss", "typ")


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whose it is, the token version it was issued under, its id and expiry.

    ``family`` is the login session of a refresh token (``None`` for an access token).
    """

    subject: str
    email: str | None
    version: int
    token_id: str
    expires: int
    family: str | None = None


class Tokens:
    """Issue and verify tokens with one key: an HMAC secret (at least 32 bytes) or a :class:`SigningKey`.

    ``refresh_ttl`` is a refresh token's lifetime in seconds; 0 turns refresh tokens off.
    """

    def __init__(
        self,
        key: bytes | SigningKey,
        *,
        ttl: int = DEFAULT_TTL,
        refresh_ttl: int = 0,
        issuer: str = ISSUER,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.key = key if isinstance(key, SigningKey) else SigningKey.hmac(key)
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl
        self._issuer = issuer
        self._clock = clock
        self._new_id = new_id

    def now(self) -> int:
        """The injected clock's time, in whole seconds."""
        return int(self._clock())

    def issue(self, subject: str, email: str | None, version: int) -> str:
        """A signed access token for the user ``subject``, valid for ``ttl`` seconds from now."""
        claims = {"sub": subject, "email": email, "ver": version, "typ": ACCESS, "jti": self._new_id()}
        return self._sign(claims, self.ttl, self.now())

    def issue_refresh(self, subject: str, version: int, family: str | None = None) -> tuple[str, Claims]:
        """A refresh token (the first of a new family when ``family`` is ``None``) and its claims."""
        token_id, now = self._new_id(), self.now()
        family = family or token_id
        claims = {"sub": subject, "ver": version, "typ": REFRESH, "fam": family, "jti": token_id}
        token = self._sign(claims, self.refresh_ttl, now)
        return token, Claims(subject, None, version, token_id, now + self.refresh_ttl, family)

    def verify(self, token: str) -> Claims:
        """The claims of a valid access token; :class:`InvalidToken` (why, in a few words) for any other."""
        return self._checked(self._decoded(token), ACCESS)

    def verify_refresh(self, token: str) -> Claims:
        """The claims of a valid refresh token; :class:`InvalidToken` for any other (an access token too)."""
        return self._checked(self._decoded(token), REFRESH)

    def _sign(self, claims: dict[str, Any], ttl: int, now: int) -> str:
        import jwt  # here, not at the top: it imports ``cryptography``, a large part of a start-up without --auth

        payload = {**claims, "iat": now, "exp": now + ttl, "iss": self._issuer}
        headers = {"kid": self.key.key_id} if self.key.key_id else None
        return jwt.encode(payload, self.key.private, algorithm=self.key.algorithm, headers=headers)

    def _decoded(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public,
                algorithms=[self.key.algorithm],
                issuer=self._issuer,
                # Times are checked below against the injected clock, with no leeway.
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )  # fmt: skip
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the token is not valid: {error}") from None
        return claims

    def _checked(self, claims: dict[str, Any], kind: str) -> Claims:
        if claims["typ"] != kind:
            raise InvalidToken(f"an {ACCESS} token is needed here" if kind == ACCESS else "send a refresh token")
        now = self._clock()
        exp, nbf, iat = claims["exp"], claims.get("nbf", 0), claims["iat"]
        if not (_is_number(exp) and _is_number(nbf) and _is_number(iat)):
            raise InvalidToken("the token's times are not numbers")
        if exp <= now:
            raise InvalidToken("the token has expired")
        if nbf > now or iat > now:
            raise InvalidToken("the token is not valid yet")
        subject, version, token_id, email = claims["sub"], claims.get("ver", 0), claims["jti"], claims.get("email")
        family = claims.get("fam") if kind == REFRESH else None
        if not isinstance(subject, str) or not subject or not _is_int(version) or not isinstance(token_id, str):
            raise InvalidToken("the token's claims are malformed")
        if kind == REFRESH and not (isinstance(family, str) and family):
            raise InvalidToken("the refresh token names no session")
        return Claims(subject, email if isinstance(email, str) else None, version, token_id, int(exp), family)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
