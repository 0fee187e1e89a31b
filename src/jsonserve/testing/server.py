"""A test server: one app on the memory backend, reachable in-process and over a socket, reset in milliseconds.

A :class:`Host` owns an event loop in a thread (:class:`~jsonserve.server.LoopThread`) and the
servers made on it, one per set of options: the pytest plugin keeps one host per session (per xdist
worker), :func:`jsonserve.testing.serve` one per ``with`` block. A :class:`JsonServer` is built once
and then reset for each test: :meth:`JsonServer.reset` reloads the memory backend's data and clears
the request log and the fault rules, without rebuilding the app.

Example:
    >>> with Host(Path(".")) as host:  # doctest: +SKIP
    ...     server = host.server({})
    ...     server.reset({"posts": [{"id": 1}]})
    ...     server.client.get("/posts/1").json()
    {'id': 1}
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.middleware import Middleware

from jsonserve._types import JSONValue
from jsonserve.auth.access import USERS
from jsonserve.auth.passwords import BCRYPT_PREFIXES, Passwords
from jsonserve.config import Settings
from jsonserve.server import HttpServer, LoopThread, serve_http
from jsonserve.service import Service, build_service
from jsonserve.service.accounts import Accounts
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.testing.faults import Fault, FaultPolicy, FaultRules, PathPattern
from jsonserve.testing.options import load_data, options_key, settings_for
from jsonserve.testing.recorder import RecordedRequest, Recorder
from jsonserve.testing.transports import AsyncThreadTransport, ThreadTransport
from jsonserve.web.app import create_app

__all__ = ["Host", "JsonServer"]

IN_PROCESS_ORIGIN = "http://testserver"
# Test users' passwords are hashed with argon2id at its smallest cost: a test logs in in well under
# a millisecond. Only the test server does this; a real one keeps OWASP's parameters.
TEST_PASSWORDS = {"memory_kib": 8, "time_cost": 1, "parallelism": 1}
HASH_PREFIXES = ("$argon2", *BCRYPT_PREFIXES)


class JsonServer:
    """A stateful json-server-compatible API for one test at a time (the ``jsonserve`` fixture's value).

    Build it with :meth:`Host.server` (the plugin and :func:`~jsonserve.testing.serve` do).
    """

    def __init__(self, thread: LoopThread, settings: Settings, folder: Path, data: dict[str, JSONValue]) -> None:
        self.settings = settings
        self._thread = thread
        self._folder = folder
        self._faults = FaultRules(settings.base)
        # Opened on the first test's data: the service checks a declared schema's names against it.
        self._storage = MemoryStorage(data, id_field=settings.id_field)
        self._service: Service = build_service(settings, self._storage)
        if self._service.accounts is not None:
            self._service.accounts.passwords = Passwords(**TEST_PASSWORDS)
            _hash_passwords(data, self._service.accounts.passwords)
        app = create_app(
            settings, self._service, manage_storage=False, policies=[Middleware(FaultPolicy, rules=self._faults)]
        )
        self._realtime = app.state.realtime
        self._app = Recorder(app)
        self._http: HttpServer | None = None
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        thread.run(self._service.open())

    # -- the three doors ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The root URL on a real socket (``http://127.0.0.1:PORT``, plus ``--base``), started on first use."""
        if self._http is None:
            self._http = self._thread.run(serve_http(self._app, self.settings, self._realtime.end_all))
        return self._http.url + self.settings.base

    @property
    def client(self) -> httpx.Client:
        """A sync httpx client answered in-process (no socket), new for each test; paths are relative to ``--base``."""
        if self._client is None:
            transport = ThreadTransport(self._app, self._thread)
            self._client = httpx.Client(transport=transport, base_url=IN_PROCESS_ORIGIN + self.settings.base)
        return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` over ASGI (no socket), new for each test, usable from any event loop.

        It holds no connection: closing it (``async with``) is allowed, not needed.
        """
        if self._async_client is None:
            transport = AsyncThreadTransport(self._app, self._thread)
            self._async_client = httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_ORIGIN + self.settings.base)
        return self._async_client

    # -- the data ----------------------------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        """A copy of everything stored now, as a JSON object (what ``GET /db`` shows, hidden fields included)."""
        return orjson.loads(self._thread.run(self._dump()))  # type: ignore[no-any-return]

    def load(self, data: Mapping[str, Any] | str | Path | None) -> None:
        """Replace the data with ``data`` (a dict or a JSON file; ``None``: empty); ids count from it again.

        With ``auth``, a user whose ``password`` is not a hash yet gets it hashed, so that
        :meth:`login` works with the password written in the data.
        """
        document = load_data(data, self._folder)
        self._thread.run(self._reset_storage(document))

    def reset(self, data: Mapping[str, Any] | str | Path | None = None) -> None:
        """Start a test: load ``data``, forget the request log, the fault rules and failed logins."""
        self._faults.clear()
        self._app.log = []
        self._drop_clients()
        if self._service.accounts is not None:
            self._service.accounts.forget_failures()
        self.load(data)

    # -- what the code under test sent ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request received since the test began, in order (headers as sent, secrets included)."""
        return list(self._app.log)

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        path: PathPattern,
        *,
        status: int = 503,
        times: int | None = None,
        method: str | Iterable[str] | None = None,
        body: JSONValue | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests to ``path`` (every one: ``None``) with ``status`` instead of the API.

        ``path`` is a path prefix (``*`` for one segment) or a compiled regular expression matching
        the whole path; ``method`` narrows it. The answer is a problem+json document with the code
        ``injected_fault``, or ``body`` (as JSON) with ``headers`` (``{"Retry-After": "1"}``).
        The rule is returned: its ``hits`` counts the requests it failed.
        """
        return self._faults.add(
            Fault.failing(path, status=status, times=times, method=method, body=body, headers=headers)
        )

    def delay(
        self, path: PathPattern, *, ms: int, times: int | None = None, method: str | Iterable[str] | None = None
    ) -> Fault:
        """Hold the next ``times`` requests to ``path`` (every one: ``None``) for ``ms`` milliseconds first."""
        return self._faults.add(Fault.delaying(path, ms=ms, times=times, method=method))

    # -- auth --------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> str:
        """An access token for ``email`` and ``password``, as ``POST /login`` checks them (not logged as a request).

        Raises :class:`~jsonserve.errors.InvalidCredentials` for a wrong pair; needs ``auth=True``.
        """
        accounts = self._accounts()
        session = self._thread.run(accounts.login({"email": email, "password": password}, "testing"))
        return session.access_token

    def token_for(self, user: Mapping[str, Any] | str | int) -> str:
        """An access token for a user (a record, an email or an id) with no password; needs ``auth=True``.

        Raises :class:`~jsonserve.errors.NotFound` when no user matches.
        """
        if isinstance(user, Mapping):
            user = user[self.settings.id_field]
        return self._thread.run(self._accounts().access_token_for(str(user)))

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the socket server (if started) and close the service; the host's loop stays up."""
        self._drop_clients()
        self._thread.run(self._close())

    def _drop_clients(self) -> None:
        # A test may close its clients, or open them with ``with``, which httpx allows once per client.
        if self._client is not None:
            self._client.close()
        self._client = self._async_client = None

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.stop()
        await self._service.aclose()

    async def _dump(self) -> bytes:
        return orjson.dumps(await self._storage.dump())

    async def _reset_storage(self, document: dict[str, JSONValue]) -> None:
        if self._service.accounts is not None:
            _hash_passwords(document, self._service.accounts.passwords)
        self._storage.reset(document)

    def _accounts(self) -> Accounts:
        if self._service.accounts is None:
            raise RuntimeError("login and token_for need a server with auth=True")
        return self._service.accounts

    def __repr__(self) -> str:
        where = self._http.url if self._http is not None else "not on a socket yet"
        return f"<JsonServer {where}>"


def _hash_passwords(document: dict[str, JSONValue], passwords: Passwords) -> None:
    users = document.get(USERS)
    if not isinstance(users, list):
        return
    for user in users:
        password = user.get("password") if isinstance(user, dict) else None
        if isinstance(user, dict) and isinstance(password, str) and not password.startswith(HASH_PREFIXES):
            user["password"] = passwords.hash(password)


class Host:
    """An event loop in a thread and the test servers on it, one per set of options (closed together)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._thread: LoopThread | None = None
        self._scratch: Path | None = None
        self._servers: dict[bytes, JsonServer] = {}

    def server(self, options: Mapping[str, Any], data: Mapping[str, Any] | str | Path | None = None) -> JsonServer:
        """The server for ``options`` (CLI names, without ``data``), built on first use over ``data``.

        The caller then resets it with the data each test wants (the first test's included).
        """
        key = options_key(options)
        server = self._servers.get(key)
        if server is None:
            if self._thread is None or self._scratch is None:
                self._thread = LoopThread("jsonserve-testing")
                self._scratch = Path(tempfile.mkdtemp(prefix="jsonserve-testing-"))
            settings = settings_for(options, self.folder, self._scratch)
            document = load_data(data, self.folder)
            server = self._servers[key] = JsonServer(self._thread, settings, self.folder, document)
        return server

    def close(self) -> None:
        """Close every server, stop the loop and remove the files written for inline options."""
        try:
            for server in self._servers.values():
                server.close()
        finally:
            self._servers.clear()
            if self._thread is not None:
                self._thread.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
