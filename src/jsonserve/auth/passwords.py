"""Password hashes: argon2id for every new hash, json-server-auth's bcrypt hashes verified and upgraded.

New hashes use argon2id with OWASP's parameters (19 MiB of memory, 2 iterations, 1 lane). A bcrypt
hash (``$2a$``, ``$2b$``, ``$2y$``, as json-server-auth's ``db.json`` holds them) is verified with
bcrypt and reported as needing an upgrade, so the next successful login re-hashes it with argon2id.
A login for an unknown user still verifies a password, against :attr:`Passwords.dummy`, so that it
takes as long as a wrong password does (no user enumeration by timing).

Example:
    >>> passwords = Passwords()
    >>> stored = passwords.hash("correct horse")
    >>> passwords.verify(stored, "correct horse"), passwords.verify(stored, "wrong"), passwords.needs_upgrade(stored)
    (True, False, False)
"""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["BCRYPT_PREFIXES", "MIN_LENGTH", "Passwords"]

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
MIN_LENGTH = 8
"""The shortest password a user may choose (characters)."""

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1
LEGACY_COST = 10  # json-server-auth hashes with bcryptjs at 10 rounds


class Passwords:
    """Hash new passwords with argon2id; verify argon2id and bcrypt hashes."""

    def __init__(
        self, memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST, parallelism: int = OWASP_PARALLELISM
    ) -> None:
        self._argon2 = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Hashed once: verifying against it costs what verifying a real argon2id hash costs.
        self.dummy = self._argon2.hash("jsonserve: no such user")
        self._legacy_dummy: str | None = None

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password`` (PHC string, salt included)."""
        return self._argon2.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (argon2id or bcrypt); ``False`` for a hash of no known kind."""
        if stored.startswith(BCRYPT_PREFIXES):
            # $2y$ (PHP) and $2a$ hash the same way as $2b$ for passwords without the old 8-bit bug.
            normalized = "$2b$" + stored[4:]
            try:
                return bcrypt.checkpw(password.encode("utf-8")[:72], normalized.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                return False
        try:
            return self._argon2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """Spend the time of one verification for a user who does not exist; always ``False``."""
        self.verify(self.dummy, password)
        return False

    def verify_uniform(self, stored: str | None, password: str, *, legacy: bool) -> bool:
        """Whether ``password`` matches ``stored`` (``None``: no such user), in a time that does not tell which.

        With ``legacy`` (the store still holds bcrypt hashes, which take longer to verify than
        argon2id), every call verifies one hash of each kind, a dummy standing in for the one that is
        not the user's: an unknown email, an argon2id user and a bcrypt user then cost the same.
        """
        valid = self.verify_dummy(password) if stored is None else self.verify(stored, password)
        if legacy:
            bcrypt_user = stored is not None and stored.startswith(BCRYPT_PREFIXES)
            self.verify(self.dummy if bcrypt_user else self._bcrypt_dummy(), password)
        return valid

    def _bcrypt_dummy(self) -> str:
        """A bcrypt hash at json-server-auth's cost (10), made once, when first needed."""
        if self._legacy_dummy is None:
            self._legacy_dummy = bcrypt.hashpw(b"jsonserve: no such user", bcrypt.gensalt(LEGACY_COST)).decode("ascii")
        return self._legacy_dummy

    def needs_upgrade(self, stored: str) -> bool:
        """Whether ``stored`` should be re-hashed after a successful login (bcrypt, or weaker argon2 parameters)."""
        if stored.startswith(BCRYPT_PREFIXES):
            return True
        try:
            return self._argon2.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
