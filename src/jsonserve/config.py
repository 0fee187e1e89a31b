"""Settings: every option of the server in one frozen value.

The CLI and the testing helpers build a :class:`Settings`; layers below ``service`` never read it,
they receive plain constructor arguments.

Example:
    >>> Settings(source="db.json", port=3001).port
    3001
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Compat = Literal["0.17", "1"]
LogFormat = Literal["text", "json"]

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_PAGE_SIZE = 1000
MAX_DELAY_MS = 60_000
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds to send a request's headers (slowloris); 0 = no deadline
DEFAULT_BODY_TIMEOUT = 30.0  # seconds from the end of the headers to the end of the body; 0 = no deadline
DEFAULT_MAX_CONNECTIONS = 1000  # open connections per process; beyond it 503 (0 = no limit)
DEFAULT_TOKEN_TTL = 3600  # seconds: an access token's lifetime (--token-ttl)
DEFAULT_REFRESH_TTL = 14 * 24 * 3600  # seconds a refresh token is valid (--refresh-ttl): PocketBase's session length
# Realtime (reference/realtime.md): per connection, unless said otherwise.
DEFAULT_REALTIME_SUBSCRIPTIONS = 100
DEFAULT_REALTIME_MESSAGE = 64 * 1024  # bytes in one client message
DEFAULT_REALTIME_PUBLISH_RATE = 50  # channel publishes per second
DEFAULT_REALTIME_SEND_QUEUE = 1000  # frames queued for a client before it is closed as too slow (1013)
DEFAULT_SSE_KEEPALIVE = 15.0  # seconds between SSE keep-alive comments
DEFAULT_SHUTDOWN_TIMEOUT = 10.0  # seconds in-flight requests have after SIGTERM/SIGINT before they are cancelled


@dataclass(frozen=True)
class Settings:
    """Server options (see ``jsonserve --help``)."""

    source: str | None = None
    host: str = "127.0.0.1"
    port: int = 3000
    watch: bool | None = None
    static_dir: Path | None = None
    no_static: bool = False
    read_only: bool = False
    delay_ms: int = 0
    base: str = ""
    routes: dict[str, str] = field(default_factory=dict)
    id_field: str = "id"
    fk_suffix: str = "Id"
    compat: Compat = "0.17"
    cors_origins: tuple[str, ...] | None = ("*",)
    max_body: int = DEFAULT_MAX_BODY
    max_depth: int = 64
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE
    quiet: bool = False
    indexes: tuple[str, ...] = ()  # ``COLLECTION.FIELD`` expression indexes (SQL backends; ignored by the others)
    workers: int = 1  # server processes (SQL backends only: a JSON file is owned by one process)
    schema_file: Path | None = None  # ``--schema``: collection -> JSON Schema, validating writes
    timestamps: bool = False  # ``--timestamps``: server-managed createdAt/updatedAt
    auto_create: bool = False  # ``--auto-create``: a POST to a missing collection creates it
    docs: bool = True  # ``/openapi.json``, ``/docs`` and ``/redoc`` (``--no-docs`` turns them off)
    graphql: bool = True  # ``/graphql`` and its GraphiQL page (``--no-graphql`` turns them off)
    graphql_introspection: bool = True  # ``--graphql-introspection off``: no ``__schema``/``__type``
    header_timeout: float = DEFAULT_HEADER_TIMEOUT  # ``--header-timeout``
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # ``--body-timeout``
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # ``--max-connections``
    auth: bool = False  # ``--auth``: users, login, JWT and access rules (docs: reference/auth.md)
    rules_file: Path | None = None  # ``--rules``: the access rules (json-server-auth modes or the long form)
    jwt_secret_file: Path | None = None  # ``--jwt-secret-file`` (else JSONSERVE_JWT_SECRET, else a generated file)
    jwt_private_key: Path | None = (
        None  # ``--jwt-private-key``: a PEM RSA or Ed25519 key (RS256/EdDSA); wins over the above
    )
    token_ttl: int = DEFAULT_TOKEN_TTL  # ``--token-ttl``: seconds an access token is valid
    refresh_ttl: int = DEFAULT_REFRESH_TTL  # ``--refresh-ttl``: seconds a refresh token is valid (0: none issued)
    hide_forbidden: bool = False  # ``--hide-forbidden``: 404 instead of 403 for one record the caller may not read
    realtime_subscriptions: int = DEFAULT_REALTIME_SUBSCRIPTIONS  # ``--realtime-subs``
    realtime_message: int = DEFAULT_REALTIME_MESSAGE  # ``--realtime-message``
    realtime_publish_rate: int = DEFAULT_REALTIME_PUBLISH_RATE  # ``--realtime-rate`` (0: no limit)
    realtime_send_queue: int = DEFAULT_REALTIME_SEND_QUEUE  # ``--realtime-queue``
    sse_keepalive: float = DEFAULT_SSE_KEEPALIVE  # ``--sse-keepalive``
    # Operations (docs/operations.md). ``redis_url`` is THE one Redis setting (``--redis``): the rate-limit
    # counters use it, and so does any other cross-instance mechanism (realtime's hub backend).
    redis_url: str | None = None  # ``--redis redis://host:port/db``
    rate_limit: str = ""  # ``--rate-limit "100/minute;10/second"``: every request, per client
    rate_limit_writes: str = ""  # ``--rate-limit-writes "20/minute"``: writes only, on top of --rate-limit
    forwarded_allow_ips: tuple[str, ...] = ()  # ``--forwarded-allow-ips``: proxies trusted for X-Forwarded-For
    chaos: float | None = None  # ``--chaos 0.1``: that fraction of API requests answered 503 (0: only ``_chaos``)
    chaos_latency: tuple[int, int] | None = None  # ``--chaos-latency 50-500``: a random delay in ms
    seed: int | None = None  # ``--seed``: the chaos's random sequence (None: a new one each start)
    metrics: bool = False  # ``--metrics``: Prometheus text at /metrics
    log_format: LogFormat = "text"  # ``--log-format text|json``
    tls_cert: Path | None = None  # ``--tls-cert``: PEM certificate (chain); HTTPS with ``tls_key``
    tls_key: Path | None = None  # ``--tls-key``: its PEM private key
    tls_self_signed: bool = False  # ``--tls-self-signed``: a new localhost certificate at each start
    hsts: int = 0  # ``--hsts SECONDS``: Strict-Transport-Security max-age on HTTPS answers (0: none)
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT  # ``--shutdown-timeout``: seconds to finish requests

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS (a certificate given or made)."""
        return self.tls_cert is not None or self.tls_self_signed

    @property
    def watching(self) -> bool:
        """Whether the data file is watched: ``--watch``, or by default under ``--compat 1``."""
        return self.compat == "1" if self.watch is None else self.watch

    def replace(self, **changes: object) -> Settings:
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
