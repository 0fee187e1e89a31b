"""The caller through the Service: Principal, the read rule ANDed into every read, actors on writes, joins."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jsonserve.auth import ANONYMOUS, AllowAll, Principal
from jsonserve.errors import NotFound
from jsonserve.query.model import Condition, Node, Op, Page, Query
from jsonserve.service import Service
from jsonserve.service.embed import MAX_IN_KEYS
from jsonserve.storage.file.memory import MemoryStorage
from tests.support.hub import RecordingHub

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "users": [{"id": 1, "name": "ada"}, {"id": 2, "name": "linus"}],
    "posts": [
        {"id": 1, "title": "mine", "userId": 1},
        {"id": 2, "title": "his", "userId": 2},
        {"id": 3, "title": "also mine", "userId": "1"},
    ],
    "comments": [
        {"id": 1, "postId": 1, "userId": 1},
        {"id": 2, "postId": 1, "userId": 2},
        {"id": 3, "postId": "3", "userId": 1},
        {"id": 4, "postId": 2, "userId": 2},
    ],
    "profile": {"owner": "1"},
    "$schema": "./schema.json",
}
ADA = Principal("1", frozenset({"editor"}))


def own_records(principal: Principal, collection: str) -> Node | None:
    """A rule of the kind the auth issue will add: posts, comments and the profile are their owners' only."""
    field = {"posts": "userId", "comments": "userId", "profile": "owner"}.get(collection)
    if field is None:
        return None
    return Condition((field,), Op.EQ, principal.id or "")


