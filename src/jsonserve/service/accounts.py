"""Users: register, log in, refresh, who a token names, log out, change a password; the operator's commands.

``jsonserve user add|passwd`` call :meth:`Accounts.add_user` and :meth:`Accounts.set_password`.

Users are the records of ``users`` (json-server-auth's collection, so its ``db.json`` works as it
is). Their ``password`` holds the hash and ``tokenVersion`` the version every token carries:
logging out or changing the password moves it on, which revokes every earlier token (access and
refresh). With refresh tokens on, ``refreshTokens`` holds the live refresh token of each login
(:mod:`jsonserve.auth.sessions`), changed inside the storage's atomic read-modify-write so that a
refresh token is single-use across processes. These fields are hidden
(:class:`~jsonserve.service.redact.Redaction`): only this module writes them, through the storage
directly (the public write path refuses them).

Hashing runs in a worker thread (argon2id takes tens of milliseconds). A login for an unknown email
verifies against a dummy hash, and both failures raise one :class:`InvalidCredentials`; failures are
throttled per account and per client address (:class:`TooManyRequests` with the wait).

Example:
    >>> session = await accounts.register({"email": "ada@example.com", "password": "correct horse"})  # doctest: +SKIP
    >>> (await accounts.authenticate(session.access_token)).id  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from jsonserve._types import JSONValue, Record
from jsonserve.auth import sessions
from jsonserve.auth.access import USERS
from jsonserve.auth.passwords import MIN_LENGTH, Passwords
from jsonserve.auth.policy import RulePolicy
from jsonserve.auth.principal import ANONYMOUS, Guard, Principal
from jsonserve.auth.throttle import Throttle
from jsonserve.auth.tokens import Tokens
from jsonserve.errors import (
    BadRequest,
    EmailTaken,
    FieldError,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthorized,
    ValueTaken,
)
from jsonserve.query.model import Condition, Op, Query, Slice
from jsonserve.schema.kind import Kind
from jsonserve.service.core import Service
from jsonserve.storage.base import Check, Unique, no_check

__all__ = ["HIDDEN_FIELDS", "PASSWORD", "REFRESH_TOKENS", "TOKEN_VERSION", "Accounts", "Session"]

PASSWORD = "password"  # noqa: S105 - field names, not secrets
TOKEN_VERSION = "tokenVersion"  # noqa: S105
REFRESH_TOKENS = "refreshTokens"
HIDDEN_FIELDS = frozenset({PASSWORD, TOKEN_VERSION, REFRESH_TOKENS})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_EMAIL = 254
ACCOUNT_FAILURES = (5, 15 * 60.0)  # per email: 5 failures in 15 minutes
ADDRESS_FAILURES = (20, 15 * 60.0)  # per client address
WRONG = "wrong email or password"
REVOKED = "the token was revoked (logout or password change)"
Changes = Callable[[Record], Record]


@dataclass(frozen=True)
class Session:
    """What registration, login and refresh answer: the tokens and the user (never their hash)."""

    access_token: str
    user: Record
    refresh_token: str | None = None

    def payload(self) -> dict[str, JSONValue]:
        """json-server-auth's body ``{"accessToken", "user"}``, and ``refreshToken`` when refresh tokens are on."""
        refresh: dict[str, JSONValue] = {} if self.refresh_token is None else {"refreshToken": self.refresh_token}
        return {"accessToken": self.access_token, **refresh, "user": self.user}


