"""The rules file (json-server-auth's modes and the long form) and the policy built from it."""

from __future__ import annotations

import pytest

from jsonserve._types import Record
from jsonserve.auth.access import Access, RulesError, mode_access, parse_rules
from jsonserve.auth.policy import NOTHING, RulePolicy
from jsonserve.auth.principal import ANONYMOUS, Guard, Principal
from jsonserve.errors import PermissionDenied, Unauthorized
from jsonserve.query.model import AllOf, Condition, Op

MODES = {
    "600": ("owner", "owner"),
    "640": ("auth", "owner"),
    "644": ("public", "owner"),
    "660": ("auth", "auth"),
    "664": ("public", "auth"),
    "440": ("auth", "none"),
    "444": ("public", "none"),
}


@pytest.mark.parametrize(("mode", "levels"), MODES.items())
def test_json_server_auth_modes(mode: str, levels: tuple[str, str]) -> None:
    access = mode_access(mode)
    assert (access.read, access.create, access.update, access.delete) == (levels[0], *[levels[1]] * 3)


@pytest.mark.parametrize("mode", ["60", "6000", "700", "abc", "", 644])
def test_bad_modes_are_refused(mode: object) -> None:
    with pytest.raises(RulesError):
        parse_rules({"notes": mode})


def test_the_long_form_with_write_and_owner() -> None:
    rules = parse_rules({"todos": {"read": "owner", "write": "auth", "delete": "admin", "owner": "authorId"}})
    assert rules.access("todos") == Access("owner", "auth", "auth", "admin", "authorId")


def test_actions_the_long_form_leaves_out_are_admin_only() -> None:
    assert parse_rules({"todos": {"read": "public"}}).access("todos") == Access("public", "admin", "admin", "admin")


@pytest.mark.parametrize(
    "rules",
    [[], {"a": {"read": "everyone"}}, {"a": {"reed": "public"}}, {"a": {"read": "public", "owner": ""}}, {"a": 6}],
)
def test_unusable_rules_are_refused_with_the_entry_named(rules: object) -> None:
    with pytest.raises(RulesError):
        parse_rules(rules)


def test_unnamed_collections_are_public_unless_a_star_default() -> None:
    assert parse_rules({"notes": "600"}).access("posts") == Access()
    assert parse_rules({"*": "640"}).access("posts") == mode_access("640")


def test_the_role_field_and_channels() -> None:
    rules = parse_rules({"users": {"read": "owner", "role": "kind"}, "channels": {"chat:*": {"subscribe": "auth"}}})
    assert rules.role_field == "kind"
    assert "channels" not in rules.collections
    assert "kind" in RulePolicy(rules).privilege_fields


ADA, LINUS, ADMIN = Principal("1"), Principal("2"), Principal("9", frozenset({"admin"}))
POLICY = RulePolicy(
    parse_rules({"notes": "600", "posts": "644", "secrets": {"read": "admin"}, "vault": {"read": "none"}})
)


def test_reads_are_filters() -> None:
    assert POLICY(ADA, "notes") == Condition(("userId",), Op.EQ, "1")
    assert POLICY(ADA, "users") is None  # unnamed: public
    assert POLICY(ANONYMOUS, "posts") is None
    assert POLICY(ADA, "secrets") == NOTHING
    assert POLICY(ADMIN, "secrets") is None
    assert POLICY(ADMIN, "notes") is None
    assert POLICY(ADMIN, "vault") == NOTHING


def test_users_own_their_own_record() -> None:
    assert RulePolicy(parse_rules({"users": "600"}))(ADA, "users") == Condition(("id",), Op.EQ, "1")


@pytest.mark.parametrize("collection", ["notes", "secrets"])
def test_an_anonymous_read_that_needs_a_token_is_unauthorized(collection: str) -> None:
    with pytest.raises(Unauthorized):
        POLICY(ANONYMOUS, collection)


def test_a_guard_prefix_applies_on_top() -> None:
    guarded = Principal("1", guard=Guard("posts", "600"))
    assert POLICY(guarded, "posts") == Condition(("userId",), Op.EQ, "1")
    assert POLICY(Principal("1", guard=Guard("notes", "640")), "notes") == Condition(("userId",), Op.EQ, "1")
    with pytest.raises(Unauthorized):
        POLICY(Principal(guard=Guard("posts", "640")), "posts")
    both = RulePolicy(parse_rules({"posts": {"read": "owner", "owner": "authorId"}}))(guarded, "posts")
    assert both == AllOf((Condition(("authorId",), Op.EQ, "1"), Condition(("authorId",), Op.EQ, "1")))


