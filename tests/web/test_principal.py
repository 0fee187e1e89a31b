"""Every route, and the fast lane, call the Service as the principal an auth middleware put in the scope."""

from __future__ import annotations

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.auth import Principal
from jsonserve.config import Settings
from jsonserve.query.model import Condition, Node, Op
from jsonserve.service import Service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.web.app import create_app
from jsonserve.web.http import PRINCIPAL_KEY
from jsonserve.web.inprocess import open_client
from tests.support.hub import RecordingHub

pytestmark = pytest.mark.anyio


def own_posts(principal: Principal, collection: str) -> Node | None:
    """A signed-in user reads their own posts; the anonymous caller all (so a lane that forgot the principal shows)."""
    if collection != "posts" or principal.id is None:
        return None
    return Condition(("userId",), Op.EQ, principal.id)


class SetPrincipal:
    """What the auth middleware will do: put the request's principal in the scope."""

    def __init__(self, app: ASGIApp, principal: Principal) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[PRINCIPAL_KEY] = self.principal
        await self.app(scope, receive, send)


@pytest.mark.parametrize(("principal", "visible"), [(Principal("7"), [1]), (None, [1, 2])])
async def test_routes_and_the_fast_lane_read_and_write_as_the_scopes_principal(
    principal: Principal | None, visible: list[int]
) -> None:
    storage = MemoryStorage({"posts": [{"id": 1, "userId": "7"}, {"id": 2, "userId": 8}], "comments": []})
    hub = RecordingHub()
    app = create_app(Settings(), Service(storage, hub, read_rule=own_posts))
    if principal is not None:
        app.add_middleware(SetPrincipal, principal=principal)  # outermost: before the fast lane
    async with open_client(app) as client:
        for record_id in (1, 2):  # plain reads: the fast lane answers those it can
            status = (await client.get(f"/posts/{record_id}")).status_code
            assert status == (200 if record_id in visible else 404)
        assert [post["id"] for post in (await client.get("/posts")).json()] == visible
        assert [post["id"] for post in (await client.get("/db")).json()["posts"]] == visible
        assert (await client.post("/comments", json={"postId": 1})).status_code == 201
    assert [change.actor for change in hub.changes] == [principal.id if principal else None]
