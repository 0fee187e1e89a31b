"""The stack's rate-limit layer (``--rate-limit``, ``--rate-limit-writes``): headers on each counted answer, 429 beyond.

Each HTTP request and WebSocket handshake counts against its client's budgets (the signed-in user's,
else the client address's: the auth layer runs first) through the app's
:class:`~jsonserve.ratelimit.RateLimiter`, which other transports call for their messages
(``request.app.state.rate_limiter``). The operations endpoints (``/health``, ``/ready``,
``/metrics``) are not counted. Every counted answer carries::

    X-RateLimit-Limit: 10            the reported policy's budget
    X-RateLimit-Remaining: 9         what is left of it
    X-RateLimit-Reset: 1767225600    when its window ends (Unix time, as GitHub's)
    RateLimit-Policy: "all-60s";q=100;w=60, "all-1s";q=10;w=1
    RateLimit: "all-1s";r=9;t=1      (IETF draft-ietf-httpapi-ratelimit-headers-10: t in seconds)

and a refused one is a ``429`` problem+json with ``Retry-After``.

Example:
    >>> Middleware(RateLimit, limiter=RateLimiter(parse_policies("10/second")), paths=paths)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve.errors import TooManyRequests
from jsonserve.ratelimit import Decision, Policy, RateLimiter, client_key
from jsonserve.web.errors import domain_response
from jsonserve.web.http import PRINCIPAL_KEY
from jsonserve.web.observe import RESPONSE_HEADERS_KEY
from jsonserve.web.paths import WRITE_METHODS, Paths, route_of


def key_of(scope: Scope) -> str:
    """Whose budget a request spends: ``user:<id>`` when signed in, else ``address:<client address>``.

    The client address is the connection's, or the one a proxy trusted by ``--forwarded-allow-ips`` forwarded.

    Example:
        >>> key_of({"client": ("203.0.113.9", 50000)})
        'address:203.0.113.9'
    """
    principal = scope.get(PRINCIPAL_KEY)
    if principal is not None and principal.id is not None:
        return f"user:{principal.id}"
    client = scope.get("client")
    return f"address:{client[0]}" if client else client_key(None, None)


def policy_field(policies: Iterable[Policy]) -> bytes:
    """The ``RateLimit-Policy`` field of these policies.

    Example:
        >>> from jsonserve.ratelimit import parse_policies
        >>> policy_field(parse_policies("100/minute;10/second"))
        b'"all-60s";q=100;w=60, "all-1s";q=10;w=1'
    """
    return ", ".join(f'"{p.name}";q={p.amount};w={p.window}' for p in policies).encode()


def rate_limit_headers(decision: Decision, policies: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """The response headers that report ``decision`` (see the module's table); ``policies``: its policy field, if known.

    Example:
        >>> from jsonserve.ratelimit import parse_policies
        >>> policy = parse_policies("10/second")[0]
        >>> rate_limit_headers(Decision(True, policy, 9, 1, 1767225600, (policy,)))[3:]
        [(b'ratelimit-policy', b'"all-1s";q=10;w=1'), (b'ratelimit', b'"all-1s";r=9;t=1')]
    """
    policy = decision.policy
    remaining = b"%d" % decision.remaining
    return [
        (b"x-ratelimit-limit", b"%d" % policy.amount),
        (b"x-ratelimit-remaining", remaining),
        (b"x-ratelimit-reset", b"%d" % decision.reset_at),
        (b"ratelimit-policy", policy_field(decision.policies) if policies is None else policies),
        (b"ratelimit", b'"%s";r=%s;t=%d' % (policy.name.encode(), remaining, decision.reset)),
    ]


def refusal(decision: Decision) -> TooManyRequests:
    """The 429 of a refused request: which budget, and when it is back."""
    policy = decision.policy
    what = "writes" if policy.scope == "writes" else "requests"
    return TooManyRequests(
        f"rate limit exceeded: {policy.amount} {what} per {policy.window} s; retry in {decision.retry_after} s",
        decision.retry_after,
    )


class RateLimit:
    """Count each request against its client's budgets; headers on the answer, 429 beyond a budget."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, paths: Paths) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths
        self._policies = {write: policy_field(limiter.applicable(write=write)) for write in (False, True)}
        # Each policy's constant pieces, encoded once: its X-RateLimit-Limit header and the start of its
        # RateLimit field. Keyed by identity (hashing a Policy hashes its ``limits`` item, which costs
        # more than the whole header block): the decisions hold the limiter's own objects.
        self._fields = {
            id(p): ((b"x-ratelimit-limit", b"%d" % p.amount), b'"%s";r=' % p.name.encode())
            for p in limiter.applicable(write=True)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or route_of(scope, self.paths).ops:
            await self.app(scope, receive, send)
            return
        write = scope["type"] == "http" and scope["method"] in WRITE_METHODS
        limiter = self.limiter
        if limiter.shared:
            decision = await limiter.hit(key_of(scope), write=write)
        else:  # nothing to wait for: no coroutine (this runs on every request; bench/ratelimit.py)
            decision = limiter.hit_in_memory(key_of(scope), write=write)
        if decision is None:  # no policy applies, or the counter store is unreachable (logged)
            await self.app(scope, receive, send)
            return
        # rate_limit_headers(decision), from the policy's pieces encoded once (inline: it runs on every request)
        limit, name = self._fields[id(decision.policy)]
        remaining = b"%d" % decision.remaining
        headers = [
            limit,
            (b"x-ratelimit-remaining", remaining),
            (b"x-ratelimit-reset", b"%d" % decision.reset_at),
            (b"ratelimit-policy", self._policies[write]),
            (b"ratelimit", b"%s%s;t=%d" % (name, remaining, decision.reset)),
        ]
        if not decision.allowed:
            await self._refuse(scope, receive, send, decision, headers)
            return
        added: list[tuple[bytes, bytes]] | None = scope.get(RESPONSE_HEADERS_KEY)
        if added is not None:  # the observe layer adds them to the answer
            added += headers
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, decision: Decision, headers: list[tuple[bytes, bytes]]
    ) -> None:
        response = domain_response(refusal(decision))
        response.raw_headers.extend(headers)
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 429, "headers": response.raw_headers})
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:  # the server cannot send a response: close (the handshake fails with a 403)
            await send({"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"})
