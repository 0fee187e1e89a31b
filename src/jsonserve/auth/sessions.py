"""Refresh token sessions: which refresh token of each login is the live one, kept in the user record.

A login starts a *family* (its id is the first refresh token's ``jti``); each refresh retires the
presented token and makes the next one the family's live token (rotation). The state is a short
list in the user's hidden ``refreshTokens`` field, one entry per family, least recently used first:

    [{"family": "f1", "id": "j3", "previous": "j2", "rotated": 1700000000, "expires": 1701209600}]

It is read and written inside the storage's atomic read-modify-write, so a refresh token is
single-use across processes and restarts, and of two concurrent refreshes of one token only one wins.

A retired token presented again means that two parties hold the family: the refresh token was
copied. The family is revoked (refresh token rotation, RFC 9700: OAuth 2.0 Security BCP), which logs that one
session out everywhere and leaves the user's other sessions alone, except within
:data:`REUSE_GRACE` seconds of the rotation and only for the token just retired: that is two tabs
refreshing at once, and the loser is refused without ending the winner's session.

At most :data:`MAX_FAMILIES` families are kept per user: a new login drops expired entries, then the
least recently used beyond the limit (that session's refresh token stops working; its access token
lives out its short lifetime).

Example:
    >>> state = started([], Claims("7", None, 0, "j1", 2_000, "j1"), now=1_000)
    >>> verdict(state, Claims("7", None, 0, "j1", 2_000, "j1"), now=1_001)
    <Verdict.ROTATE: 'rotate'>
"""

from __future__ import annotations

import enum
from typing import cast

from jsonserve._types import JSONValue
from jsonserve.auth.tokens import Claims

__all__ = ["MAX_FAMILIES", "REUSE_GRACE", "Verdict", "revoked", "rotated", "started", "verdict"]

MAX_FAMILIES = 10
REUSE_GRACE = 10  # seconds: a retired token presented this soon after its rotation is a race, not a theft

Entry = dict[str, JSONValue]


class Verdict(enum.Enum):
    """What a presented refresh token gets."""

    ROTATE = "rotate"  # the family's live token: hand out the next one
    RACE = "race"  # the token just retired, within the grace: refuse, keep the family
    REUSE = "reuse"  # a retired token: refuse and revoke the family
    UNKNOWN = "unknown"  # no such family (revoked, evicted or expired): refuse


def verdict(state: JSONValue | None, presented: Claims, now: int) -> Verdict:
    """Judge ``presented`` (a verified refresh token) against the user's ``state``."""
    entry = _family(_entries(state), presented.family)
    if entry is None:
        return Verdict.UNKNOWN
    if entry["id"] == presented.token_id:
        return Verdict.ROTATE
    rotated_at = entry.get("rotated")
    recent = isinstance(rotated_at, int) and now - rotated_at < REUSE_GRACE
    return Verdict.RACE if recent and entry.get("previous") == presented.token_id else Verdict.REUSE


def started(state: JSONValue | None, new: Claims, now: int) -> list[JSONValue]:
    """``state`` with a new family for ``new`` (a fresh refresh token), within :data:`MAX_FAMILIES`."""
    entries = [entry for entry in _entries(state) if _live(entry, now)]
    entries.append(_entry(new, None, now))
    return _json(entries[-MAX_FAMILIES:])


def rotated(state: JSONValue | None, presented: Claims, new: Claims, now: int) -> list[JSONValue]:
    """``state`` with ``new`` as the live token of ``presented``'s family, now the most recently used."""
    entries = [entry for entry in _entries(state) if entry["family"] != presented.family and _live(entry, now)]
    entries.append(_entry(new, presented.token_id, now))
    return _json(entries[-MAX_FAMILIES:])


def revoked(state: JSONValue | None, family: str | None, now: int) -> list[JSONValue]:
    """``state`` without ``family`` (and without expired entries)."""
    return _json([entry for entry in _entries(state) if entry["family"] != family and _live(entry, now)])


def _entry(claims: Claims, previous: str | None, now: int) -> Entry:
    family = claims.family or claims.token_id
    return {"family": family, "id": claims.token_id, "previous": previous, "rotated": now, "expires": claims.expires}


def _entries(state: JSONValue | None) -> list[Entry]:
    """The well-formed entries of ``state`` (an entry edited by hand into something else is dropped)."""
    if not isinstance(state, list):
        return []
    return [
        entry
        for entry in state
        if isinstance(entry, dict) and isinstance(entry.get("family"), str) and isinstance(entry.get("id"), str)
    ]


def _family(entries: list[Entry], family: str | None) -> Entry | None:
    return next((entry for entry in entries if entry["family"] == family), None)


def _live(entry: Entry, now: int) -> bool:
    expires = entry.get("expires")
    return isinstance(expires, int) and expires > now


def _json(entries: list[Entry]) -> list[JSONValue]:
    return cast("list[JSONValue]", entries)