def test_create_sets_the_owner_and_refuses_another() -> None:
    assert POLICY.create(ADA, "notes", {"text": "x"}) == {"text": "x", "userId": 1}
    assert POLICY.create(ADA, "notes", {"userId": "1"}) == {"userId": "1"}
    with pytest.raises(PermissionDenied):
        POLICY.create(ADA, "notes", {"userId": 2})
    assert POLICY.create(ADMIN, "notes", {"userId": 2}) == {"userId": 2}
    with pytest.raises(Unauthorized):
        POLICY.create(ANONYMOUS, "posts", {})
    assert POLICY.create(ANONYMOUS, "comments", {}) == {}  # unnamed: public


def test_updates_and_deletes_by_the_owner_only_and_the_owner_never_moves() -> None:
    note: Record = {"id": 1, "userId": 1}
    assert POLICY.update(ADA, "notes", note, {"id": 1, "text": "y"}) == {"id": 1, "text": "y", "userId": 1}
    with pytest.raises(PermissionDenied):
        POLICY.update(LINUS, "notes", note, {"id": 1})
    with pytest.raises(PermissionDenied):
        POLICY.update(ADA, "notes", note, {"id": 1, "userId": 2})
    assert POLICY.update(ADMIN, "notes", note, {"id": 1, "userId": 2})["userId"] == 2
    POLICY.delete(ADA, "notes", note)
    with pytest.raises(PermissionDenied):
        POLICY.delete(LINUS, "notes", note)
    with pytest.raises(Unauthorized):
        POLICY.delete(ANONYMOUS, "notes", note)


def test_nobody_writes_a_444_collection_not_even_an_admin() -> None:
    policy = RulePolicy(parse_rules({"posts": "444"}))
    for principal in (ADA, ADMIN):
        with pytest.raises(PermissionDenied):
            policy.create(principal, "posts", {})


@pytest.mark.parametrize("field", ["role", "roles", "isAdmin", "admin"])
def test_only_an_admin_sets_privilege_fields_on_a_user(field: str) -> None:
    user: Record = {"id": 1, "email": "ada@example.com"}
    with pytest.raises(PermissionDenied):
        POLICY.update(ADA, "users", user, {**user, field: "admin"})
    with pytest.raises(PermissionDenied):
        POLICY.create(ADA, "users", {field: True})
    assert POLICY.update(ADA, "users", {**user, field: "x"}, {**user, field: "x", "name": "Ada"})["name"] == "Ada"
    assert POLICY.update(ADMIN, "users", user, {**user, field: "admin"})[field] == "admin"
    assert POLICY.update(ADA, "posts", {"id": 1, "userId": 1}, {"id": 1, "userId": 1, field: 1})[field] == 1


def test_channel_rules_first_pattern_wins_and_bad_entries_are_refused() -> None:
    rules = parse_rules({"channels": {"chat:vip": "admin", "chat:*": {"subscribe": "auth"}, "*": "none"}})
    assert (rules.channel("chat:vip").subscribe, rules.channel("chat:vip").publish) == ("admin", "admin")
    assert (rules.channel("chat:a").subscribe, rules.channel("chat:a").publish) == ("auth", "public")
    assert rules.channel("other").publish == "none"
    assert parse_rules({}).channel("anything").subscribe == "public"
    bad: object
    for bad in ({"channels": []}, {"channels": {"x": "owner"}}, {"channels": {"x": {"read": "auth"}}}):
        with pytest.raises(RulesError):
            parse_rules(bad)


def test_channel_rules_are_checked_with_the_collections_levels() -> None:
    policy = RulePolicy(parse_rules({"channels": {"chat:*": {"subscribe": "auth", "publish": "admin"}}}))
    policy.channel(ANONYMOUS, "public-room", "publish")
    with pytest.raises(Unauthorized):
        policy.channel(ANONYMOUS, "chat:a", "subscribe")
    policy.channel(Principal("1"), "chat:a", "subscribe")
    with pytest.raises(PermissionDenied, match="only an admin may publish on channel chat:a"):
        policy.channel(Principal("1"), "chat:a", "publish")
    policy.channel(Principal("1", frozenset({"admin"})), "chat:a", "publish")
