"""Fixtures of the integration tests: one throwaway server per kind and
session, ``server``, parametrised over Prosody
(:class:`aioxmpp_avatar.testing.ProsodyServer`) and ejabberd
(:class:`aioxmpp_avatar.testing_ejabberd.EjabberdServer`), so that every
test using it runs on both; fresh accounts per test, and connected aioxmpp
clients that are disconnected at teardown.

Environment variables:

``CI``
    If set (and not ``0``/``false``), a missing server fails the
    integration tests instead of skipping them.
``PROSODY_LOG_LEVEL``, ``EJABBERD_LOG_LEVEL``
    Minimum server log level (default ``info``; ``debug`` is verbose).
``PROSODY_KEEP``, ``EJABBERD_KEEP``
    If set, keep the server's temp directory (config, data, logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import os
import re
import secrets
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
)

import aioxmpp
import pytest

from aioxmpp_avatar.testing import (
    Account,
    ProsodyServer,
    ServerNotInstalled,
    ThrowawayServer,
    mutual_subscribe,
)
from aioxmpp_avatar.testing_ejabberd import EjabberdServer

#: Seconds a client may take to connect, and the whole teardown to finish.
CONNECT_TIMEOUT = 10.0
#: Seconds a mutual subscription may take.
SUBSCRIBE_TIMEOUT = 10.0

#: The servers every test using ``server`` runs on, by kind.
SERVERS: Dict[str, Callable[..., ThrowawayServer]] = {
    "prosody": ProsodyServer,
    "ejabberd": EjabberdServer,
}

_ACCOUNT_COUNTER = itertools.count(1)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        server = getattr(item, "funcargs", {}).get("server")
        if isinstance(server, ThrowawayServer):
            report.sections.append((f"{server.kind} log (tail)", server.log_tail(60)))
    return report


@pytest.fixture(scope="session", params=sorted(SERVERS, reverse=True))
def server(request: pytest.FixtureRequest) -> Iterator[ThrowawayServer]:
    """The session's running server of one kind (domain ``localhost``):
    tests using it run once per kind (test ids ``[prosody]``,
    ``[ejabberd]``; ``server.kind`` says which).

    Skips (or fails, when ``CI`` is set) if that server is not installed.
    """
    kind: str = request.param
    env = kind.upper()
    try:
        instance = SERVERS[kind](
            "localhost",
            log_level=os.environ.get(f"{env}_LOG_LEVEL", "info"),
            keep=bool(os.environ.get(f"{env}_KEEP")),
        )
    except ServerNotInstalled as exc:
        if _ci():
            pytest.fail(f"{exc} (CI is set, so this is an error)", pytrace=False)
        pytest.skip(str(exc))
    with instance:
        yield instance
    if instance.keep:
        print(f"\n{kind} directory kept: {instance.directory}")


class AccountFactory:
    """Creates fresh accounts with unique user names on the session server.

    ``make_account()`` returns one :class:`Account`;
    ``make_account.many(n)`` registers `n` at once (concurrently).
    """

    def __init__(self, server: ThrowawayServer, tag: str) -> None:
        self.server = server
        self.tag = tag

    def _name(self, prefix: Optional[str]) -> str:
        n = next(_ACCOUNT_COUNTER)
        return f"{prefix or self.tag}-{n}-{secrets.token_hex(3)}"

    def __call__(self, prefix: Optional[str] = None) -> Account:
        return self.many(1, prefix)[0]

    def many(self, n: int, prefix: Optional[str] = None) -> List[Account]:
        return self.server.register_many(
            [(self._name(prefix), secrets.token_hex(8)) for _ in range(n)]
        )


@pytest.fixture
def make_account(
    server: ThrowawayServer, request: pytest.FixtureRequest
) -> AccountFactory:
    """Factory for fresh accounts named after the test (see AccountFactory)."""
    tag = (
        re.sub(r"[^a-z0-9]", "", request.node.name.lower().removeprefix("test"))[:16]
        or "user"
    )
    return AccountFactory(server, tag)


@pytest.fixture
async def connect(server: ThrowawayServer) -> AsyncIterator[Callable[..., Any]]:
    """Async factory ``await connect(account, *, services=(), available=True,
    timeout=CONNECT_TIMEOUT)`` returning a connected :class:`aioxmpp.Client`.

    :class:`aioxmpp.EntityCapsService`, :class:`aioxmpp.RosterClient` and the
    requested `services` are summoned *before* connecting, so their features
    are in the caps hash of the initial presence (servers send PEP events
    only to ``+notify`` advertised via caps).  With `available` the client
    sends an available initial presence.  All clients are disconnected at
    teardown.
    """
    stack = contextlib.AsyncExitStack()

    async def _connect(
        account: Account,
        *,
        services: Any = (),
        available: bool = True,
        timeout: float = CONNECT_TIMEOUT,
    ) -> Any:
        client = server.make_client(account)
        client.summon(aioxmpp.EntityCapsService)
        client.summon(aioxmpp.RosterClient)
        for service in services:
            client.summon(service)
        if available:
            # Set before connecting: PresenceServer then sends the initial
            # presence (with caps) during stream establishment.
            client.summon(aioxmpp.PresenceServer).set_presence(
                aioxmpp.PresenceState(True)
            )
        await stack.enter_async_context(
            client.connected(timeout=datetime.timedelta(seconds=timeout))
        )
        return client

    try:
        yield _connect
    finally:
        await asyncio.wait_for(stack.aclose(), CONNECT_TIMEOUT)


@pytest.fixture(name="mutual_subscribe")
def mutual_subscribe_fixture() -> Callable[..., Awaitable[None]]:
    """The :func:`aioxmpp_avatar.testing.mutual_subscribe` coroutine
    function: ``await mutual_subscribe(client_a, client_b, timeout=...)``."""
    return mutual_subscribe


@pytest.fixture
def mutual_pair(
    make_account: AccountFactory, connect: Callable[..., Any]
) -> Callable[..., Awaitable[Any]]:
    """Async factory ``await mutual_pair(*, services=(), accounts=None)``
    returning two connected, available clients ``(a, b)`` with a mutual
    (``both``) presence subscription.  `accounts` defaults to two fresh
    accounts."""

    async def _pair(
        *,
        services: Any = (),
        accounts: Any = None,
        timeout: float = SUBSCRIBE_TIMEOUT,
    ) -> Any:
        account_a, account_b = accounts or make_account.many(2)
        client_a, client_b = await asyncio.gather(
            connect(account_a, services=services),
            connect(account_b, services=services),
        )
        await mutual_subscribe(client_a, client_b, timeout=timeout)
        return client_a, client_b

    return _pair
