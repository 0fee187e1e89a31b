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
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

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
_new = tuple.__new__
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


class _Window:
    """One client's count in one policy's current window, updated in place."""

    __slots__ = ("count", "ends")

    def __init__(self, ends: float) -> None:
        self.count = 0
        self.ends = ends  # Unix time


class _MemoryWindows:
    """Fixed windows in dicts, one per policy, keyed by client; ended ones swept every :data:`SWEEP_EVERY` s.

    Why not ``limits``' memory storage: it starts a thread that expires keys every 10 ms, and a hit
    plus its window's stats are two calls that each build the key. In memory this bookkeeping is the
    whole price of the layer (``bench/ratelimit.py``), so a table per policy spares the key strings
    and a window is counted in place. Redis keeps ``limits``: its keys and expiry are what the other
    instances share. The sweep runs as a hit opens a new window, at most every :data:`SWEEP_EVERY` s.
    """

    def __init__(self) -> None:
        self.tables: list[dict[str, _Window]] = []  # one per policy: client key -> its window
        self._next_sweep = 0.0

    def table(self) -> dict[str, _Window]:
        """A new table, for one policy."""
        table: dict[str, _Window] = {}
        self.tables.append(table)
        return table

    def open(self, table: dict[str, _Window], key: str, now: float, expiry: int) -> _Window:
        """A new window of ``expiry`` seconds for ``key`` in ``table``, from ``now``, not yet counted."""
        if now >= self._next_sweep:
            self._sweep(now)
        window = table[key] = _Window(now + expiry)
        return window

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_EVERY
        for table in self.tables:
            for key in [key for key, window in table.items() if window.ends <= now]:
                del table[key]

    def clear(self) -> None:
        """Forget every count."""
        for table in self.tables:
            table.clear()


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
        """Count one hit of ``key`` (a window of ``expiry`` s opens at the first): the count and the window's end."""
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
        self.shared = redis_url is not None
        self._redis = _RedisCounter(redis_url) if redis_url is not None else None
        self._memory = _MemoryWindows()
        tables = [(policy, self._memory.table()) for policy in self._with_writes]
        self._tables = {False: tuple(tables[: len(self.policies)]), True: tuple(tables)}
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
        if self._redis is None:
            return self.hit_in_memory(key, write=write)
        policies = self._with_writes if write else self.policies
        if not policies:
            return None
        try:
            return await self._hit_shared(self._redis, key, policies)
        except _store_errors() as error:  # evaluated only when something is raised
            self._warn(error)
            return None

    def hit_in_memory(self, key: str, *, write: bool = False) -> Decision | None:
        """:meth:`hit` without a coroutine, for a limiter whose counts are this process's (not :attr:`shared`).

        Nothing here waits, so the HTTP layer calls this on every request rather than awaiting :meth:`hit`.
        """
        # Straight-line code: it runs on every request (bench/ratelimit.py measures it).
        tables = self._tables[write]
        if not tables:
            return None
        now = self._clock()
        chosen = tables[0][0]
        remaining, ends, allowed = chosen.amount + 1, now, True
        for policy, table in tables:
            window = table.get(key)
            if window is None or window.ends <= now:
                window = self._memory.open(table, key, now, policy.window)
            window.count += 1
            left = policy.amount - window.count
            if left < 0:
                self.refused += 1
                chosen, remaining, ends, allowed = policy, 0, window.ends, False
                break
            if left < remaining or (left == remaining and policy.window > chosen.window):
                chosen, remaining, ends = policy, left, window.ends
        reset = math.ceil(ends - now)
        reset = 1 if reset < 1 else chosen.window if reset > chosen.window else reset
        policies = self._with_writes if write else self.policies
        # tuple.__new__: a named tuple's own __new__ is a Python function (a frame more per request)
        return _new(Decision, (allowed, chosen, remaining, reset, math.ceil(ends), policies))

    async def _hit_shared(self, redis: _RedisCounter, key: str, policies: tuple[Policy, ...]) -> Decision:
        now = self._clock()
        chosen = policies[0]
        remaining, ends, allowed = chosen.amount + 1, now, True
        for policy in policies:
            count, policy_ends = await redis.hit(policy.key_for(key), policy.window)
            left = policy.amount - count
            if left < 0:
                self.refused += 1
                chosen, remaining, ends, allowed = policy, 0, policy_ends, False
                break
            if left < remaining or (left == remaining and policy.window > chosen.window):
                chosen, remaining, ends = policy, left, policy_ends
        return _decision(allowed, chosen, remaining, ends, now, policies)

    async def check(self) -> str | None:
        """``None`` when the counter store answers, else why not (for ``/ready``)."""
        if self._redis is None:
            return None
        try:
            if await self._redis.check():
                return None
        except _store_errors() as error:  # evaluated only when something is raised
            return f"the rate-limit store cannot be reached ({_reason(error)})"
        return "the rate-limit store cannot be reached"

    async def aclose(self) -> None:
        """Release the counter store (the Redis connections; the counts held in memory)."""
        self._memory.clear()
        if self._redis is not None:
            await self._redis.aclose()

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("rate limits not applied: the rate-limit store cannot be reached (%s)", _reason(error))


def _decision(
    allowed: bool, policy: Policy, remaining: int, ends: float, now: float, policies: tuple[Policy, ...]
) -> Decision:
    reset = math.ceil(ends - now)
    reset = 1 if reset < 1 else policy.window if reset > policy.window else reset
    return Decision(allowed, policy, remaining, reset, math.ceil(ends), policies)


def _reason(error: Exception) -> str:
    inner = getattr(error, "storage_error", None) or error
    return str(inner) or type(inner).__name__
