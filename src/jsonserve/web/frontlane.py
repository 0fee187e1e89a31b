"""The front lane: the fast lane's reads answered above the whole stack, when the stack would only decorate them.

With the default stack (observe, CORS, the catch-all, gzip; no HSTS, rewrite, auth, rate limit, chaos
or policy), an answer of the fast lane still went down and up four layers, three of them wrapping
``send``: a GET by id took 45.4 µs of CPU with them and 42.7 µs with this lane (``docs/benchmarks.md``).
Those layers would only decorate it, so this one, outermost in the app's list, does their part
itself and sends it once:

- **observe**: the request id (``X-Request-ID``, last header, and the scope), the request metrics and
  the access-log line, by :meth:`~jsonserve.web.observe.Observe.record` (the layer's own code);
- **CORS**: a request with an ``Origin`` goes down the stack (its headers are Starlette's); one
  without only gets ``Origin`` added to ``Vary``, as :class:`~jsonserve.web.layers.Cors` adds it;
- **catch-all**: an unexpected exception while the answer is prepared sends the request down the
  stack, whose catch-all answers and logs it as it does for the routes (nothing has been sent);
- **gzip**: a body of :data:`~jsonserve.web.layers.GZIP_MINIMUM` bytes or more for a gzip client is
  sent through the gzip layer itself.

Any request the lane does not take (not a ``GET``, not a record or list, a 404, ``_delay``…) goes
down the stack untouched, where the fast lane proper gets it again. ``web/stack.py`` adds this layer
only when those four are the only layers above the fast lane; ``tests/web/test_fastpath.py`` compares
its answers with the routes'.

Example:
    >>> Middleware(FrontLane, reads=reads, paths=paths, metrics=None, access_log=True, new_id=ids, cors=True)
    ...  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.web.errors import Answer, send_answer
from jsonserve.web.fastpath import LaneReads
from jsonserve.web.layers import GZIP_MINIMUM, Gzip, accepts_gzip, has_header, vary_origin
from jsonserve.web.observe import REQUEST_ID_KEY, Observe, Seen, path_of, request_id
from jsonserve.web.paths import Paths, route_of

if TYPE_CHECKING:
    from jsonserve.web.metrics import Metrics


class FrontLane:
    """Answer the fast lane's requests above the stack (see the module's text); hand the rest to ``app``.

    ``paths``, ``metrics``, ``access_log`` and ``new_id`` are the observe layer's (the same request
    ids: one sequence per process); ``cors`` says whether the stack has the CORS layer.
    """

    def __init__(
        self,
        app: ASGIApp,
        reads: LaneReads,
        *,
        paths: Paths,
        metrics: Metrics | None,
        access_log: bool,
        new_id: Callable[[], str],
        cors: bool,
        gzip_minimum: int = GZIP_MINIMUM,
    ) -> None:
        self.app = app
        self.reads = reads
        self.observe = Observe(app, paths, metrics, access_log, new_id)  # for its record(); never called
        self.cors = cors
        self.gzip_minimum = gzip_minimum

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._may_take(scope):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        try:
            answer = await self.reads.prepare(scope)
        except Exception:  # the stack's catch-all answers and logs it: nothing is sent yet
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"], self.observe.new_id)
        scope[REQUEST_ID_KEY] = rid
        try:
            await self._send(scope, receive, send, answer, (b"x-request-id", rid.encode("ascii")))
        finally:
            template = route_of(scope, self.observe.paths).template
            seen = Seen(path_of(scope), scope["query_string"], rid)
            self.observe.record(scope, "GET", template, seen, answer[0], time.perf_counter() - began)

    def _may_take(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        return not (self.cors and has_header(scope["headers"], b"origin"))  # an Origin is the CORS layer's

    async def _send(
        self, scope: Scope, receive: Receive, send: Send, answer: Answer, rid_header: tuple[bytes, bytes]
    ) -> None:
        status, headers, body = answer
        if len(body) < self.gzip_minimum or not accepts_gzip(scope):
            headers = vary_origin(headers) if self.cors else list(headers)
            headers.append(rid_header)
            await send_answer(send, (status, headers, body))
            return

        async def replay(_scope: Scope, _receive: Receive, inner_send: Send) -> None:
            await send_answer(inner_send, answer)

        async def decorated(message: Message) -> None:  # what CORS and observe add above gzip
            if message["type"] == "http.response.start":
                raw = message["headers"]
                message["headers"] = [*(vary_origin(raw) if self.cors else raw), rid_header]
            await send(message)

        await Gzip(replay, self.gzip_minimum)(scope, receive, decorated)