class CountingStorage(MemoryStorage):
    """Memory storage that keeps every query it is asked to find."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(copy.deepcopy(data))
        self.finds: list[Query] = []

    async def find(self, query: Query) -> Page:
        self.finds.append(query)
        return await super().find(query)


async def _service(data: dict[str, Any] = DATA, **options: Any) -> tuple[Service, CountingStorage]:
    storage = CountingStorage(data)
    await storage.open()
    return Service(storage, RecordingHub(), **options), storage


# -- the principal and the seam ---------------------------------------------------------------


def test_the_anonymous_principal() -> None:
    assert ANONYMOUS.is_anonymous and ANONYMOUS.id is None and ANONYMOUS.roles == frozenset()
    assert not ADA.is_anonymous and ADA.has_role("editor") and not ADA.has_role("admin")
    with pytest.raises(ValueError, match="no roles"):
        Principal(None, frozenset({"admin"}))


def test_allow_all_filters_nothing() -> None:
    assert AllowAll()(ANONYMOUS, "posts") is None
    assert AllowAll()(ADA, "anything") is None


# -- the rule reaches every read ------------------------------------------------------------


async def test_without_a_rule_everyone_reads_everything() -> None:
    service, _ = await _service()
    listing = await service.find(Query("posts"))
    assert [post["id"] for post in listing.items] == [1, 2, 3] and listing.total == 3
    assert (await service.dump())["$schema"] == "./schema.json"


async def test_find_and_counts_see_only_what_the_rule_allows() -> None:
    service, _ = await _service(read_rule=own_records)
    listing = await service.find(Query("posts"), principal=ADA)
    assert [post["id"] for post in listing.items] == [1, 3]  # "1" and 1 alike
    assert listing.total == 2
    assert (await service.find(Query("posts"))).items == []  # anonymous owns nothing
    assert await service.counts(principal=ADA) == {"users": 2, "posts": 2, "comments": 2, "profile": None}


async def test_get_of_a_record_the_rule_hides_is_404() -> None:
    service, _ = await _service(read_rule=own_records)
    assert (await service.get("posts", "1", principal=ADA))["title"] == "mine"
    with pytest.raises(NotFound):
        await service.get("posts", "2", principal=ADA)
    assert (await service.get_singular("profile", principal=ADA)) == {"owner": "1"}
    with pytest.raises(NotFound):
        await service.get_singular("profile")


async def test_nested_lists_need_a_readable_parent_and_filter_the_children() -> None:
    service, _ = await _service(read_rule=own_records)
    nested = await service.list_nested("posts", "1", Query("comments"), principal=ADA)
    assert [comment["id"] for comment in nested.items] == [1]  # comment 2 is linus's
    with pytest.raises(NotFound):
        await service.list_nested("posts", "2", Query("comments"), principal=ADA)


async def test_embeds_and_expands_join_only_readable_records() -> None:
    service, _ = await _service(read_rule=own_records)
    posts: list[Any] = (await service.find(Query("posts", embed=("comments",), expand=("user",)), principal=ADA)).items
    assert [[c["id"] for c in post["comments"]] for post in posts] == [[1], [3]]
    assert [post["user"]["name"] for post in posts] == ["ada", "ada"]
    comments: list[Any] = (await service.find(Query("comments", expand=("post",)), principal=ADA)).items
    assert [comment["post"]["id"] for comment in comments] == [1, 3]


async def test_db_is_one_snapshot_filtered_per_resource() -> None:
    service, _ = await _service(read_rule=own_records)
    anonymous: dict[str, Any] = await service.dump()
    assert anonymous["posts"] == [] and "profile" not in anonymous
    assert anonymous["users"] == DATA["users"] and anonymous["$schema"] == "./schema.json"  # no rule; no resource
    mine: dict[str, Any] = await service.dump(principal=ADA)
    assert [post["id"] for post in mine["posts"]] == [1, 3] and mine["profile"] == {"owner": "1"}
    assert list(mine) == list(DATA)  # the data's order


async def test_writes_record_the_principal_as_actor() -> None:
    service, _ = await _service()
    hub = service.hub
    assert isinstance(hub, RecordingHub)
    await service.create("posts", {"title": "x"}, principal=ADA)
    await service.patch("posts", "4", {"title": "y"})
    await service.patch_singular("profile", {"owner": "2"}, principal=ADA)
    await service.delete("posts", "1", principal=ADA)
    actors = [(change.action, change.collection, change.actor) for change in hub.changes]
    assert actors == [
        ("created", "posts", "1"),
        ("updated", "posts", None),
        ("updated", "profile", "1"),
        ("deleted", "posts", "1"),
        ("deleted", "comments", "1"),  # the 0.17 cascade is the same caller's write
        ("deleted", "comments", "1"),
    ]
    assert [change.seq for change in await service.storage.changes.since(0)] == [c.seq for c in hub.changes]


# -- joins: one read per join -----------------------------------------------------------------


async def test_an_embed_reads_each_joined_collection_once_with_an_in() -> None:
    service, storage = await _service()
    posts: list[Any] = (await service.find(Query("posts", embed=("comments", "user"), expand=("user",)))).items
    assert [[c["id"] for c in post["comments"]] for post in posts] == [[1, 2], [4], [3]]
    joined = storage.finds[1:]
    assert [query.collection for query in joined] == ["comments", "users", "users"]  # one find per join
    assert joined[0].where == Condition(("postId",), Op.IN, ("1", "2", "3"))
    assert joined[1].where == Condition(("id",), Op.IN, ("1", "2"))  # 1 and "1": one key


async def test_a_get_with_joins_reads_once_per_join() -> None:
    service, storage = await _service()
    post: Any = await service.get("posts", "1", Query("posts", embed=("comments",), expand=("user",)))
    assert [c["id"] for c in post["comments"]] == [1, 2] and post["user"]["name"] == "ada"
    assert [(q.collection, q.where) for q in storage.finds] == [
        ("comments", Condition(("postId",), Op.IN, ("1",))),
        ("users", Condition(("id",), Op.IN, ("1",))),
    ]


async def test_a_large_page_reads_the_joined_collection_whole_once() -> None:
    data = {
        "posts": [{"id": n} for n in range(1, MAX_IN_KEYS + 2)],
        "comments": [{"id": n, "postId": n % 7 + 1} for n in range(1, 40)],
    }
    service, storage = await _service(data)
    posts: list[Any] = (await service.find(Query("posts", embed=("comments",)))).items
    assert sum(len(post["comments"]) for post in posts) == 39
    assert [query.collection for query in storage.finds] == ["posts", "comments"]
    assert storage.finds[1] == Query("comments")


async def test_records_without_keys_join_nothing_and_read_nothing() -> None:
    service, storage = await _service({"users": [{"id": 1}], "posts": [{"id": 1}, {"id": 2, "userId": None}]})
    posts = await service.find(Query("posts", expand=("user",)))
    assert posts.items == [{"id": 1}, {"id": 2, "userId": None}]
    assert [query.collection for query in storage.finds] == ["posts"]
