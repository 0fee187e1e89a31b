"""Chaos for front-end testing (``--chaos``, ``--chaos-latency``, ``_chaos=``): random 503s and delays.

For each API request (a collection, ``/db``, the accounts and transport endpoints: not the home
page, the docs, static files or the operations endpoints) the layer decides, as the request
arrives and before anything handles it, whether to fail it and how long to delay it. A failed
request is answered ``503`` problem+json (``code: "chaos"``) with ``Retry-After: 1`` and never
reaches the routes, so no write is ever applied and then reported failed.

``_chaos=P`` in one request's query string overrides the fraction for that request: ``_chaos=1``
always fails, ``_chaos=0`` turns chaos off (no failure, no delay), ``_chaos=0.5`` fails half. The
layer takes the parameter off the query string, so the routes never see it. The random sequence
comes from ``--seed`` when given: the same seed gives the same failures and delays, request after
request (one draw for the failure, one for the delay, per API request).

Example:
    >>> Middleware(Chaos, fraction=0.1, latency=(50, 500), paths=paths, rng=random.Random(7))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from jsonserve.errors import FieldError, QueryError
from jsonserve.web.errors import domain_response, problem
from jsonserve.web.paths import Paths, route_of

PARAM = "_chaos"
DETAIL = "chaos: this request was failed on purpose (the server runs with --chaos, or the request asked _chaos); retry"


def take_override(query_string: bytes) -> tuple[float | None, bytes]:
    """The ``_chaos`` fraction a query string asks for (the last one wins), and the query string without it.

    The other parameters are kept byte for byte. A value that is not a number from 0 to 1 is a 400.

    Example:
        >>> take_override(b"_page=2&_chaos=1&q=a%20b")
        (1.0, b'_page=2&q=a%20b')
    """
    if PARAM.encode() not in query_string:
        return None, query_string
    kept: list[bytes] = []
    override: float | None = None
    for part in query_string.split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_plus(name.decode("latin-1")) != PARAM:
            kept.append(part)
            continue
        override = _fraction(unquote_plus(value.decode("latin-1")))
    return override, b"&".join(kept)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # also NaN
        raise QueryError(
            f"_chaos takes a fraction from 0 to 1 (0: no chaos for this request, 1: always fail), not {text!r}",
            [FieldError(PARAM, "not a fraction from 0 to 1", "invalid_value")],
        )
    return value


class Chaos:
    """Fail a fraction of API requests with 503 and delay them, decided before they are handled."""

    def __init__(
        self,
        app: ASGIApp,
        paths: Paths,
        fraction: float = 0.0,
        latency: tuple[int, int] | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.paths = paths
        self.fraction = fraction
        self.latency = latency
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.on_failure = on_failure  # counts the failures for /metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_of(scope, self.paths).api:
            await self.app(scope, receive, send)
            return
        try:
            override, query_string = take_override(scope["query_string"])
        except QueryError as error:
            await domain_response(error)(scope, receive, send)
            return
        if override is not None:
            scope = {**scope, "query_string": query_string}
        if override == 0:  # this request asks for no chaos at all
            await self.app(scope, receive, send)
            return
        fail, delay_ms = self.draw(self.fraction if override is None else override)
        if delay_ms:
            await self.sleep(delay_ms / 1000)
        if fail:
            self.on_failure()
            response = problem(503, DETAIL, "chaos")
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def draw(self, fraction: float) -> tuple[bool, int]:
        """Whether to fail a request, and its delay in ms: one draw for each, in that order.

        Example:
            >>> Chaos(None, None, latency=(50, 500), rng=random.Random(1)).draw(0.5)  # doctest: +SKIP
            (True, 137)
        """
        fail = self.rng.random() < fraction
        delay = self.rng.randint(*self.latency) if self.latency else 0
        return fail, delay
