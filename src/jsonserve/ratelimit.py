"""Rate limits: budgets of requests per client and window, counted in memory or in Redis (``limits``).

``--rate-limit "100/minute;10/second"`` gives every client these budgets for all its requests, and
``--rate-limit-writes "20/minute"`` further budgets for its writes only. A budget is the ``limits``
library's fixed window: the first hit opens a window of the policy's length, and the counter starts
again when it ends. In memory the counts are this process's own; with ``--redis URL`` every instance
(and every ``--workers`` process) shares them.

Transports call :meth:`RateLimiter.hit` once per request, WebSocket message or GraphQL operation,
with the client's key (:func:`client_key`); the :class:`Decision` says whether to serve it and what
to tell the client (the web layer turns it into headers and a 429).

Example:
    >>> limiter = RateLimiter(parse_policies("2/minute"))
    >>> [(await limiter.hit("address:127.0.0.1")).allowed for _ in range(3)]  # doctest: +SKIP
    [True, True, False]
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from limits import RateLimitItem

# ``limits`` is imported where it is used: it costs about as much start-up time as the rest of the
# server (its asyncio storages pull in ``deprecated`` and ``wrapt``), and most servers have no limit.

__all__ = [
    "Decision",
    "Policy",
    "RateLimitError",
    "RateLimiter",
    "client_key",
    "parse_policies",
]

log = logging.getLogger("jsonserve.ratelimit")
Scope = Literal["all", "writes"]
KEY_PREFIX = "jsonserve"  # Redis keys: jsonserve:LIMITER/<client key>/<scope>/<amount>/<multiples>/<unit>
WARN_EVERY = 60.0  # seconds between two warnings that the counter store cannot be reached
SWEEP_EVERY = 10.0  # seconds between two sweeps of the expired windows held in memory


class RateLimitError(ValueError):
    """A ``--rate-limit`` text that does not parse, or a ``--redis`` URL ``limits`` cannot use."""


@dataclass(frozen=True)
class Policy:
    """One budget: ``amount`` requests per ``window`` seconds, for all requests or for writes only.

    Example:
        >>> Policy(parse_many("10/second")[0], "all").name, Policy(parse_many("20 per 2 minutes")[0], "writes").window
        ('all-1s', 120)
    """

    item: RateLimitItem
    scope: Scope = "all"

    # Read on every request: computed once (a frozen dataclass keeps them in its __dict__).
    @functools.cached_property
    def amount(self) -> int:
        """Requests allowed per window."""
        return self.item.amount

    @functools.cached_property
    def window(self) -> int:
        """The window's length in seconds."""
        return self.item.get_expiry()

    @functools.cached_property
    def name(self) -> str:
        """The policy's name in the ``RateLimit`` and ``RateLimit-Policy`` fields, e.g. ``all-60s``."""
        return f"{self.scope}-{self.window}s"

    @functools.cached_property
    def _suffix(self) -> str:
        return self.item.key_for(self.scope).removeprefix(self.item.namespace + "/")

    def key_for(self, client: str) -> str:
        """The counter's key for ``client``: ``limits``' key (``item.key_for(client, scope)``), built faster.

        Example:
            >>> Policy(parse_many("10/second")[0]).key_for("address:::1")
            'LIMITER/address:::1/all/10/1/second'
        """
        return f"{self.item.namespace}/{client}/{self._suffix}"


def parse_policies(text: str, scope: Scope = "all") -> tuple[Policy, ...]:
    """``"100/minute;10/second"`` -> its policies (``;``, ``,`` or ``|`` between them); empty text: none.

    Raises :class:`RateLimitError` with the accepted forms when the text does not parse.

    Example:
        >>> [policy.name for policy in parse_policies("100/minute; 10/second")]
        ['all-60s', 'all-1s']
    """
    if not text.strip():
        return ()
    from limits import parse_many

    try:
        items = parse_many(text.strip())
    except ValueError:
        raise RateLimitError(
            f"{text!r} is not a rate limit such as 100/minute, 10/second or 1000 per 2 hours "
            "(several: separate them with ';')"
        ) from None
    if any(item.amount < 1 for item in items):
        raise RateLimitError(f"{text!r}: a budget allows at least 1 request per window")
    return tuple(Policy(item, scope) for item in items)


def client_key(user_id: str | None, address: str | None) -> str:
    """Whose budget a request spends: the signed-in user's, else the client address's.

    Example:
        >>> client_key("7", "10.0.0.1"), client_key(None, "::1"), client_key(None, None)
        ('user:7', 'address:::1', 'address:unknown')
    """
    return f"user:{user_id}" if user_id is not None else f"address:{address or 'unknown'}"


class Decision(NamedTuple):
    """What one hit found: served or not, and the policy to report (the one nearest to refusing).

    ``reset`` is the seconds until that policy's window ends (at least 1 while anything is counted),
    ``reset_at`` the same moment as a Unix time; ``policies`` every policy the hit counted against.
    (A named tuple: one is made per request, and a frozen dataclass costs twice as much to make.)
    """

    allowed: bool
    policy: Policy
    remaining: int
    reset: int
    reset_at: int
    policies: tuple[Policy, ...]

    @property
    def retry_after(self) -> int:
        """Seconds to wait before the next try (``Retry-After`` of a 429)."""
        return max(1, self.reset)


class _Counter(Protocol):
    """One fixed-window counter store: ``hit`` counts, opening a window at the first hit, and says when it ends."""

    async def hit(self, key: str, expiry: int) -> tuple[int, float]: ...

    async def check(self) -> bool: ...

    async def aclose(self) -> None: ...


