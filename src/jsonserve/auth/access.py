"""The rules file: who may read, create, update and delete each collection (json-server-auth's modes and a long form).

Short form, json-server-auth's modes (owner, logged-in users, everyone; 6 = read and write, 4 = read)::

    {"notes": "600", "posts": "644"}

Long form, one level per action (``write`` stands for create, update and delete; an action the long
form leaves out is ``admin``, PocketBase's "locked": only an admin may)::

    {"todos": {"read": "owner", "create": "auth", "update": "owner", "delete": "admin", "owner": "userId"}}

Levels: ``public`` (anyone), ``auth`` (any signed-in user), ``owner`` (the record's owner field, default
``userId``, is the user's id; a ``users`` record is owned by the user it describes), ``admin`` (a user
whose role field, default ``role``, is ``admin``), ``none`` (nobody, admins included). A collection the
file does not name is public (json-server's behaviour) unless ``"*"`` gives a default. The role field
can be renamed in the ``users`` entry's long form (``"role": "kind"``).

Realtime channels have rules of their own under ``channels``: a channel name pattern (``*`` matches
any run of characters, as in ``chat:*``) maps to the level needed to ``subscribe`` and to ``publish``
(``public``, ``auth``, ``admin`` or ``none``; a bare level stands for both, a level left out is
``public``). The first pattern that matches a channel decides; a channel none matches is public::

    {"channels": {"chat:*": {"subscribe": "auth", "publish": "auth"}, "admin:*": "admin"}}

Example:
    >>> rules = parse_rules({"notes": "600", "*": "644"})
    >>> rules.access("notes").read, rules.access("posts").read, rules.access("posts").update
    ('owner', 'public', 'owner')
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

import orjson

__all__ = [
    "ACTIONS",
    "CHANNEL_ACTIONS",
    "LEVELS",
    "PUBLIC",
    "USERS",
    "Access",
    "Action",
    "ChannelAccess",
    "ChannelAction",
    "Level",
    "RuleSet",
    "RulesError",
    "load_rules",
    "mode_access",
    "parse_rules",
]

Level = Literal["public", "auth", "owner", "admin", "none"]
Action = Literal["read", "create", "update", "delete"]
ChannelAction = Literal["subscribe", "publish"]
LEVELS: tuple[Level, ...] = ("public", "auth", "owner", "admin", "none")
ACTIONS: tuple[Action, ...] = ("read", "create", "update", "delete")
CHANNEL_ACTIONS: tuple[ChannelAction, ...] = ("subscribe", "publish")
CHANNEL_LEVELS: tuple[Level, ...] = ("public", "auth", "admin", "none")  # a channel has no owner
USERS = "users"
"""The collection whose records are the users (json-server-auth's)."""
DEFAULT_OWNER = "userId"
DEFAULT_ROLE = "role"
CHANNELS = "channels"  # realtime's channel rules: not a collection


class RulesError(ValueError):
    """The rules file cannot be used; ``str()`` says which entry and why."""


@dataclass(frozen=True)
class Access:
    """The level each action on one collection needs, and the field that names a record's owner."""

    read: Level = "public"
    create: Level = "public"
    update: Level = "public"
    delete: Level = "public"
    owner: str = DEFAULT_OWNER

    def level(self, action: Action) -> Level:
        """The level ``action`` needs."""
        return cast("Level", getattr(self, action))

    @property
    def owned(self) -> bool:
        """Whether some action needs the owner: then only an admin may change a record's owner field."""
        return "owner" in (self.read, self.create, self.update, self.delete)


PUBLIC = Access()


@dataclass(frozen=True)
class ChannelAccess:
    """The levels that subscribing to and publishing on the channels matching ``pattern`` need."""

    pattern: str
    subscribe: Level = "public"
    publish: Level = "public"

    def level(self, action: ChannelAction) -> Level:
        """The level ``action`` needs."""
        return self.subscribe if action == "subscribe" else self.publish

    def matches(self, channel: str) -> bool:
        """Whether ``channel`` matches the pattern (``*`` is any run of characters)."""
        return fnmatch.fnmatchcase(channel, self.pattern)


@dataclass(frozen=True)
class RuleSet:
    """The parsed rules file: one :class:`Access` per named collection, a default, the role field, channel rules."""

    collections: Mapping[str, Access] = field(default_factory=dict)
    default: Access = PUBLIC
    role_field: str = DEFAULT_ROLE
    channels: tuple[ChannelAccess, ...] = ()

    def access(self, collection: str) -> Access:
        """What ``collection`` allows (the default for a collection the file does not name).

        ``users`` unnamed takes the default too, except that only its owner (the user) or an admin
        updates or deletes a user: a public write there would let anyone take over an account.
        """
        named = self.collections.get(collection)
        if named is not None:
            return named
        if collection == USERS:
            return replace(
                self.default,
                update=_stricter(self.default.update, "owner"),
                delete=_stricter(self.default.delete, "owner"),
            )
        return self.default

    def with_guards(self, targets: Iterable[str]) -> RuleSet:
        """These rules plus, for each collection they do not name, the mode of the guard prefixes guarding it.

        A json-server-auth project often has no rules but a ``routes.json`` whose targets carry guard
        prefixes (``"/notes*": "/600/notes$1"``). The prefix protects only the paths it rewrites;
        ``/db``, ``_embed`` or ``/notes`` itself would still show the rows. So a collection the rules do
        not name gets its guards' mode as its own rule, the strictest per action when several guard it.

        Example:
            >>> parse_rules({}).with_guards(["/600/notes$1", "/notes"]).access("notes").read
            'owner'
        """
        guarded: dict[str, Access] = {}
        for target in targets:
            match = GUARD_TARGET.match(target)
            if match is None or match.group(2) in self.collections:
                continue
            mode, collection = match.groups()
            access = mode_access(mode)
            known = guarded.get(collection)
            guarded[collection] = access if known is None else _strictest(known, access)
        return replace(self, collections={**self.collections, **guarded}) if guarded else self

    def channel(self, channel: str) -> ChannelAccess:
        """What ``channel`` allows: the first matching pattern's levels, else public.

        Example:
            >>> parse_rules({"channels": {"chat:*": "auth"}}).channel("chat:lobby").publish
            'auth'
        """
        return next((access for access in self.channels if access.matches(channel)), ChannelAccess(channel))


STRICTNESS: tuple[Level, ...] = ("public", "auth", "owner", "admin", "none")
GUARD_TARGET = re.compile(r"^/([0246]{3})/([^/?#$*]+)")
"""A rewrite target with a guard prefix (``/600/notes$1``): its mode and collection."""


def _stricter(first: Level, second: Level) -> Level:
    """The stricter of two levels (``public`` < ``auth`` < ``owner`` < ``admin`` < ``none``)."""
    return max(first, second, key=STRICTNESS.index)


def _strictest(first: Access, second: Access) -> Access:
    return replace(first, **{action: _stricter(first.level(action), second.level(action)) for action in ACTIONS})


def mode_access(mode: str, owner: str = DEFAULT_OWNER) -> Access:
    """A json-server-auth mode (``"644"``: owner, logged-in users, everyone; 4 reads, 2 writes) as an :class:`Access`.

    Example:
        >>> mode_access("640")
        Access(read='auth', create='owner', update='owner', delete='owner', owner='userId')
    """
    if len(mode) != 3 or not all(digit in "0246" for digit in mode):
        raise RulesError(f"{mode!r} is not a mode: three digits of 0, 2, 4 or 6, such as 600, 644 or 664")
    owner_bits, user_bits, public_bits = (int(digit) for digit in mode)
    read = _widest(owner_bits, user_bits, public_bits, 4)
    write = _widest(owner_bits, user_bits, public_bits, 2)
    return Access(read, write, write, write, owner)


def _widest(owner_bits: int, user_bits: int, public_bits: int, bit: int) -> Level:
    if public_bits & bit:
        return "public"
    if user_bits & bit:
        return "auth"
    return "owner" if owner_bits & bit else "none"


def parse_rules(data: object) -> RuleSet:
    """The :class:`RuleSet` of a rules file's JSON value; :class:`RulesError` for anything unusable."""
    if not isinstance(data, dict):
        raise RulesError("the rules file must hold a JSON object mapping collections to rules")
    collections: dict[str, Access] = {}
    role_field = DEFAULT_ROLE
    for name, value in data.items():
        if name == CHANNELS:
            continue
        collections[name] = _entry(name, value)
        if name == USERS and isinstance(value, dict) and "role" in value:
            role_field = _field_name(name, "role", value["role"])
    default = collections.pop("*", PUBLIC)
    return RuleSet(collections, default, role_field, _channels(data.get(CHANNELS, {})))


def _channels(value: object) -> tuple[ChannelAccess, ...]:
    if not isinstance(value, dict):
        raise RulesError('"channels" must be an object mapping channel patterns to rules')
    return tuple(_channel(pattern, rules) for pattern, rules in value.items())


def _channel(pattern: str, value: object) -> ChannelAccess:
    where = f"channels {pattern!r}"
    if not pattern:
        raise RulesError("channels: a pattern must not be empty")
    if isinstance(value, str):
        level = _channel_level(where, "the level", value)
        return ChannelAccess(pattern, level, level)
    if not isinstance(value, dict):
        raise RulesError(f'rules for {where} must be a level such as "auth" or an object with subscribe and publish')
    unknown = set(value) - set(CHANNEL_ACTIONS)
    if unknown:
        raise RulesError(f"rules for {where}: unknown keys {sorted(unknown)}; use subscribe and publish")
    levels = {action: _channel_level(where, action, value[action]) for action in CHANNEL_ACTIONS if action in value}
    return ChannelAccess(pattern, levels.get("subscribe", "public"), levels.get("publish", "public"))


def _channel_level(where: str, what: str, value: object) -> Level:
    for level in CHANNEL_LEVELS:
        if value == level:
            return level
    raise RulesError(f"rules for {where}: {what} must be one of {', '.join(CHANNEL_LEVELS)}, not {value!r}")


def load_rules(path: Path) -> RuleSet:
    """The rules in the file at ``path``."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as error:
        raise RulesError(f"cannot read the rules file {path}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise RulesError(f"the rules file {path} is not JSON: {error}") from None
    return parse_rules(data)


def _entry(name: str, value: object) -> Access:
    if isinstance(value, str):
        try:
            return mode_access(value)
        except RulesError as error:
            raise RulesError(f"rules for {name!r}: {error}") from None
    if not isinstance(value, dict):
        raise RulesError(f'rules for {name!r} must be a mode such as "644" or an object of actions')
    unknown = set(value) - {*ACTIONS, "write", "owner", "role"}
    if unknown:
        raise RulesError(f"rules for {name!r}: unknown keys {sorted(unknown)}; use read, create, update, delete, "
                         "write and owner")  # fmt: skip
    levels = {action: _level(name, action, value[action]) for action in (*ACTIONS, "write") if action in value}
    write = levels.pop("write", "admin")
    access = Access(
        read=levels.get("read", "admin"),
        create=levels.get("create", write),
        update=levels.get("update", write),
        delete=levels.get("delete", write),
    )
    return replace(access, owner=_field_name(name, "owner", value["owner"])) if "owner" in value else access


def _level(name: str, action: str, value: object) -> Level:
    for level in LEVELS:
        if value == level:
            return level
    raise RulesError(f"rules for {name!r}: {action} must be one of {', '.join(LEVELS)}, not {value!r}")


def _field_name(name: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RulesError(f"rules for {name!r}: {key} must name a field")
    return value
