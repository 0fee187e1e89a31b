"""The limits of one realtime connection, and the publish rate limiter.

Example:
    >>> bucket = RateLimit(2, clock=lambda: 0.0)
    >>> bucket.allow(), bucket.allow(), bucket.allow()
    (True, True, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_SUBSCRIPTIONS = 100
DEFAULT_MESSAGE_BYTES = 64 * 1024
DEFAULT_PUBLISH_RATE = 50
DEFAULT_SEND_QUEUE = 1000
DEFAULT_INVALID_IN_A_ROW = 10
DEFAULT_KEEPALIVE = 15.0
DEFAULT_RECHECK = 30.0
"""Seconds between two checks of a signed-in connection's token (revoked by a logout, expired...)."""


def _recheck() -> float:
    return DEFAULT_RECHECK  # read when a Limits is made, so that a test can shorten it


@dataclass(frozen=True)
class Limits:
    """Per connection: subscriptions, the size of a client message, publishes per second, frames queued.

    ``invalid_in_a_row`` invalid messages in a row close a WebSocket with 1008; ``keepalive`` is the
    seconds between the SSE ``: keep-alive`` comments; ``recheck`` the seconds between two checks of
    a signed-in connection's token (0: never).
    """

    subscriptions: int = DEFAULT_SUBSCRIPTIONS
    message_bytes: int = DEFAULT_MESSAGE_BYTES
    publish_rate: int = DEFAULT_PUBLISH_RATE
    send_queue: int = DEFAULT_SEND_QUEUE
    invalid_in_a_row: int = DEFAULT_INVALID_IN_A_ROW
    keepalive: float = DEFAULT_KEEPALIVE
    recheck: float = field(default_factory=_recheck)


class RateLimit:
    """A token bucket: ``rate`` per second, bursts of up to ``rate`` (0: no limit)."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = float(rate)
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(float(self.rate), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
