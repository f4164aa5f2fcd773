"""The service class: an aioxmpp service like aioxmpp's own, with the same
dependencies, handlers, PEP node and signal."""

from __future__ import annotations

import asyncio
import unittest.mock as um

import aioxmpp
import aioxmpp.avatar
import aioxmpp.avatar.service
import aioxmpp.callbacks
import aioxmpp.pep
import aioxmpp.service
import aioxmpp.stream
import aioxmpp.vcard

import aioxmpp_avatar
from aioxmpp_avatar import AvatarService
from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    BOB,
    PNG2,
    PNG2_ID,
    PNG_ID,
    TIMEOUT,
    info,
)


def _aioxmpp_original(module, name):
    """aioxmpp's own object, even while install() is in effect."""
    saved = getattr(aioxmpp_avatar, "_originals", {})
    return saved.get((module, name), getattr(module, name))


def test_is_an_aioxmpp_service_defined_in_a_dotted_module():
    assert issubclass(AvatarService, aioxmpp.service.Service)
    assert AvatarService.__module__ == "aioxmpp_avatar.service"


def test_order_after_is_aioxmpps():
    original = _aioxmpp_original(aioxmpp.avatar.service, "AvatarService")
    assert original is not AvatarService
    assert set(AvatarService.ORDER_AFTER) == set(original.ORDER_AFTER)
    for dependency in (
        aioxmpp.DiscoClient,
        aioxmpp.DiscoServer,
        aioxmpp.PubSubClient,
        aioxmpp.PEPClient,
        aioxmpp.vcard.VCardService,
        aioxmpp.PresenceClient,
        aioxmpp.PresenceServer,
    ):
        assert dependency in AvatarService.ORDER_AFTER


def test_handlers_are_registered_with_aioxmpp():
    s = AvatarService
    assert aioxmpp.service.is_depsignal_handler(
        aioxmpp.PresenceClient, "on_available", s._handle_on_available
    )
    assert aioxmpp.service.is_depsignal_handler(
        aioxmpp.PresenceClient, "on_changed", s._handle_on_changed
    )
    assert aioxmpp.service.is_depsignal_handler(
        aioxmpp.PresenceClient, "on_unavailable", s._handle_on_unavailable
    )
    assert aioxmpp.service.is_depsignal_handler(
        aioxmpp.stream.StanzaStream, "on_stream_destroyed", s.handle_stream_destroyed
    )
    assert aioxmpp.service.is_depfilter_handler(
        aioxmpp.stream.StanzaStream,
        "service_outbound_presence_filter",
        s._attach_vcard_notify_to_presence,
    )
    assert aioxmpp.service.is_attrsignal_handler(
        s.avatar_pep, "on_item_publish", s._handle_pubsub_publish
    )


async def test_avatar_pep_is_a_registered_metadata_node_with_notify(env):
    descriptor = AvatarService.avatar_pep
    assert isinstance(descriptor, aioxmpp.pep.register_pep_node)
    assert descriptor.node_namespace == NS_METADATA
    assert descriptor.notify is True
    assert descriptor.register_feature is True
    # On the instance: the claim made on the PEP client, whose
    # on_item_publish the service listens to.
    env.pep.claim_pep_node.assert_called_once_with(
        NS_METADATA, register_feature=True, notify=True
    )
    claim = env.pep.claim_pep_node.return_value
    assert env.service.avatar_pep is claim
    connected = claim.on_item_publish.context_connect.call_args
    assert connected.args[0] == env.service._handle_pubsub_publish


async def test_on_metadata_changed_is_an_aioxmpp_signal(env):
    assert isinstance(
        AvatarService.__dict__["on_metadata_changed"], aioxmpp.callbacks.Signal
    )
    signal = env.service.on_metadata_changed
    assert isinstance(signal, aioxmpp.callbacks.AdHocSignal)

    listener = um.Mock(return_value=None)
    token = signal.connect(listener)
    env.notify(ALICE, info())
    listener.assert_called_once()
    jid, descriptors = listener.call_args.args
    assert jid == ALICE
    assert [d.id_ for d in descriptors] == [PNG_ID]

    signal.disconnect(token)
    env.notify(ALICE, info(PNG2_ID, nbytes=len(PNG2)))
    listener.assert_called_once()  # not again after disconnect
    assert len(env.changes) == 2  # the env's own listener saw both


async def test_on_metadata_changed_listener_modes(env):
    signal = env.service.on_metadata_changed
    loop = asyncio.get_running_loop()

    # SPAWN_WITH_LOOP: a coroutine function run as a task with both arguments.
    spawned = loop.create_future()

    async def on_change(jid, descriptors):
        spawned.set_result((jid, descriptors))

    signal.connect(on_change, signal.SPAWN_WITH_LOOP(None))

    # AUTO_FUTURE behaves as with aioxmpp's service: the signal has two
    # arguments, so aioxmpp's future wrapper refuses the emission, the
    # listener is dropped and the service is not disturbed.
    auto = loop.create_future()
    signal.connect(auto, signal.AUTO_FUTURE)

    # A STRONG listener that returns a true value is disconnected after one
    # call.
    once = um.Mock(return_value=True)
    signal.connect(once)

    env.notify(ALICE, info())
    jid, descriptors = await asyncio.wait_for(spawned, TIMEOUT)
    assert jid == ALICE and [d.id_ for d in descriptors] == [PNG_ID]
    assert not auto.done()
    once.assert_called_once()

    env.notify(ALICE, info(PNG2_ID, nbytes=len(PNG2)))
    once.assert_called_once()
    assert len(env.changes) == 2

    # ASYNC_WITH_LOOP: called soon, from the loop, not from inside the event.
    later = loop.create_future()
    signal.connect(
        lambda jid, descriptors: later.set_result(jid),
        signal.ASYNC_WITH_LOOP(None),
    )
    env.notify(BOB, info())
    assert not later.done()
    assert await asyncio.wait_for(later, TIMEOUT) == BOB
