"""``--metrics``: the Prometheus metrics of one app, in a registry of its own (never the global one).

Requests are counted by route template, method and status, and timed by route template and method
(:class:`~jsonserve.web.paths.Route`: a bounded label set). Everything else is read when scraped,
from counters the parts keep anyway (the hub's, the rate limiter's, the chaos layer's), so serving
a request costs one counter and one histogram update. The JSON file backend's journal reports
each fsync's duration.

Example:
    >>> metrics = Metrics(service)  # doctest: +SKIP
    >>> metrics.observe("/{name}/{id}", "GET", 200, 0.0004)  # doctest: +SKIP
    >>> metrics.render().decode()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from jsonserve.ratelimit import RateLimiter
from jsonserve.service import Service

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The registry of one app and the request metrics its access layer updates."""

    def __init__(self, service: Service, limiter: RateLimiter | None = None, chaos: Callable[[], int] = lambda: 0):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "jsonserve_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jsonserve_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fsync = Histogram(
            "jsonserve_journal_fsync_seconds",
            "Duration of each fsync of the JSON file backend's journal (a group commit of writes).",
            buckets=FSYNC_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Live(service, limiter, chaos))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        service.storage.observe_syncs(self.fsync.observe)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and time it."""
        method = method if method in METHODS else "OTHER"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class _Live:
    """Metrics read when scraped: writes, realtime subscribers, rate-limited and chaos-failed requests."""

    def __init__(self, service: Service, limiter: RateLimiter | None, chaos: Callable[[], int]) -> None:
        self.service = service
        self.limiter = limiter
        self.chaos = chaos

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        hub = self.service.hub
        writes = CounterMetricFamily(
            "jsonserve_writes", "Committed changes (records created, updated, deleted), by action.", labels=["action"]
        )
        for action in ("created", "updated", "deleted"):
            writes.add_metric([action], hub.actions.get(action, 0))
        yield writes
        yield GaugeMetricFamily(
            "jsonserve_realtime_subscribers", "Live realtime subscriptions (changes and channels).", hub.subscribers
        )
        yield CounterMetricFamily(
            "jsonserve_realtime_dropped_subscribers",
            "Subscribers dropped because they fell behind (their bounded queue was full).",
            hub.dropped,
        )
        refused = 0 if self.limiter is None else self.limiter.refused
        yield CounterMetricFamily("jsonserve_rate_limited", "Requests refused by --rate-limit (429).", refused)
        yield CounterMetricFamily(
            "jsonserve_chaos_failures", "Requests failed on purpose by --chaos (503).", self.chaos()
        )
