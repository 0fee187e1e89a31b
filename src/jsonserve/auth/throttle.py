"""Login throttling: failures counted per key (an account, a client address) in a sliding window.

Example:
    >>> throttle = Throttle(limit=2, window=60.0, clock=lambda: 0.0)
    >>> throttle.failed("ada"); throttle.failed("ada"); throttle.retry_after("ada")
    60
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """At most ``limit`` failures per key within ``window`` seconds; beyond, callers wait (in-process counts)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys  # an attacker rotating keys cannot grow this without bound
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or ``None`` when it may now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - self._clock()))

    def failed(self, key: str) -> None:
        """Count one failure of ``key``."""
        if key not in self._failures and len(self._failures) >= self._max_keys:
            self._forget_expired()
        failures = self._failures.setdefault(key, deque())
        failures.append(self._clock())
        while len(failures) > self.limit:
            failures.popleft()

    def clear(self) -> None:
        """Forget every key's failures."""
        self._failures.clear()

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a success)."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _forget_expired(self) -> None:
        for key in list(self._failures):
            self._recent(key)
        if len(self._failures) >= self._max_keys:  # still full: forget the oldest half
            oldest = sorted(self._failures, key=lambda name: self._failures[name][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._failures[key]