class _MemoryCounter:
    """Fixed windows in a dict (``limits``' own memory storage starts a thread every 10 ms to expire keys).

    Expired windows are swept at most every :data:`SWEEP_EVERY` seconds, as a hit opens a new window.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._windows: dict[str, list[float]] = {}  # key -> [count, the window's end]
        self._clock = clock
        self._next_sweep = 0.0

    async def hit(self, key: str, expiry: int) -> tuple[int, float]:
        return self.count(key, expiry)

    def count(self, key: str, expiry: int) -> tuple[int, float]:
        """:meth:`hit` without the coroutine: nothing here waits (the limiter calls this on every request)."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            if now >= self._next_sweep:
                self._sweep(now)
            window = self._windows[key] = [0, now + expiry]
        window[0] += 1
        return int(window[0]), window[1]

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_EVERY
        for key in [key for key, (_count, ends) in self._windows.items() if ends <= now]:
            del self._windows[key]

    async def check(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._windows.clear()


def _store_errors() -> tuple[type[Exception], ...]:
    """What a counter store raises when it cannot be reached (``limits``' own error, or the socket's)."""
    from limits.errors import StorageError

    return (StorageError, OSError, ConnectionError)


class _RedisCounter:
    """``limits``' asyncio Redis storage (redis-py), keys under :data:`KEY_PREFIX`."""

    def __init__(self, url: str) -> None:
        from limits.aio.storage import RedisStorage
        from limits.errors import ConfigurationError

        scheme, _, rest = url.partition("://")
        if scheme not in ("redis", "rediss", "redis+unix") or not rest:
            raise RateLimitError(f"{url!r} is not a Redis URL such as redis://127.0.0.1:6379/0")
        try:
            self.storage: Any = RedisStorage(
                f"async+{url}", implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True
            )
        except ConfigurationError as error:  # the redis package is missing
            raise RateLimitError(f"--redis needs the redis package: pip install 'jsonserve[redis]' ({error})") from None

    async def hit(self, key: str, expiry: int) -> tuple[int, float]:
        count = int(await self.storage.incr(key, expiry))
        return count, float(await self.storage.get_expiry(key))

    async def check(self) -> bool:
        return bool(await self.storage.check())

    async def aclose(self) -> None:
        await self.storage.bridge.get_connection().aclose()


class RateLimiter:
    """Counts hits per client key against every policy that applies, in memory or in Redis.

    When the Redis store cannot be reached the request is served (the limits open, not the API
    closed), a warning is logged at most once a minute, and ``/ready`` reports it.

    Args:
        policies: the budgets of every request (``--rate-limit``).
        write_policies: the budgets of writes only (``--rate-limit-writes``), on top of ``policies``.
        redis_url: ``redis://host:port/db`` to share the counts between instances; ``None``: this process only.
        clock: Unix time, for ``reset_at`` (injected in tests).
    """

    def __init__(
        self,
        policies: Sequence[Policy],
        write_policies: Sequence[Policy] = (),
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policies = tuple(policies)
        self.write_policies = tuple(write_policies)
        self._with_writes = self.policies + self.write_policies
        self._memory = None if redis_url else _MemoryCounter(clock)
        self._counter: _Counter = self._memory or _RedisCounter(redis_url or "")
        self.shared = redis_url is not None
        self._clock = clock
        self._warned = -math.inf
        self.refused = 0  # hits refused (the rate-limited requests counter of /metrics)

    def applicable(self, *, write: bool = False) -> tuple[Policy, ...]:
        """The policies a request counts against: every request's, and the writes' for a write."""
        return self._with_writes if write else self.policies

    async def hit(self, key: str, *, write: bool = False) -> Decision | None:
        """Count one request (or message, or operation) of ``key``; ``None`` when no policy applies.

        The policies are counted in order until one refuses: a refused hit is not counted against
        the ones after it. The decision reports the refusing policy, else the one with the fewest
        requests left (the longest window on a tie).
        """
        policies = self._with_writes if write else self.policies
        if not policies:
            return None
        try:
            return await self._hit(key, policies)
        except _store_errors() as error:  # evaluated only when something is raised
            self._warn(error)
            return None

    async def _hit(self, key: str, policies: tuple[Policy, ...]) -> Decision:
        # Straight-line code: it runs on every request (bench/ratelimit.py measures it).
        now = self._clock()
        chosen = policies[0]
        remaining, ends, allowed = chosen.amount + 1, now, True
        memory = self._memory
        for policy in policies:
            if memory is not None:
                count, policy_ends = memory.count(policy.key_for(key), policy.window)
            else:
                count, policy_ends = await self._counter.hit(policy.key_for(key), policy.window)
            left = policy.amount - count
            if left < 0:
                self.refused += 1
                chosen, remaining, ends, allowed = policy, 0, policy_ends, False
                break
            if left < remaining or (left == remaining and policy.window > chosen.window):
                chosen, remaining, ends = policy, left, policy_ends
        reset = math.ceil(ends - now)
        reset = 1 if reset < 1 else chosen.window if reset > chosen.window else reset
        return Decision(allowed, chosen, remaining, reset, math.ceil(ends), policies)

    async def check(self) -> str | None:
        """``None`` when the counter store answers, else why not (for ``/ready``)."""
        try:
            if await self._counter.check():
                return None
        except _store_errors() as error:  # evaluated only when something is raised
            return f"the rate-limit store cannot be reached ({_reason(error)})"
        return "the rate-limit store cannot be reached"

    async def aclose(self) -> None:
        """Release the counter store (the Redis connections; the memory store's expiry timer)."""
        await self._counter.aclose()

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("rate limits not applied: the rate-limit store cannot be reached (%s)", _reason(error))


def _reason(error: Exception) -> str:
    inner = getattr(error, "storage_error", None) or error
    return str(inner) or type(inner).__name__
