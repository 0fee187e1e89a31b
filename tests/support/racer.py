"""A contender for the cross-process registration race: one OS process, its own storage, Service and Accounts.

:func:`contend` runs in a process of its own (``multiprocessing``, spawn): it opens the database the
test prepared, then for each round waits at the shared barrier and registers that round's email in
its own spelling (``register`` in even processes, the operator's ``add_user`` in odd ones), and
reports what happened in each round.
"""

from __future__ import annotations

import asyncio
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from jsonserve.auth.passwords import Passwords
from jsonserve.auth.policy import RulePolicy
from jsonserve.auth.tokens import Tokens
from jsonserve.errors import EmailTaken
from jsonserve.realtime import Hub
from jsonserve.service.accounts import HIDDEN_FIELDS, Accounts
from jsonserve.service.core import Service
from jsonserve.service.redact import Redaction
from jsonserve.storage.base import Storage

PASSWORD = "racing-password"
KEY = b"k" * 32
BARRIER_TIMEOUT = 30.0  # a contender that died breaks the barrier instead of hanging the others


def email_of(round_number: int) -> str:
    """The email every contender registers in a round (non-ASCII: lower-casing must be Unicode's)."""
    return f"rácer{round_number}@exemple.fr"


def spelling(email: str, index: int) -> str:
    """Contender ``index``'s spelling of ``email``: a different set of letters upper-cased per index."""
    return "".join(char.upper() if (position >> index) & 1 else char for position, char in enumerate(email))


def contend(
    kind: str, location: str, schema: str | None, index: int, rounds: int, barrier: Barrier, results: Queue[object]
) -> None:
    """Race in ``rounds`` rounds; put ``(index, ["created" | "taken" | "error: …", …])`` on ``results``."""
    results.put((index, asyncio.run(_contend(kind, location, schema, index, rounds, barrier))))


async def _contend(
    kind: str, location: str, schema: str | None, index: int, rounds: int, barrier: Barrier
) -> list[str]:
    storage = _storage(kind, location, schema)
    await storage.open()
    try:
        policy = RulePolicy()
        service = Service(
            storage, Hub(), read_rule=policy, write_rule=policy, redaction=Redaction({"users": HIDDEN_FIELDS})
        )
        accounts = Accounts(service, policy, Tokens(KEY), Passwords(memory_kib=8, time_cost=1))
        outcomes = []
        for round_number in range(rounds):
            email = spelling(email_of(round_number), index)
            barrier.wait(BARRIER_TIMEOUT)  # blocks this process's loop on purpose: all start the round together
            outcomes.append(await _register(accounts, email, index))
        return outcomes
    finally:
        await storage.aclose()


async def _register(accounts: Accounts, email: str, index: int) -> str:
    try:
        if index % 2:
            await accounts.add_user(email, PASSWORD)
        else:
            await accounts.register({"email": email, "password": PASSWORD})
    except EmailTaken:
        return "taken"
    except Exception as error:  # reported to the test, which fails on it
        return f"error: {error!r}"
    return "created"


def _storage(kind: str, location: str, schema: str | None) -> Storage:
    if kind == "sqlite":
        from jsonserve.storage.sql.sqlite import SqliteStorage

        return SqliteStorage(location)
    from jsonserve.storage.sql.postgres import PostgresStorage

    return PostgresStorage(location, schema=schema, pool_size=2)
