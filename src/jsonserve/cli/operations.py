"""The operations options of ``jsonserve`` (docs/operations.md): their checks, Settings fields and banner line.

``--redis URL`` is defined here, once, for every feature that shares Redis between instances (the
rate-limit counters, and realtime's channel messages: ``realtime/brokers.py``).

Example:
    >>> chaos_latency("50-500"), rate_limit("100/minute;10/second")
    ((50, 500), '100/minute;10/second')
"""

from __future__ import annotations

import re
from pathlib import Path

from jsonserve.cli.options import OptionError, console
from jsonserve.config import Settings
from jsonserve.ratelimit import RateLimitError, parse_policies
from jsonserve.server import Ready
from jsonserve.storage.registry import masked

_LATENCY = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")
MAX_LATENCY_MS = 60_000
RATE_LIMIT_HELP = "Requests per client, e.g. '100/minute;10/second' (a user's when signed in, else per address)."


def rate_limit(text: str) -> str:
    """``--rate-limit`` and ``--rate-limit-writes``: budgets ``limits`` can parse (empty: none)."""
    try:
        parse_policies(text)
    except RateLimitError as error:
        raise OptionError(str(error)) from None
    return text.strip()


def chaos_latency(text: str | None) -> tuple[int, int] | None:
    """``--chaos-latency 50-500`` (ms, a range) or ``100`` (always that much) -> ``(low, high)``."""
    if text is None:
        return None
    match = _LATENCY.match(text)
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (1, 0)
    if not low <= high <= MAX_LATENCY_MS:
        raise OptionError(
            f"{text!r} is not a range of milliseconds such as 50-500 (low <= high <= {MAX_LATENCY_MS})",
            param_hint="--chaos-latency",
        )
    return low, high


def redis_url(url: str | None) -> str | None:
    """``--redis``: a ``redis://``, ``rediss://`` or ``redis+unix://`` URL."""
    if url is not None and not re.match(r"^(redis|rediss|redis\+unix)://.+", url):
        raise OptionError(f"{url!r} is not a Redis URL such as redis://127.0.0.1:6379/0", param_hint="--redis")
    return url


def proxies(text: str | None) -> tuple[str, ...]:
    """``--forwarded-allow-ips``: comma-separated addresses or networks of trusted proxies (``*``: any)."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def with_operations(settings: Settings, **options: object) -> Settings:
    """``settings`` with the operations options (rate limits, Redis, proxies, chaos, seed, metrics, log format)."""
    return settings.replace(**options)


def with_tls(settings: Settings, cert: Path | None, key: Path | None, self_signed: bool) -> Settings:
    """``settings`` with HTTPS: a certificate and its key (both or neither), or ``--tls-self-signed``."""
    if (cert is None) != (key is None):
        raise OptionError("give both --tls-cert and --tls-key (or --tls-self-signed)", param_hint="--tls-cert")
    if self_signed and cert is not None:
        raise OptionError(
            "give a certificate (--tls-cert, --tls-key) or --tls-self-signed, not both", param_hint="--tls-self-signed"
        )
    return settings.replace(tls_cert=cert, tls_key=key, tls_self_signed=self_signed)


def tls_banner(settings: Settings, ready: Ready) -> None:
    """The banner's HTTPS line: the certificate and its SHA-256 fingerprint (compare with what a client shows)."""
    if not settings.tls:
        return
    kind = "self-signed for localhost, new at each start" if settings.tls_self_signed else "certificate"
    console.print(f"[bold]TLS[/]       {escape_all([str(ready.certificate)])}  [dim]{kind}[/]", soft_wrap=True)
    console.print(f"          SHA-256 {ready.tls_fingerprint}", soft_wrap=True)
    if settings.hsts:
        console.print(f"          [dim]HSTS max-age={settings.hsts}[/]")
    console.print()


def operations_banner(settings: Settings) -> None:
    """The banner's operations line: what is on (rate limits, chaos, metrics), if anything."""
    parts = []
    if settings.rate_limit or settings.rate_limit_writes:
        limits = "; ".join(
            filter(None, [settings.rate_limit, settings.rate_limit_writes and "writes " + settings.rate_limit_writes])
        )
        store = f"in Redis {masked(settings.redis_url)}" if settings.redis_url else "in memory"
        parts.append(f"rate limits {limits} ({store})")
    if settings.chaos is not None or settings.chaos_latency is not None:
        latency = f", {settings.chaos_latency[0]}-{settings.chaos_latency[1]} ms" if settings.chaos_latency else ""
        parts.append(f"chaos {settings.chaos or 0:g}{latency}")
    if settings.metrics:
        parts.append("metrics at /metrics")
    if parts:
        console.print(f"[bold]Ops[/]       {escape_all(parts)}  [dim]/health /ready[/]\n")


def escape_all(parts: list[str]) -> str:
    """The parts joined for Rich, with their markup characters escaped."""
    from rich.markup import escape

    return escape(", ".join(parts))
