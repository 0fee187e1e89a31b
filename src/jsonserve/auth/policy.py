"""The rules file as the Service's read and write rules (``--auth``).

Reads are filters: ``owner`` becomes ``owner field == caller``, a level the caller does not reach a
filter that matches nothing, and a caller who must sign in first gets
:class:`~jsonserve.errors.Unauthorized` (the Service turns it into a 401 for the request's own
collection, and into "nothing" for joins, ``/db`` and counts). Writes are checked on the record:
the owner field is set to the caller on create and never moved by a non-admin; in ``users``, the
fields that grant privilege are set by admins only. Admins pass every level but ``none``. A guard
prefix (``/600/notes``) applies its mode on top of the collection's own rules.

Example:
    >>> policy = RulePolicy(parse_rules({"notes": "600"}))
    >>> policy(Principal("7"), "notes")
    Condition(path=('userId',), op=<Op.EQ: 'eq'>, value='7')
"""

from __future__ import annotations

from jsonserve._types import JSONValue, Record
from jsonserve.auth.access import USERS, Access, Action, ChannelAction, Level, RuleSet, mode_access, parse_rules
from jsonserve.auth.principal import Principal
from jsonserve.errors import PermissionDenied, Unauthorized
from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Op

__all__ = ["ADMIN", "NOTHING", "PRIVILEGE_FIELDS", "RulePolicy"]

ADMIN = "admin"
NOTHING: Node = AnyOf(())
"""A filter no record matches."""
PRIVILEGE_FIELDS = frozenset({"role", "roles", "isAdmin", "admin"})
"""Fields of a user record that grant privilege (with the rules' role field): only an admin sets them."""


class RulePolicy:
    """A :class:`ReadRule` and :class:`WriteRule` from a :class:`RuleSet`."""

    def __init__(self, rules: RuleSet | None = None, *, id_field: str = "id") -> None:
        self.rules = rules or parse_rules({})
        self.id_field = id_field
        self.privilege_fields = PRIVILEGE_FIELDS | {self.rules.role_field}

    # -- reads ---------------------------------------------------------------------------------

    def __call__(self, principal: Principal, collection: str) -> Node | None:
        """The filter of what ``principal`` may read of ``collection`` (``None``: everything)."""
        filters = [self._read_filter(principal, collection, access) for access in self._accesses(principal, collection)]
        present = [node for node in filters if node is not None]
        if not present:
            return None
        return present[0] if len(present) == 1 else AllOf(tuple(present))

    def _read_filter(self, principal: Principal, collection: str, access: Access) -> Node | None:
        level = access.read
        if level == "none":
            return NOTHING
        if level == "public":
            return None
        if principal.id is None:
            raise Unauthorized(f"sign in to read {collection}: send Authorization: Bearer <accessToken>")
        if self.is_admin(principal) or level == "auth":
            return None
        if level == "owner":
            return Condition((self._owner_field(collection, access),), Op.EQ, principal.id)
        return NOTHING  # admin only, and the caller is not one

    # -- writes --------------------------------------------------------------------------------

    def create(self, principal: Principal, collection: str, record: Record) -> Record:
        """``record`` with its owner field set to the caller where the rules ask; 401/403 when not allowed."""
        record = dict(record)
        for access in self._accesses(principal, collection):
            self._require(principal, access.level("create"), collection, "create")
            if access.create == "owner" and collection != USERS:
                record = self._owned_by_caller(principal, access.owner, record)
        self._check_privileges(principal, collection, {}, record)
        return record

    def update(self, principal: Principal, collection: str, current: Record, new: Record) -> Record:
        """``new``, if ``principal`` may replace ``current`` with it (the owner field kept when left out)."""
        new = dict(new)
        for access in self._accesses(principal, collection):
            self._require_on(principal, access, "update", collection, current)
            field = self._owner_field(collection, access)
            if access.owned and field not in new and field in current:
                new[field] = current[field]
            if access.owned and not self.is_admin(principal) and _text(new.get(field)) != _text(current.get(field)):
                raise PermissionDenied(f"only an admin changes the owner ({field}) of a {collection} record")
        self._check_privileges(principal, collection, current, new)
        return new

    def delete(self, principal: Principal, collection: str, current: Record) -> None:
        """Return if ``principal`` may delete ``current``; 401/403 otherwise."""
        for access in self._accesses(principal, collection):
            self._require_on(principal, access, "delete", collection, current)

    # -- channels (realtime) ---------------------------------------------------------------------

    def channel(self, principal: Principal, channel: str, action: ChannelAction) -> None:
        """Return if ``principal`` may ``subscribe`` to or ``publish`` on ``channel``; 401/403 otherwise."""
        verb = "subscribe to" if action == "subscribe" else "publish on"
        self._require_level(principal, self.rules.channel(channel).level(action), f"{verb} channel {channel}")

    def is_admin(self, principal: Principal) -> bool:
        """Whether ``principal`` holds the admin role."""
        return principal.has_role(ADMIN)

    # -- internals -----------------------------------------------------------------------------

    def _accesses(self, principal: Principal, collection: str) -> list[Access]:
        access = self.rules.access(collection)
        guard = principal.guard
        if guard is None or guard.collection != collection:
            return [access]
        return [access, mode_access(guard.mode, access.owner)]

    def _owner_field(self, collection: str, access: Access) -> str:
        return self.id_field if collection == USERS else access.owner

    def _require(self, principal: Principal, level: Level, collection: str, action: Action) -> None:
        self._require_level(principal, level, f"{action} {collection} records")

    def _require_level(self, principal: Principal, level: Level, what: str) -> None:
        """Raise unless ``principal`` reaches ``level`` (``owner`` is checked on the record by the caller)."""
        if level == "public":
            return
        if level == "none":
            raise PermissionDenied(f"nobody may {what}")
        if principal.id is None:
            raise Unauthorized(f"sign in to {what}: send Authorization: Bearer <accessToken>")
        if level == "admin" and not self.is_admin(principal):
            raise PermissionDenied(f"only an admin may {what}")

    def _require_on(
        self, principal: Principal, access: Access, action: Action, collection: str, current: Record
    ) -> None:
        level = access.level(action)
        self._require(principal, level, collection, action)
        field = self._owner_field(collection, access)
        if level == "owner" and not self.is_admin(principal) and _text(current.get(field)) != principal.id:
            raise PermissionDenied(f"only the owner of this {collection} record may {action} it")

    def _owned_by_caller(self, principal: Principal, field: str, record: Record) -> Record:
        if field not in record:
            return {**record, field: _id_value(principal.id or "")}
        if not self.is_admin(principal) and _text(record[field]) != principal.id:
            raise PermissionDenied(f"a record you create is yours: {field} must be your id or left out")
        return record

    def _check_privileges(self, principal: Principal, collection: str, current: Record, new: Record) -> None:
        if collection != USERS or self.is_admin(principal):
            return
        changed = sorted(
            name
            for name in self.privilege_fields
            if name in new and (name not in current or new[name] != current[name])
        )
        if changed:
            raise PermissionDenied(f"only an admin sets {', '.join(changed)} on a user")


def _text(value: JSONValue | None) -> str | None:
    """An owner value as text: ``1`` and ``"1"`` name the same user (ids match by their text)."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    return str(value)


def _id_value(user_id: str) -> JSONValue:
    """The owner value to store: a numeric id as a number, as json-server-auth's ``userId: 1``."""
    return int(user_id) if user_id.isdecimal() and user_id == str(int(user_id)) else user_id
