"""The middleware stack, declared: which layers wrap the routes, in which order, and when each is present.

Outermost first (a request meets them top to bottom, a response bottom to top)::

    front lane  the fast lane, and no   the fast lane's answers, with what observe, cors, catch-all
                layer but observe, cors and gzip would add to them, sent once (web/frontlane.py)
                catch-all and gzip
    observe     always                  request id (X-Request-ID), access log, request metrics
    hsts        --hsts SECONDS          Strict-Transport-Security on every answer over HTTPS
    cors        settings.cors_origins   CORS headers, preflights (204)
    catch-all   always                  an unexpected exception -> one logged problem+json 500
    rewrite     settings.routes         json-server's --routes rewrites
    auth        --auth                  the caller from ``Authorization: Bearer``; guard prefixes
    rate limit  --rate-limit(-writes)   the client's budgets: X-RateLimit-*/RateLimit headers, 429
    chaos       --chaos(-latency)       a fraction of API requests delayed, or answered 503
    policies    create_app(policies=)   any other pure-ASGI policy; empty by default
    gzip        always                  compress large bodies for clients that accept gzip
    fast lane   fast_reads, no --base,  GET /{collection}/{id} and GET /{collection}?query (lists)
                no --routes, no --delay answered without routing
    (routes)

Why in this order:

- Observe is outermost, so every answer (a preflight, a 429, a chaos 503, a 500) has a request id,
  an access-log line and its count in ``/metrics``, with the time the whole stack took.
- CORS is outermost, so every answer carries its headers (a policy's refusal, the lane's record, a
  500) and a preflight is answered before any policy: browsers send no credentials with one.
- The catch-all comes next, inside CORS: an exception from a policy, the lane or an endpoint is a
  problem+json 500 that a browser page can read, logged once, on a connection kept open.
- The rate limit comes after auth, so a signed-in user spends their own budget wherever they connect
  from; chaos comes after the rate limit, so a refused request is not also delayed; both come before
  the fast lane, which therefore cannot bypass them (``web/limiting.py``, ``web/chaos.py``).
- Policies come before the fast lane, so they apply to the requests it answers by construction. A
  policy is a pure-ASGI middleware, declared as ``starlette.middleware.Middleware(cls, **options)``;
  it sees every HTTP, WebSocket and lifespan scope and passes on what it does not handle.
- Gzip wraps the fast lane, so the lane's answers are compressed exactly as the routes' are.
- The rewrite comes before auth, so that json-server-auth's ``routes.json`` (``{"/notes*":
  "/600/notes$1"}``) works: the guard prefix it adds is what the auth layer takes off the path and
  applies. Policies see the rewritten path too (the resource actually asked for).
- The front lane is the fast lane again, outermost, for a stack that would only decorate its answers
  (observe's id, metrics and log line; CORS's ``Vary``; gzip): it adds those itself, and lets down
  the stack whatever it does not answer, an ``Origin`` included. Any other layer (HSTS, auth, a rate
  limit, chaos, a policy) removes it, so it can bypass none.
- The fast lane matches the path as the client sent it: it is absent when the routes are mounted
  under ``--base``, when ``--routes`` rewrites paths and when ``--delay`` slows the endpoints down.

Example:
    >>> [layer.name for layer in present(Parts(Settings(), service))]  # doctest: +SKIP
    ['observe', 'cors', 'catch-all', 'gzip', 'fast lane']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.middleware import Middleware

from jsonserve.config import Settings
from jsonserve.service import Service
from jsonserve.web import docs
from jsonserve.web.auth import AuthPolicy
from jsonserve.web.chaos import Chaos
from jsonserve.web.errors import CatchAll
from jsonserve.web.fastpath import FastReads, LaneReads
from jsonserve.web.frontlane import FrontLane
from jsonserve.web.layers import GZIP_MINIMUM, Cors, Gzip, Hsts
from jsonserve.web.limiting import RateLimit
from jsonserve.web.observe import Observe, RequestIds
from jsonserve.web.ops import Ops
from jsonserve.web.presentation import parse_options
from jsonserve.web.resources import ALL_METHODS
from jsonserve.web.rewrite import RewriteMiddleware

# A browser page reads these on a cross-origin answer (a 401's challenge and a 429's wait included).
EXPOSED = ["X-Total-Count", "Link", "Location", "ETag", "WWW-Authenticate", "Retry-After", "X-Request-ID"]
EXPOSED += ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy"]


@dataclass(frozen=True)
class Parts:
    """What the layers are built from: the settings, the service and ``create_app``'s options."""

    settings: Settings
    service: Service
    policies: tuple[Middleware, ...] = ()
    fast_reads: bool = True
    given_ops: Ops | None = None  # create_app's; else built from the settings
    pages: frozenset[str] = frozenset()  # the routes' pages at /{name} (/db, /login…): not lists

    @functools.cached_property
    def lane_reads(self) -> LaneReads:
        """The fast lane's reads, one for the front lane and the fast lane (one cache of parsed queries)."""
        reserved = frozenset({docs.ASSETS_PATH.strip("/"), "realtime", "_"})  # "_": the data browser
        return LaneReads(self.service, parse_options(self.settings), reserved=reserved, pages=self.pages)

    @functools.cached_property
    def request_ids(self) -> RequestIds:
        """The app's request ids (one sequence, whichever layer gives the id)."""
        return RequestIds()

    @functools.cached_property
    def ops(self) -> Ops:
        """The app's rate limiter, metrics and chaos state (``web/ops.py``)."""
        return self.given_ops or Ops.build(self.settings, self.service)


