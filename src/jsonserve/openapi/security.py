"""Under ``--auth``: the bearer scheme, and what each operation asks of its caller, from the rules file.

An operation declares what the rules of everything it touches ask (``GET /users/1/notes`` reads a
user, then notes):

- a login (some level is ``auth``, ``owner`` or ``admin``): ``security: [{"bearer": []}]``, a 401,
  and the 403 a signed-in caller can still meet. Swagger UI shows a lock on it and sends the token
  given to its Authorize dialog;
- none, but the answer depends on who asks (``/db``, a public list that can embed a collection that
  is not public): the token is optional, ``[{}, {"bearer": []}]``, so Swagger UI sends it when it has one;
- none, and everyone gets the same answer: no ``security`` at all (the document declares no default).

Each protected operation's description says who may do it, in words.

Example:
    >>> gate = Gate(parse_rules({"notes": "600"}), reveal_forbidden=True)  # doctest: +SKIP
    >>> gate.protect(operation, [Need("notes", "read")])["security"]  # doctest: +SKIP
    [{'bearer': []}]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from jsonserve.auth.access import USERS, Action, Level, RuleSet
from jsonserve.openapi.responses import PROBLEM, header

Json = dict[str, Any]
SCHEME = "bearer"
SECURITY_SCHEMES: Json = {
    SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `accessToken` that `POST /login` or `POST /register` answers, sent as "
        "`Authorization: Bearer <accessToken>`. It expires (`--token-ttl`, 1 hour by default) and stops "
        "working at logout or a password change.",
    }
}
REQUIRED: list[Json] = [{SCHEME: []}]
OPTIONAL: list[Json] = [{}, {SCHEME: []}]
LOGIN: frozenset[Level] = frozenset({"auth", "owner", "admin"})
NOT_EVERYONES: frozenset[Level] = frozenset({"owner", "admin", "none"})  # a signed-in caller may still be refused
WWW_AUTHENTICATE: Json = {
    "description": '`Bearer`, or `Bearer error="invalid_token"` for a token that was sent and refused.',
    "schema": {"type": "string"},
    "required": True,
}
# Problem responses that exist only under --auth (403 is shared with --read-only: its text says both).
AUTH_PROBLEMS: dict[int, tuple[str, str]] = {
    401: (
        "Unauthorized",
        "Sign in first: no token where the rules need one, or a token that is refused (malformed, forged, "
        "expired, revoked by a logout or a password change, or of a deleted user).",
    ),
    403: (
        "Forbidden",
        "Not allowed: the rules refuse this to the caller (not the owner, not an admin, or nobody may), or "
        "the server runs with --read-only.",
    ),
    429: ("TooManyRequests", "Too many failed attempts from this account or address: wait `Retry-After` seconds."),
}
_PROBLEM_REF: Json = {"$ref": "#/components/schemas/Problem"}
_VERBS: dict[Action, str] = {"read": "read", "create": "create", "update": "change", "delete": "delete"}
_METHODS: dict[str, Action] = {"put": "update", "patch": "update", "delete": "delete"}


class Need(NamedTuple):
    """One thing an operation does: ``action`` on ``collection`` (``one``: reads a single record of it)."""

    collection: str
    action: Action
    one: bool = False


def auth_problem_components() -> Json:
    """The ``components.responses`` entries that ``--auth`` adds (and its wording of 403)."""
    responses: Json = {}
    for status, (name, description) in AUTH_PROBLEMS.items():
        response: Json = {"description": description, "content": {PROBLEM: {"schema": _PROBLEM_REF}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
        if status == 429:
            response["headers"] = {"Retry-After": header("Retry-After", required=True)}
        responses[name] = response
    return responses


def problem_ref(status: int) -> Json:
    """A reference to the shared problem response of ``status`` under ``--auth``."""
    return {"$ref": f"#/components/responses/{AUTH_PROBLEMS[status][0]}"}


@dataclass(frozen=True)
class Gate:
    """The rules as the document states them: each operation's requirement, responses and words."""

    rules: RuleSet
    reveal_forbidden: bool

    # -- path items ----------------------------------------------------------------------------

    def collection(
        self, paths: Json, name: str, path: str, children: Sequence[tuple[str, str]], joins: Sequence[str]
    ) -> Json:
        """The path items ``collection_paths`` built for ``name``, each operation with its requirement.

        ``children`` are the nested collections as ``(name, path)``; ``joins`` the collections that
        ``_embed``/``_expand`` can bring into a list or a record.
        """
        item = f"{path}/{{id}}"
        parent = Need(name, "read", one=True)
        needs: dict[str, dict[str, list[Need]]] = {
            path: {"get": [Need(name, "read")], "post": [Need(name, "create")]},
            item: {"get": [parent], **{method: [Need(name, action)] for method, action in _METHODS.items()}},
        }
        for child, child_path in children:
            needs[f"{item}{child_path}"] = {
                "get": [parent, Need(child, "read")],
                "post": [parent, Need(child, "create")],
            }
        varies = any(self.rules.access(joined).read != "public" for joined in joins)
        return {
            key: self._item(value, needs.get(key, {}), varies=varies and key in (path, item))
            for key, value in paths.items()
        }

    def singular(self, paths: Json, name: str) -> Json:
        """A singular resource's path item: read it, or change it (PUT, PATCH, 0.17's POST)."""
        needs = {"get": [Need(name, "read", one=True)], **{m: [Need(name, "update")] for m in ("put", "patch", "post")}}
        return {key: self._item(value, needs) for key, value in paths.items()}

    def _item(self, item: Json, needs: dict[str, list[Need]], *, varies: bool = False) -> Json:
        """``varies``: the item's GET can join collections that are not public (its answer depends on the caller)."""
        return {
            key: self.protect(value, needs[key], varies=varies and key == "get") if key in needs else value
            for key, value in item.items()
        }

    # -- one operation -------------------------------------------------------------------------

    def protect(self, operation: Json, needs: Sequence[Need], *, varies: bool = False) -> Json:
        """``operation`` with the requirement ``needs`` make, the 401/403 it can answer, and who may call it.

        ``varies``: anyone may call it, but the answer depends on who does (the token is optional).
        """
        levels = [(need, self.rules.access(need.collection).level(need.action)) for need in needs]
        login = any(level in LOGIN for _need, level in levels)
        responses = dict(operation["responses"])
        if login or varies:
            responses["401"] = problem_ref(401)
        refused_one = any(need.one and need.action == "read" and level in NOT_EVERYONES for need, level in levels)
        if "403" in responses or (refused_one and self.reveal_forbidden):
            responses["403"] = problem_ref(403)
        protected = {**operation, "responses": dict(sorted(responses.items()))}
        if login or varies:
            protected["security"] = REQUIRED if login else OPTIONAL
        if any(level != "public" for _need, level in levels):
            protected["description"] = _joined(operation.get("description", ""), self.who(levels))
        return protected

    def optional(self, operation: Json, note: str) -> Json:
        """An operation anyone may call whose answer depends on the caller (``/db``): an optional token."""
        responses = dict(sorted({**operation["responses"], "401": problem_ref(401)}.items()))
        description = _joined(operation.get("description", ""), note)
        return {**operation, "security": OPTIONAL, "description": description, "responses": responses}

    # -- words ---------------------------------------------------------------------------------

    def who(self, levels: Sequence[tuple[Need, Level]]) -> str:
        """Who may do what each need names, as a sentence (for the operation's description)."""
        parts = [f"{_VERBS[need.action]} {need.collection}: {self._level_words(need, level)}" for need, level in levels]
        text = "**Who may** (`--auth`): " + "; ".join(parts) + "."
        if any(need.action == "read" and not need.one and level in NOT_EVERYONES for need, level in levels):
            text += " A list holds only the records the caller may read."
        return text

    def _level_words(self, need: Need, level: Level) -> str:
        if level == "owner":
            field = self.rules.access(need.collection).owner
            if need.action == "create":
                return f"any signed-in user (the record is theirs: `{field}` is set to their id)"
            owner = "the user themself" if need.collection == USERS else f"the owner (`{field}` is their id)"
            return f"{owner} or an admin"
        if level == "admin":
            return f"an admin (a user whose `{self.rules.role_field}` is `admin`)"
        return {"public": "anyone", "auth": "any signed-in user", "none": "nobody"}[level]


def _joined(description: str, note: str) -> str:
    return f"{description.rstrip()}\n\n{note}" if description else note
