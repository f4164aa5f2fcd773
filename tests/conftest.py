"""Shared pytest fixtures: one throwaway Prosody server per session, fresh
accounts per test, and connected aioxmpp clients that are disconnected at
teardown.

Only :mod:`aioxmpp_avatar._prosody` is imported here (and loaded from the
source tree by file path when the package itself cannot be imported, e.g.
because its Rust extension is not built yet), so collecting the test suite
never depends on the rest of the package.

Environment variables:

``CI``
    If set (and not ``0``/``false``), a missing Prosody fails the
    integration tests instead of skipping them.
``PROSODY_LOG_LEVEL``
    Minimum Prosody log level (default ``info``; ``debug`` is verbose).
``PROSODY_KEEP``
    If set, keep the server's temp directory (config, data, logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.util
import itertools
import os
import re
import secrets
import sys
from pathlib import Path

import aioxmpp
import pytest
from test_service_unit import TIMEOUT, Env

#: Seconds a client may take to connect, and the whole teardown to finish.
CONNECT_TIMEOUT = 10.0
#: Seconds a mutual subscription may take.
SUBSCRIBE_TIMEOUT = 10.0


def _load_prosody_module():
    try:
        from aioxmpp_avatar import _prosody
    except ImportError:
        # Package not installed or its extension not built: the launcher has
        # no dependencies on the package, so load it from the source tree.
        path = (
            Path(__file__).resolve().parent.parent
            / "python"
            / "aioxmpp_avatar"
            / "_prosody.py"
        )
        spec = importlib.util.spec_from_file_location("_aioxmpp_avatar_prosody", path)
        if spec is None or spec.loader is None:  # pragma: no cover
            raise
        _prosody = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = _prosody
        spec.loader.exec_module(_prosody)
    return _prosody


_prosody = _load_prosody_module()
Account = _prosody.Account
ProsodyServer = _prosody.ProsodyServer

_ACCOUNT_COUNTER = itertools.count(1)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "prosody: integration test that talks to a throwaway Prosody server "
        "(applied automatically to tests using the `prosody` fixture)",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        if "prosody" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.prosody)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        server = getattr(item, "funcargs", {}).get("prosody")
        if isinstance(server, ProsodyServer):
            report.sections.append(("prosody log (tail)", server.log_tail(60)))
    return report


@pytest.fixture(scope="session")
def prosody():
    """The session's running :class:`ProsodyServer` (domain ``localhost``).

    Skips (or fails, when ``CI`` is set) if Prosody is not installed.
    """
    try:
        server = ProsodyServer(
            "localhost",
            log_level=os.environ.get("PROSODY_LOG_LEVEL", "info"),
            keep=bool(os.environ.get("PROSODY_KEEP")),
        )
    except _prosody.ProsodyNotInstalled as exc:
        if _ci():
            pytest.fail(f"{exc} (CI is set, so this is an error)", pytrace=False)
        pytest.skip(str(exc))
    with server:
        yield server
    if server.keep:
        print(f"\nprosody directory kept: {server.directory}")


class AccountFactory:
    """Creates fresh accounts with unique user names on the session server.

    ``make_account()`` returns one :class:`Account`;
    ``make_account.many(n)`` registers `n` at once (concurrently).
    """

    def __init__(self, server: ProsodyServer, tag: str) -> None:
        self.server = server
        self.tag = tag

    def _name(self, prefix: str | None) -> str:
        n = next(_ACCOUNT_COUNTER)
        return f"{prefix or self.tag}-{n}-{secrets.token_hex(3)}"

    def __call__(self, prefix: str | None = None) -> Account:
        return self.many(1, prefix)[0]

    def many(self, n: int, prefix: str | None = None) -> list[Account]:
        return self.server.register_many(
            [(self._name(prefix), secrets.token_hex(8)) for _ in range(n)]
        )


@pytest.fixture
def make_account(prosody, request) -> AccountFactory:
    """Factory for fresh accounts named after the test (see AccountFactory)."""
    tag = (
        re.sub(r"[^a-z0-9]", "", request.node.name.lower().removeprefix("test"))[:16]
        or "user"
    )
    return AccountFactory(prosody, tag)


@pytest.fixture
async def connect(prosody):
    """Async factory ``await connect(account, *, services=(), available=True,
    timeout=CONNECT_TIMEOUT)`` returning a connected :class:`aioxmpp.Client`.

    :class:`aioxmpp.EntityCapsService`, :class:`aioxmpp.RosterClient` and the
    requested `services` are summoned *before* connecting, so their features
    are in the caps hash of the initial presence (Prosody sends PEP events
    only to ``+notify`` advertised via caps).  With `available` the client
    sends an available initial presence.  All clients are disconnected at
    teardown.
    """
    stack = contextlib.AsyncExitStack()

    async def _connect(
        account: Account,
        *,
        services=(),
        available: bool = True,
        timeout: float = CONNECT_TIMEOUT,
    ) -> aioxmpp.Client:
        client = prosody.make_client(account)
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


@pytest.fixture
def mutual_subscribe():
    """The :func:`aioxmpp_avatar._prosody.mutual_subscribe` coroutine
    function: ``await mutual_subscribe(client_a, client_b, timeout=...)``."""
    return _prosody.mutual_subscribe


@pytest.fixture
def mutual_pair(make_account, connect):
    """Async factory ``await mutual_pair(*, services=(), accounts=None)``
    returning two connected, available clients ``(a, b)`` with a mutual
    (``both``) presence subscription.  `accounts` defaults to two fresh
    accounts."""

    async def _pair(*, services=(), accounts=None, timeout=SUBSCRIBE_TIMEOUT):
        account_a, account_b = accounts or make_account.many(2)
        client_a, client_b = await asyncio.gather(
            connect(account_a, services=services),
            connect(account_b, services=services),
        )
        await _prosody.mutual_subscribe(client_a, client_b, timeout=timeout)
        return client_a, client_b

    return _pair


@pytest.fixture
async def env():
    """An AvatarService over mocked dependencies (see test_service_unit.Env)."""
    environment = Env()
    yield environment
    # Nothing the service started (rehash, shared requests) may outlive the
    # test's event loop.
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=TIMEOUT)
