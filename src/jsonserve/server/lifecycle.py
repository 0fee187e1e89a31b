"""One server process: bind, open the service, serve it with uvicorn until SIGINT/SIGTERM, close it.

The port is bound first (a port in use, or an address that is not this machine's, changes nothing
on disk), then the storage is opened, so that a damaged, locked or unreachable store is reported
(:class:`CannotStart`) before anything is served or printed; the storage is closed (flushing every
acknowledged write) after the last connection is done.

Example:
    >>> exit_code = run_coroutine(serve(Settings(source="db.json")))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from jsonserve.auth.access import RulesError
from jsonserve.auth.keys import WeakKey
from jsonserve.config import Settings
from jsonserve.errors import BackendUnavailable, BrokerUnavailable, StorageCorrupt, StorageLocked
from jsonserve.schema import Kind
from jsonserve.schema.declared import SchemaFileError
from jsonserve.server.logs import log_config
from jsonserve.server.protocol import protocol_factory
from jsonserve.server.websocket import BatchingWebSocketProtocol
from jsonserve.service import Service, build_service
from jsonserve.web.app import create_app


@dataclass(frozen=True)
class Ready:
    """What a server about to serve tells ``on_ready``: the routable names, and where it listens.

    Example:
        >>> Ready({}, "::1", 3000).url
        'http://[::1]:3000'
    """

    kinds: dict[str, Kind]
    host: str
    port: int  # the port bound: the one the system chose when 0 was asked for
    tls_fingerprint: str | None = None  # HTTPS: the certificate's SHA-256 fingerprint (``AB:CD:...``)
    certificate: Path | None = None  # HTTPS: the certificate file served (a temporary one for --tls-self-signed)

    @property
    def url(self) -> str:
        """The server's root URL (an IPv6 address in brackets; https when it speaks TLS)."""
        scheme = "http" if self.tls_fingerprint is None else "https"
        return f"{scheme}://{display_host(self.host)}:{self.port}"


OnReady = Callable[[Ready], None]
"""Called once the port is bound and the storage open, just before serving (the CLI's banner)."""

# What opening the data may raise that is the data's fault, not a bug: reported in one line.
OPEN_ERRORS = (
    StorageCorrupt,
    StorageLocked,
    BackendUnavailable,
    BrokerUnavailable,
    SchemaFileError,
    RulesError,
    WeakKey,
    OSError,
)


class CannotStart(Exception):
    """The server cannot start: the address cannot be bound, or the data cannot be opened; ``str()`` says why.

    The data may be damaged, locked by another server, unreachable, or name a bad ``--schema`` file.
    """


