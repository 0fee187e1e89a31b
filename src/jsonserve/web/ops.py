"""Operations: the app's rate limiter, metrics and chaos, and the ``/health``, ``/ready`` and ``/metrics`` pages.

``GET /health`` answers ``200 {"status": "ok"}`` while the process serves (liveness: it touches no
storage). ``GET /ready`` answers ``200`` when the storage can serve reads and writes (a database
answers, a JSON file's journal is healthy) and the rate-limit store (``--redis``) answers, else
``503`` problem+json (``code: "not_ready"``) naming each problem (readiness). ``GET /metrics``
(``--metrics``) is Prometheus' text format. A collection of the same name takes precedence over
each of them, as it does over ``/db`` and ``/docs``; all three sit beside ``/db`` (under ``--base``).

Example:
    >>> ops = Ops.build(Settings(rate_limit="10/second", metrics=True), service)  # doctest: +SKIP
    >>> ops.limiter.policies[0].name  # doctest: +SKIP
    'all-1s'
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from jsonserve.config import Settings
from jsonserve.ratelimit import RateLimiter, parse_policies
from jsonserve.service import Service
from jsonserve.web.errors import problem
from jsonserve.web.http import json_response
from jsonserve.web.paths import Paths
from jsonserve.web.resources import options_or_405

if TYPE_CHECKING:
    from jsonserve.web.metrics import Metrics

Endpoint = Callable[[Request], Awaitable[Response]]
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class Ops:
    """What the operations layers of one app share: its paths, rate limiter, metrics and chaos."""

    paths: Paths
    limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    rng: random.Random = field(default_factory=random.Random)
    chaos_failures: int = 0

    @classmethod
    def build(cls, settings: Settings, service: Service) -> Ops:
        """The operations of an app serving ``service`` with ``settings``.

        Raises :class:`~jsonserve.ratelimit.RateLimitError` for a rate limit or Redis URL that cannot be used.
        """
        policies = parse_policies(settings.rate_limit)
        writes = parse_policies(settings.rate_limit_writes, "writes")
        limiter = RateLimiter(policies, writes, settings.redis_url) if policies or writes else None
        ops = cls(Paths(service, settings.base), limiter, rng=random.Random(settings.seed))
        if settings.metrics:
            from jsonserve.web.metrics import Metrics  # prometheus_client, for --metrics only

            ops.metrics = Metrics(service, limiter, lambda: ops.chaos_failures)
        return ops

    def count_chaos(self) -> None:
        """Count one request failed on purpose."""
        self.chaos_failures += 1

    async def readiness(self) -> list[str]:
        """Every reason the app cannot serve now (empty: ready)."""
        problems = []
        if (storage := await self.paths.service.readiness()) is not None:
            problems.append(f"storage: {storage}")
        if self.limiter is not None and (limits := await self.limiter.check()) is not None:
            problems.append(f"rate limits: {limits}")
        return problems

    async def aclose(self) -> None:
        """Release the rate limiter's store."""
        if self.limiter is not None:
            await self.limiter.aclose()


def ops_pages(ops: Ops, collection: Endpoint) -> dict[str, Endpoint]:
    """``health``, ``ready`` and (with ``--metrics``) ``metrics``; a collection of the same name is served instead."""

    async def health(request: Request) -> Response:
        return json_response(request, {"status": "ok"}, headers=NO_STORE)

    async def ready(request: Request) -> Response:
        problems = await ops.readiness()
        if not problems:
            return json_response(request, {"status": "ready"}, headers=NO_STORE)
        response = problem(503, "not ready: " + "; ".join(problems), "not_ready", {"problems": problems})
        response.headers.update({"Retry-After": "1", **NO_STORE})
        return response

    async def metrics(_request: Request) -> Response:
        assert ops.metrics is not None  # noqa: S101 - the page exists only with --metrics
        from jsonserve.web.metrics import CONTENT_TYPE

        return Response(ops.metrics.render(), headers=NO_STORE, media_type=CONTENT_TYPE)

    pages: dict[str, Endpoint] = {"health": health, "ready": ready}
    if ops.metrics is not None:
        pages["metrics"] = metrics
    return {name: _unless_collection(ops.paths.service, name, page, collection) for name, page in pages.items()}


def _unless_collection(service: Service, name: str, page: Endpoint, collection: Endpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if name in service.kinds():
            return await collection(request)
        if request.method not in ("GET", "HEAD"):
            return options_or_405(request.method, ("GET", "HEAD", "OPTIONS"), f"/{name} is read-only")
        return await page(request)

    return endpoint
