"""slixmpp clients for the interop tests (``integration/test_slixmpp_interop.py``):
connected to a test server over plain TCP on the loopback, in the test's own
asyncio loop, with the plugins XEP-0084 needs, and mutual subscriptions
between a slixmpp client and an aioxmpp one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, List

import aioxmpp
import slixmpp

from aioxmpp_avatar.cli.connection import is_loopback

from .helpers import WAIT

#: Disco, pubsub, entity caps (the servers send PEP notifications to
#: +notify advertised via caps), PEP and user avatars.
PLUGINS = ("xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084")


@contextlib.asynccontextmanager
async def slixmpp_client(
    server: Any, account: Any, *, timeout: float = WAIT
) -> AsyncIterator[Any]:
    """A slixmpp client for `account`, connected to `server` (in the running
    loop), available and with its roster fetched; disconnected on exit."""
    if not is_loopback(server.host):
        raise ValueError(f"no plaintext XMPP to non-loopback {server.host!r}")
    # The test servers offer no TLS; plain TCP (and SCRAM over it) is only
    # ever used here, to the loopback address checked above.
    xmpp = slixmpp.ClientXMPP(
        account.jid,
        account.password,
        plugin_config={"feature_mechanisms": {"unencrypted_scram": True}},
    )
    for plugin in PLUGINS:
        xmpp.register_plugin(plugin)
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = True
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[str] = loop.create_future()

    def finish(result: str) -> None:
        if not outcome.done():
            outcome.set_result(result)

    async def on_session_start(_event: Any) -> None:
        await xmpp.get_roster(timeout=timeout)
        xmpp.send_presence()
        finish("ok")

    xmpp.add_event_handler("session_start", on_session_start)
    for failure in ("failed_auth", "connection_failed"):
        xmpp.add_event_handler(failure, lambda event, f=failure: finish(f))
    xmpp.connect(server.host, server.port)
    try:
        result = await asyncio.wait_for(outcome, timeout)
        if result != "ok":
            raise ConnectionError(f"slixmpp {account.jid}: {result}")
        yield xmpp
    finally:
        xmpp.disconnect(wait=0)
        with contextlib.suppress(asyncio.TimeoutError):
            await xmpp.wait_until("disconnected", timeout)


async def _wait(condition: Any, what: str, timeout: float) -> None:
    """Poll `condition()` every 20 ms until true; TimeoutError after
    `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() >= deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        await asyncio.sleep(0.02)


async def subscribe_mutually(client: Any, xmpp: Any, *, timeout: float = WAIT) -> None:
    """Make the aioxmpp `client` and the slixmpp `xmpp` contacts (``both``),
    then exchange presence once more, as
    :func:`aioxmpp_avatar.testing.mutual_subscribe` does, so that each
    server session knows the other's caps (``+notify``).

    slixmpp approves requests and subscribes back by itself (its roster's
    auto_authorize and auto_subscribe)."""
    peer = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    own = str(client.local_jid.bare())
    roster = client.summon(aioxmpp.RosterClient)

    def approve(stanza: Any) -> None:
        if stanza.from_ is not None and stanza.from_.bare() == peer:
            roster.approve(peer)

    def both() -> bool:
        item = roster.items.get(peer)
        return (
            item is not None
            and item.subscription == "both"
            and xmpp.client_roster[own]["subscription"] == "both"
        )

    with roster.on_subscribe.context_connect(approve):
        roster.subscribe(peer)
        await _wait(both, f"mutual subscription {own} <-> {peer}", timeout)

    seen: List[str] = []
    presence = client.summon(aioxmpp.PresenceClient)

    def on_aioxmpp_presence(full_jid: Any, _stanza: Any) -> None:
        if full_jid.bare() == peer:
            seen.append("aioxmpp")

    def on_slixmpp_presence(stanza: Any) -> None:
        if str(stanza["from"].bare) == own:
            seen.append("slixmpp")

    with contextlib.ExitStack() as stack:
        for signal in (presence.on_available, presence.on_changed):
            stack.enter_context(signal.context_connect(on_aioxmpp_presence))
        stack.enter_context(
            xmpp.event_handler("presence_available", on_slixmpp_presence)
        )
        client.summon(aioxmpp.PresenceServer).resend_presence()
        xmpp.send_presence()
        await _wait(
            lambda: {"aioxmpp", "slixmpp"} <= set(seen),
            f"presence between {own} and {peer}",
            timeout,
        )
