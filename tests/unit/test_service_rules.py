"""The rules through the Service's one read path and its write seam: filters, 401/403/404, hidden fields."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jsonserve.auth import ANONYMOUS, Principal
from jsonserve.auth.access import parse_rules
from jsonserve.auth.policy import RulePolicy
from jsonserve.auth.principal import Guard
from jsonserve.errors import NotFound, PermissionDenied, QueryError, Unauthorized
from jsonserve.query.model import AllOf, AnyOf, Condition, Op, Query, SortKey, TextSearch
from jsonserve.service import Service, ServiceOptions
from jsonserve.service.redact import Redaction
from jsonserve.storage.file.memory import MemoryStorage
from tests.support.hub import RecordingHub

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "users": [
        {"id": 1, "email": "ada@x.io", "password": "$argon2id$h1"},
        {"id": 2, "email": "l@x.io", "password": "h2"},
    ],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}, {"id": 2, "text": "linus's", "userId": 2}],
    "posts": [{"id": 1, "userId": 1}, {"id": 2, "userId": 2}],
    "comments": [{"id": 1, "postId": 1}],
}
ADA, LINUS = Principal("1"), Principal("2")


@contextlib.asynccontextmanager
async def service(reveal: bool = True) -> AsyncIterator[Service]:
    policy = RulePolicy(parse_rules({"notes": "600", "posts": "644"}))
    async with Service(
        MemoryStorage(copy.deepcopy(DATA)),
        RecordingHub(),
        ServiceOptions(reveal_forbidden=reveal),
        read_rule=policy,
        write_rule=policy,
        redaction=Redaction({"users": frozenset({"password"})}),
    ) as opened:
        yield opened


async def test_lists_are_filtered_and_a_token_is_needed() -> None:
    async with service() as notes:
        assert [note["id"] for note in (await notes.find(Query("notes"), principal=ADA)).items] == [1]
        with pytest.raises(Unauthorized):
            await notes.find(Query("notes"))
        assert (await notes.find(Query("notes", where=Condition(("userId",), Op.EQ, "2")), principal=ADA)).total == 0


@pytest.mark.parametrize(("reveal", "error"), [(True, PermissionDenied), (False, NotFound)])
async def test_one_unreadable_record_is_403_or_hidden_as_404(reveal: bool, error: type[Exception]) -> None:
    async with service(reveal) as notes:
        assert (await notes.get("notes", "1", principal=ADA))["text"] == "ada's"
        with pytest.raises(error):
            await notes.get("notes", "2", principal=ADA)
        with pytest.raises(NotFound):
            await notes.get("notes", "3", principal=ADA)
        with pytest.raises(Unauthorized):
            await notes.get("notes", "1")


async def test_db_counts_and_joins_show_only_what_may_be_read_and_never_a_password() -> None:
    async with service() as notes:
        dump = await notes.dump()
        assert "notes" in dump and dump["notes"] == []
        assert dump["users"] == [{"id": 1, "email": "ada@x.io"}, {"id": 2, "email": "l@x.io"}]
        assert (await notes.dump(principal=ADA))["notes"] == [DATA["notes"][0]]
        assert (await notes.counts())["notes"] == 0
        listing = await notes.find(Query("users", embed=("notes",)), principal=ADA)
        assert [[note["id"] for note in user["notes"]] for user in listing.items] == [[1], []]  # type: ignore[union-attr,index,call-overload]
        assert all("password" not in user for user in listing.items)
        assert "password" not in await notes.get("users", "1")
        posts = await notes.find(Query("posts", expand=("user",)))
        assert all("password" not in post["user"] for post in posts.items)  # type: ignore[operator]


@pytest.mark.parametrize(
    "query",
    [
        Query("users", where=Condition(("password",), Op.LIKE, "^\\$argon")),
        Query("users", sort=(SortKey(("password",)),)),
    ],
)
async def test_a_query_on_a_hidden_field_is_refused(query: Query) -> None:
    async with service() as users:
        with pytest.raises(QueryError):
            await users.find(query)


async def test_q_skips_the_hidden_fields_wherever_it_is_in_the_filter() -> None:
    async with service() as users:
        for where in (TextSearch("argon2id"), AnyOf((TextSearch("h2"), Condition(("id",), Op.EQ, "9")))):
            assert (await users.find(Query("users", where=where))).items == []
        found = await users.find(Query("users", where=AllOf((TextSearch("X.IO"), TextSearch("ada")))))
        assert found.items == [{"id": 1, "email": "ada@x.io"}]
        assert (await users.find(Query("notes", where=TextSearch("ADA")), principal=ADA)).items == [DATA["notes"][0]]


async def test_writes_are_checked_and_hidden_fields_are_neither_written_nor_lost() -> None:
    async with service() as notes:
        created = await notes.create("notes", {"text": "new"}, principal=LINUS)
        assert created["userId"] == 2
        with pytest.raises(PermissionDenied):
            await notes.patch("notes", "1", {"text": "mine now"}, principal=LINUS)
        with pytest.raises(PermissionDenied):
            await notes.patch("notes", "1", {"userId": 2}, principal=ADA)
        with pytest.raises(PermissionDenied):
            await notes.delete("notes", "1", principal=LINUS)
        with pytest.raises(Unauthorized):
            await notes.create("posts", {}, principal=ANONYMOUS)
        with pytest.raises(PermissionDenied):
            await notes.patch("users", "1", {"password": "plain"}, principal=ADA)
        with pytest.raises(PermissionDenied):
            await notes.create("users", {"password": "plain"}, principal=ADA)
        replaced = await notes.replace("users", "1", {"email": "ada@y.io"}, principal=ADA)
        assert replaced == {"email": "ada@y.io", "id": 1}
        assert (await notes.storage.get("users", "1") or {})["password"] == "$argon2id$h1"
        deleted = await notes.delete("notes", "1", principal=ADA)
        assert deleted["id"] == 1


async def test_a_guard_prefix_narrows_the_request() -> None:
    guarded = Principal("1", guard=Guard("posts", "600"))
    async with service() as posts:
        assert [post["id"] for post in (await posts.find(Query("posts"), principal=guarded)).items] == [1]
        with pytest.raises(Unauthorized):
            await posts.find(Query("posts"), principal=Principal(guard=Guard("posts", "640")))