class Accounts:
    """The users of one Service."""

    def __init__(
        self,
        service: Service,
        policy: RulePolicy,
        tokens: Tokens,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.policy = policy
        self.tokens = tokens
        self.passwords = passwords or Passwords()
        self.by_account = Throttle(*ACCOUNT_FAILURES, clock=clock)
        self.by_address = Throttle(*ADDRESS_FAILURES, clock=clock)
        self._legacy: tuple[int, bool] | None = None  # (catalogue version, whether some user has a bcrypt hash)

    # -- registration and login -----------------------------------------------------------------

    async def register(self, body: Record, principal: Principal = ANONYMOUS) -> Session:
        """``POST /register``: a new user with a hashed password; 400 for a bad or taken email or a short password."""
        return await self._open_session(await self._create(body, privileged=self.policy.is_admin(principal)))

    async def add_user(self, email: str, password: str, *, role: str | None = None) -> Record:
        """A new user, added by the operator (``jsonserve user add``): registration's checks and hash, no token.

        ``role`` sets the rules' role field (``"admin"``: the rules' admin powers). Answers the user as
        every answer shows one (no hash).

        Example:
            >>> (await accounts.add_user("root@example.com", "long enough", role="admin"))["role"]  # doctest: +SKIP
            'admin'
        """
        body: Record = {"email": email, PASSWORD: password}
        if role is not None:
            body[self.policy.rules.role_field] = role
        return self.service.redaction.record(USERS, await self._create(body, privileged=True))

    async def set_password(self, email: str, password: str) -> Record:
        """A user's new password, set by the operator (``jsonserve user passwd``); every earlier token stops working.

        The email is compared case-insensitively; :class:`NotFound` when no user has it.
        """
        _check_password(password)
        user = await self._find(email)
        if user is None:
            raise NotFound(f"no user has the email {email}")
        user = await self._new_password(_id(user, self._id_field), password)
        return self.service.redaction.record(USERS, user)

    async def login(self, body: Record, address: str) -> Session:
        """``POST /login``: a token for the right email and password; one 400 for any wrong pair; 429 when throttled."""
        email, password = body.get("email"), body.get(PASSWORD)
        if not isinstance(email, str) or not isinstance(password, str):
            raise BadRequest("send an email and a password")
        keys = (f"account:{email.lower()}", f"address:{address}")
        self._check_throttle(keys)
        user = await self._find(email)
        stored = user.get(PASSWORD) if user is not None else None
        legacy = await self._legacy_hashes()
        stored = stored if isinstance(stored, str) else None
        valid = await asyncio.to_thread(self.passwords.verify_uniform, stored, password, legacy=legacy)
        if user is None or not valid:
            self.by_account.failed(keys[0])
            self.by_address.failed(keys[1])
            raise InvalidCredentials(WRONG)
        self.by_account.reset(keys[0])
        changes: Record = {}
        if isinstance(stored, str) and self.passwords.needs_upgrade(stored):
            changes[PASSWORD] = await asyncio.to_thread(self.passwords.hash, password)
        return await self._open_session(user, changes)

    async def new_email_rule(self, email: JSONValue, user_id: str) -> Callable[[Record], None]:
        """A check, run inside a PATCH or PUT's write after the rules, that user ``user_id`` may take ``email``.

        It raises a 400 unless the email is valid and no other user's (ignoring case).

        The holder is looked up before the write: two concurrent changes to one email in different
        processes can still both pass (registration, which matters more, is checked atomically).
        """
        holder = await self._find(email) if isinstance(email, str) else None
        taken = holder is not None and _id(holder, self._id_field) != user_id

        def accept(_record: Record) -> None:
            _email({"email": email})
            if taken:
                raise EmailTaken(f"{email} is already registered")

        return accept

    # -- tokens -------------------------------------------------------------------------------

    async def access_token_for(self, user: str) -> str:
        """An access token for the user whose email (in any case) or id is ``user``, with no password asked.

        For the testing helpers (``jsonserve.token_for``), where the test is the operator. No refresh
        token is issued and nothing is written. :class:`NotFound` when no user has that email or id.
        """
        found = await self._find(user) if "@" in user else await self._get(user)
        if found is None:
            raise NotFound(f"no user has the email or id {user}")
        return self._session(found).access_token

    def forget_failures(self) -> None:
        """Forget every failed login: no account or address is throttled any more (the testing helpers' reset)."""
        self.by_account.clear()
        self.by_address.clear()

    async def authenticate(self, token: str, guard: Guard | None = None) -> Principal:
        """The caller a bearer token names: :class:`InvalidToken` when forged, expired, revoked or of a deleted user."""
        claims = self.tokens.verify(token)
        user = await self._get(claims.subject)
        if user is None:
            raise InvalidToken("the token's user no longer exists")
        if _version(user) != claims.version:
            raise InvalidToken(REVOKED)
        return Principal(claims.subject, self._roles(user), guard)

    async def refresh(self, body: Record) -> Session:
        """``POST /auth/refresh``: ``{"refreshToken"}`` -> a new pair; the presented refresh token is retired.

        A retired token presented again revokes its whole family (see :mod:`jsonserve.auth.sessions`).
        :class:`NotFound` when refresh tokens are off.
        """
        self.require_refresh_tokens()
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise BadRequest("send the refreshToken", [FieldError("refreshToken", "required", "required")])
        presented = self.tokens.verify_refresh(token)
        if self.service.kinds().get(USERS) is not Kind.PLURAL:
            raise InvalidToken("the token's user no longer exists")
        new_token, new = self.tokens.issue_refresh(presented.subject, presented.version, presented.family)
        now = self.tokens.now()
        judged = [sessions.Verdict.UNKNOWN]  # set inside the atomic section (which may run twice: a retry)

        def check(current: Record | None) -> None:
            if current is None:
                raise InvalidToken("the token's user no longer exists")
            if _version(current) != presented.version:
                raise InvalidToken(REVOKED)
            judged[0] = sessions.verdict(current.get(REFRESH_TOKENS), presented, now)
            if judged[0] in (sessions.Verdict.UNKNOWN, sessions.Verdict.RACE):
                raise InvalidToken("the refresh token was already used, or its session ended")

        def changes(current: Record) -> Record:
            state = current.get(REFRESH_TOKENS)
            if judged[0] is sessions.Verdict.REUSE:
                return {REFRESH_TOKENS: sessions.revoked(state, presented.family, now)}
            return {REFRESH_TOKENS: sessions.rotated(state, presented, new, now)}

        user = await self._write(presented.subject, changes, check)
        if judged[0] is sessions.Verdict.REUSE:
            raise InvalidToken("the refresh token was used before: its session is revoked")
        return self._session(user, new_token)

    def require_refresh_tokens(self) -> None:
        """:class:`NotFound` when refresh tokens are off (``POST /auth/refresh`` is then no endpoint)."""
        if not self.tokens.refresh_ttl:
            raise NotFound("refresh tokens are off on this server (--refresh-ttl 0)")

    async def me(self, principal: Principal) -> Record:
        """``GET /auth/me``: the signed-in user."""
        user = await self._get(_signed_in(principal))
        if user is None:
            raise InvalidToken("the token's user no longer exists")
        return self.service.redaction.record(USERS, user)

    async def logout(self, principal: Principal) -> None:
        """``POST /auth/logout``: every token issued so far stops working."""
        user_id = _signed_in(principal)
        await self._write(user_id, _revoked({}))

    async def change_password(self, principal: Principal, body: Record, address: str) -> None:
        """``POST /auth/password``: ``{"password", "newPassword"}``; every earlier token stops working."""
        user_id = _signed_in(principal)
        current, new = body.get(PASSWORD), body.get("newPassword")
        if not isinstance(current, str) or not isinstance(new, str):
            raise BadRequest("send the password and the newPassword")
        if len(new) < MIN_LENGTH:
            raise BadRequest(f"the new password must have at least {MIN_LENGTH} characters")
        keys = (f"user:{user_id}", f"address:{address}")
        self._check_throttle(keys)
        user = await self._get(user_id)
        stored = user.get(PASSWORD) if user is not None else None
        if not isinstance(stored, str) or not await asyncio.to_thread(self.passwords.verify, stored, current):
            self.by_account.failed(keys[0])
            self.by_address.failed(keys[1])
            raise InvalidCredentials("the password is wrong")
        await self._new_password(user_id, new)

    # -- internals ----------------------------------------------------------------------------

    async def _create(self, body: Record, *, privileged: bool) -> Record:
        """A new user (as stored) from ``body``; only a ``privileged`` caller may set privilege fields."""
        email, password = _email(body), _check_password(body.get(PASSWORD))
        fields = {key: value for key, value in body.items() if key not in HIDDEN_FIELDS}
        if not privileged:
            refused = sorted(self.policy.privilege_fields.intersection(fields))
            if refused:
                raise PermissionDenied(f"only an admin sets {', '.join(refused)} on a user")
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        user = self.service.prepared(USERS, {**fields, "email": email, PASSWORD: hashed, TOKEN_VERSION: 0})
        try:
            return await self._insert(user, Unique("email", email))
        except ValueTaken:
            raise EmailTaken(f"{email} is already registered") from None

    async def _new_password(self, user_id: str, password: str) -> Record:
        """Store a hash of ``password``; every earlier token (access and refresh) stops working."""
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        return await self._write(user_id, _revoked({PASSWORD: hashed}))

    @property
    def _id_field(self) -> str:
        return self.service.storage.id_field

    async def _open_session(self, user: Record, changes: Record | None = None) -> Session:
        """Log ``user`` in: with refresh tokens on, a new family is written (with ``changes``, if any)."""
        user_id, changes = _id(user, self._id_field), changes or {}
        if not self.tokens.refresh_ttl:
            return self._session(await self._write(user_id, lambda _current: changes) if changes else user)
        token, claims = self.tokens.issue_refresh(user_id, _version(user))
        now = self.tokens.now()

        def started(current: Record) -> Record:
            return {**changes, REFRESH_TOKENS: sessions.started(current.get(REFRESH_TOKENS), claims, now)}

        return self._session(await self._write(user_id, started), token)

    def _session(self, user: Record, refresh_token: str | None = None) -> Session:
        token = self.tokens.issue(_id(user, self._id_field), _text(user.get("email")), _version(user))
        return Session(token, self.service.redaction.record(USERS, user), refresh_token)

    def _roles(self, user: Record) -> frozenset[str]:
        value = user.get(self.policy.rules.role_field)
        if isinstance(value, str):
            return frozenset({value})
        if isinstance(value, list):
            return frozenset(item for item in value if isinstance(item, str))
        return frozenset()

    def _check_throttle(self, keys: tuple[str, str]) -> None:
        waits = [wait for wait in (self.by_account.retry_after(keys[0]), self.by_address.retry_after(keys[1])) if wait]
        if waits:
            raise TooManyRequests("too many failed attempts: try again later", max(waits))

    async def _find(self, email: str) -> Record | None:
        """The user with ``email``, compared case-insensitively (a contains filter narrows, Python decides)."""
        if self.service.kinds().get(USERS) is not Kind.PLURAL:
            return None
        page = await self.service.storage.find(Query(USERS, where=Condition(("email",), Op.CONTAINS, email)))
        wanted = email.lower()
        return next((user for user in page.items if (_text(user.get("email")) or "").lower() == wanted), None)

    async def _legacy_hashes(self) -> bool:
        """Whether some user still has a bcrypt hash (json-server-auth's); looked up again when the data may change."""
        version = self.service.catalogue.version
        if self._legacy is None or self._legacy[0] != version:
            found = False
            if self.service.kinds().get(USERS) is Kind.PLURAL:
                query = Query(USERS, where=Condition((PASSWORD,), Op.STARTS_WITH, "$2"), window=Slice(0, 1))
                found = bool((await self.service.storage.find(query)).items)
            self._legacy = (version, found)
        return self._legacy[1]

    async def _get(self, user_id: str) -> Record | None:
        if self.service.kinds().get(USERS) is not Kind.PLURAL:
            return None
        return await self.service.storage.get(USERS, user_id)

    async def _insert(self, record: Record, unique: Unique) -> Record:
        """Store a new user unless a user has its email (:class:`ValueTaken`), checked by the storage.

        The check runs inside the insert's own atomic section (a SQL backend's transaction), so two
        processes (``--workers``, ``jsonserve user add`` beside a server) cannot both register one email.
        """
        new_collection = self.service.kinds().get(USERS) is None
        change = await self.service.storage.create(
            USERS,
            record,
            generated_ids=self.service.options.compat == "1",
            new_collection=new_collection,
            unique=unique,
        )
        self.service.publish([change])
        return change.record or record

    async def _write(self, user_id: str, changes: Changes, check: Check = no_check) -> Record:
        """Merge ``changes(current)`` into the user, inside the storage's atomic section (after ``check``)."""

        def build(current: Record) -> Record:
            return {**current, **changes(current)}

        change = await self.service.storage.update(USERS, user_id, build, check, actor=user_id)
        self.service.publish([change])
        return change.record or {}


def _revoked(changes: Record) -> Changes:
    """``changes`` that also revoke every earlier token: the next token version, no live refresh token."""
    return lambda current: {**changes, TOKEN_VERSION: _version(current) + 1, REFRESH_TOKENS: []}


def _email(body: Record) -> str:
    email = body.get("email")
    if not isinstance(email, str) or len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise BadRequest("a valid email is required", [FieldError("email", "not a valid email", "invalid_email")])
    return email


def _check_password(password: JSONValue | None) -> str:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise BadRequest(
            f"the password must have at least {MIN_LENGTH} characters",
            [FieldError(PASSWORD, f"at least {MIN_LENGTH} characters", "weak_password")],
        )
    return password


def _signed_in(principal: Principal) -> str:
    if principal.id is None:
        raise Unauthorized("sign in first: send Authorization: Bearer <accessToken>")
    return principal.id


def _id(user: Record, id_field: str) -> str:
    return str(user.get(id_field))


def _version(user: Record) -> int:
    version = user.get(TOKEN_VERSION, 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def _text(value: JSONValue | None) -> str | None:
    return value if isinstance(value, str) else None