@dataclass(frozen=True)
class Layer:
    """One named layer of the stack: when it is present, and the middleware it adds then."""

    name: str
    present: Callable[[Parts], bool]
    build: Callable[[Parts], Sequence[Middleware]]


def _cors(parts: Parts) -> list[Middleware]:
    origins = parts.settings.cors_origins or ()
    wildcard = "*" in origins
    return [
        Middleware(
            Cors,
            allow_origins=["*"] if wildcard else list(origins),
            allow_credentials=not wildcard,  # never "any origin" together with credentials
            allow_methods=ALL_METHODS,
            allow_headers=["*"],  # echo any requested header, as json-server 0.17 and 1.x do
            expose_headers=EXPOSED,
            max_age=600,
        )
    ]


def _auth(parts: Parts) -> list[Middleware]:
    accounts = parts.service.accounts
    return [] if accounts is None else [Middleware(AuthPolicy, accounts=accounts, base=parts.settings.base)]


def _observe(parts: Parts) -> list[Middleware]:
    ops, log = parts.ops, not parts.settings.quiet
    return [Middleware(Observe, paths=ops.paths, metrics=ops.metrics, access_log=log, new_id=parts.request_ids)]


def _rate_limit(parts: Parts) -> list[Middleware]:
    limiter = parts.ops.limiter
    return [] if limiter is None else [Middleware(RateLimit, limiter=limiter, paths=parts.ops.paths)]


def _has_chaos(parts: Parts) -> bool:
    return parts.settings.chaos is not None or parts.settings.chaos_latency is not None


def _chaos(parts: Parts) -> list[Middleware]:
    ops, settings = parts.ops, parts.settings
    return [
        Middleware(
            Chaos,
            paths=ops.paths,
            fraction=settings.chaos or 0.0,
            latency=settings.chaos_latency,
            rng=ops.rng,
            on_failure=ops.count_chaos,
        )
    ]


def _has_fast_lane(parts: Parts) -> bool:
    settings = parts.settings
    return parts.fast_reads and not (settings.base or settings.routes or settings.delay_ms)


def _fast_lane(parts: Parts) -> list[Middleware]:
    return [Middleware(FastReads, reads=parts.lane_reads)]


DECORATING = frozenset({"observe", "cors", "catch-all", "gzip"})
"""The layers whose part in a fast-lane answer the front lane does itself."""


def _has_front_lane(parts: Parts) -> bool:
    below = [layer.name for layer in STACK if layer.name != "front lane" and layer.present(parts)]
    return below[-1:] == ["fast lane"] and set(below[:-1]) <= DECORATING


def _front_lane(parts: Parts) -> list[Middleware]:
    ops, log, cors = parts.ops, not parts.settings.quiet, bool(parts.settings.cors_origins)
    return [
        Middleware(
            FrontLane,
            reads=parts.lane_reads,
            paths=ops.paths,
            metrics=ops.metrics,
            access_log=log,
            new_id=parts.request_ids,
            cors=cors,
        )
    ]


def _rewrite(parts: Parts) -> list[Middleware]:
    return [Middleware(RewriteMiddleware, rules=parts.settings.routes)]


STACK: tuple[Layer, ...] = (
    Layer("front lane", _has_front_lane, _front_lane),
    Layer("observe", lambda _parts: True, _observe),
    Layer("hsts", lambda parts: parts.settings.hsts > 0, lambda parts: [Middleware(Hsts, max_age=parts.settings.hsts)]),
    Layer("cors", lambda parts: bool(parts.settings.cors_origins), _cors),
    Layer("catch-all", lambda _parts: True, lambda _parts: [Middleware(CatchAll)]),
    Layer("rewrite", lambda parts: bool(parts.settings.routes), _rewrite),
    Layer("auth", lambda parts: parts.service.accounts is not None, _auth),
    Layer("rate limit", lambda parts: parts.ops.limiter is not None, _rate_limit),
    Layer("chaos", _has_chaos, _chaos),
    Layer("policies", lambda parts: bool(parts.policies), lambda parts: parts.policies),
    Layer("gzip", lambda _parts: True, lambda _parts: [Middleware(Gzip, minimum_size=GZIP_MINIMUM)]),
    Layer("fast lane", _has_fast_lane, _fast_lane),
)
"""The layers, outermost first (see the table above)."""


def present(parts: Parts) -> tuple[Layer, ...]:
    """The layers of :data:`STACK` present for these parts, outermost first."""
    return tuple(layer for layer in STACK if layer.present(parts))


def middleware(parts: Parts) -> list[Middleware]:
    """The Starlette middleware list (outermost first) for these parts."""
    return [item for layer in present(parts) for item in layer.build(parts)]