def display_host(host: str) -> str:
    """``host`` as it appears in a URL or an address: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0: one the system chooses).

    uvicorn's choices: IPv6 when ``host`` holds a colon, ``SO_REUSEADDR`` (a restart need not wait
    for the old connections' TIME_WAIT). It listens at once: with ``SO_REUSEADDR`` a socket that is
    only bound does not keep another program from binding the same port.

    Raises :class:`CannotStart` with one line a person can act on.

    Example:
        >>> with listen("127.0.0.1", 0) as sock:  # doctest: +SKIP
        ...     sock.getsockname()[1] > 0
        True
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = f"{display_host(host)}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except (OSError, OverflowError) as error:
        sock.close()
        raise CannotStart(_bind_error(host, port, address, error)) from None
    sock.set_inheritable(True)  # as uvicorn's: the worker processes of ``--workers`` inherit it
    return sock


def _bind_error(host: str, port: int, address: str, error: OSError | OverflowError) -> str:
    if isinstance(error, OverflowError):
        return f"port {port} is not between 0 and 65535"
    if isinstance(error, socket.gaierror):
        return f"{host} is not a known host name or address ({error.strerror})"
    reasons = {
        errno.EADDRINUSE: f"{address} is in use (try --port)",
        errno.EACCES: f"{address}: permission denied (ports below 1024 need privileges; try --port 3000)",
        errno.EADDRNOTAVAIL: f"{host} is not an address of this machine (try --host 127.0.0.1, or 0.0.0.0 for all)",
    }
    return reasons.get(error.errno or 0, f"cannot listen on {address}: {error.strerror or error}")


@contextlib.asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[Service]:
    """The service ``settings`` describe, open; closed (writes flushed) on the way out.

    Raises :class:`CannotStart` when the data cannot be opened; errors while the service is in use
    propagate as they are.

    Example:
        >>> async with open_service(Settings(source="db.json")) as service:  # doctest: +SKIP
        ...     list(service.kinds())
        ['posts', 'comments', 'profile']
    """
    try:
        service = build_service(settings)
        await service.open()
    except OPEN_ERRORS as error:
        raise CannotStart(str(error)) from error
    async with contextlib.aclosing(service):
        yield service


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` / ``uvicorn.run`` for ``settings``.

    Our HTTP protocol brings problem+json errors, the read deadlines and the connection limit
    (:mod:`jsonserve.server.protocol`); uvicorn itself gets no ``limit_concurrency``. The app writes
    the access log (``web/observe.py``), so uvicorn's is off; :func:`~jsonserve.server.logs.log_config`
    formats every logger. ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from the
    proxies of ``--forwarded-allow-ips`` (uvicorn's rule; none by default: the connection's address counts).
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "lifespan": "on",
        "access_log": False,
        "log_config": log_config(settings),
        "log_level": "warning" if settings.quiet else "info",
        "server_header": False,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips) or None,
        "http": protocol_factory(settings.header_timeout, settings.body_timeout, settings.max_connections),
        # Our WebSocket protocol writes a batch of realtime frames at once (server/websocket.py).
        "ws": BatchingWebSocketProtocol,
        # No permessage-deflate: compressing each small change frame once per subscriber (no sharing
        # across connections) cost a fifth of the server's time in fan-out (bench/fanout.py, py-spy);
        # the contract does not ask for it, and Node's `ws` leaves it off by default for the same reason.
        "ws_per_message_deflate": False,
        # A realtime message over --realtime-message-size gets an error frame; one far over it is cut off (1009).
        "ws_max_size": max(16 * settings.realtime_message, 1024 * 1024),
        # After SIGTERM/SIGINT: requests in flight have this long to finish, then they are cancelled.
        "timeout_graceful_shutdown": settings.shutdown_timeout or None,
        "ssl_certfile": None if settings.tls_cert is None else str(settings.tls_cert),
        "ssl_keyfile": None if settings.tls_key is None else str(settings.tls_key),
    }


def ready(settings: Settings, kinds: dict[str, Kind], port: int) -> Ready:
    """What ``on_ready`` is told: the names, the address, and with TLS the certificate and its fingerprint."""
    cert = settings.tls_cert
    if cert is None:
        return Ready(kinds, settings.host, port, None, None)
    from jsonserve.server.tls import fingerprint  # cryptography: ~40 ms, for HTTPS only

    return Ready(kinds, settings.host, port, fingerprint(cert), cert)


async def serve(settings: Settings, on_ready: OnReady | None = None) -> int:
    """Serve ``settings`` in this process until SIGINT or SIGTERM; the exit code (1: it could not start).

    Raises :class:`CannotStart` (before ``on_ready`` is called) when the address cannot be bound or
    the data cannot be opened.
    """
    with listen(settings.host, settings.port) as sock:
        port = sock.getsockname()[1]
        async with open_service(settings) as service:
            app = create_app(settings, service, manage_storage=False, freeze=True)
            config = uvicorn.Config(app, **uvicorn_options(settings.replace(port=port)))
            config.timeout_graceful_shutdown = None  # GracefulServer keeps the bound itself (see there)
            server = GracefulServer(config, on_exit=app.state.realtime.end_all, bound=settings.shutdown_timeout)
            if on_ready is not None:
                on_ready(ready(settings, service.kinds(), port))
            await server.serve(sockets=[sock])
    return 0 if server.started or not server.should_exit else 1


class GracefulServer(uvicorn.Server):
    """A ``uvicorn.Server`` that returns normally after SIGINT/SIGTERM, and at once after a second one.

    The first signal stops accepting connections and lets the requests in flight finish (within
    ``--shutdown-timeout``); a second SIGINT or SIGTERM skips that wait (uvicorn does so for a second
    SIGINT only). Either way the storage is closed afterwards, so every acknowledged write (already
    in the journal or the database) is kept. uvicorn re-raises the signal once it has shut down, which
    kills the process before the storage is flushed (and exits with a signal status); we handle the
    signals the same way but return.
    ``on_exit`` runs on the event loop once a signal asks the server to stop: it ends the realtime
    streams, which uvicorn would otherwise wait for (an event stream never completes on its own).
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None = None, bound: float = 0) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._bound = bound
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop as uvicorn does, and run ``on_exit`` on the loop (this runs in a signal handler).

        A second signal, or ``bound`` seconds after the first, cuts the requests still in flight off
        (:meth:`cut_off`). uvicorn's own ``timeout_graceful_shutdown`` cancels their tasks instead,
        and a cancelled request is answered 500; here its connection is closed.
        """
        first = not self.should_exit
        super().handle_exit(sig, frame)
        if self._loop is None:
            return
        if not first:
            self._loop.call_soon_threadsafe(self.cut_off)
            return
        if self._on_exit is not None:
            self._loop.call_soon_threadsafe(self._on_exit)
        if self._bound:
            self._loop.call_soon_threadsafe(self._loop.call_later, self._bound, self.cut_off)

    def cut_off(self) -> None:
        """Stop waiting for the requests in flight: close their connections (the client sees them end)."""
        self.force_exit = True
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to uvicorn's ``handle_exit`` for the server's lifetime, re-raising neither."""
        self._loop = asyncio.get_running_loop()
        handlers = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
