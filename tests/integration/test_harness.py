"""Smoke tests for the server harness (:mod:`aioxmpp_avatar.testing`) and
for the server behaviour the rest of the integration suite relies on. They
use plain aioxmpp (including aioxmpp's own ``aioxmpp.avatar``), not our
package."""

from __future__ import annotations

import asyncio
import hashlib
import os

import aioxmpp
import aioxmpp.avatar
import aioxmpp.dispatcher
import pytest

from support.helpers import NS_METADATA, non_contact_error, wait_metadata
from support.images import make_png

WAIT = 10.0  # seconds; generous upper bound for every single wait


def test_server_lifecycle(server):
    """A second server of the same kind starts, answers, and leaves nothing
    behind."""
    second = type(server)("example.test")
    if server.kind == "prosody":
        early = second.register("early", "pw")  # prosodyctl works offline
        assert early.jid == "early@example.test"
    else:
        # ejabberdctl talks to the running node
        with pytest.raises(second.error, match="only while running"):
            second.register("early", "pw")
    with second:
        assert second.running and second.port != server.port
        # The pid file names the server's process (for ejabberd: the VM,
        # which ejabberdctl runs as another user in a session of its own).
        pid = int(open(second.pid_path).read().strip())
        os.kill(pid, 0)
        if server.kind == "prosody":
            assert pid == second.pid
        late = second.register("late", "pw")  # while running
        assert late.jid == "late@example.test"
    assert not second.running
    assert not os.path.exists(second.directory)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_two_clients_exchange_a_message(make_account, connect):
    alice, bob = make_account.many(2)
    client_a = await connect(alice)
    client_b = await connect(bob)
    assert client_a.local_jid.bare() == aioxmpp.JID.fromstr(alice.jid)

    received = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if not received.done():
            received.set_result(msg)

    client_b.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(
        aioxmpp.MessageType.CHAT, client_a.local_jid.bare(), on_message
    )
    msg = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=client_b.local_jid)
    msg.body[None] = "hello"
    await client_a.send(msg)
    got = await asyncio.wait_for(received, WAIT)
    assert got.body.any() == "hello"


async def test_mutual_subscription_reaches_both(mutual_pair):
    client_a, client_b = await mutual_pair()
    jid_a, jid_b = client_a.local_jid.bare(), client_b.local_jid.bare()
    roster_a = client_a.summon(aioxmpp.RosterClient)
    roster_b = client_b.summon(aioxmpp.RosterClient)
    assert roster_a.items[jid_b].subscription == "both"
    assert roster_b.items[jid_a].subscription == "both"


async def test_mutual_subscribe_is_idempotent(mutual_pair, mutual_subscribe):
    client_a, client_b = await mutual_pair()
    await mutual_subscribe(client_b, client_a, timeout=WAIT)


async def test_avatar_publish_reaches_contact(mutual_pair):
    AvatarService = aioxmpp.avatar.AvatarService
    client_a, client_b = await mutual_pair(services=[AvatarService])
    avatar_a = client_a.summon(AvatarService)
    avatar_b = client_b.summon(AvatarService)
    jid_a = client_a.local_jid.bare()

    png = make_png()
    sha1 = hashlib.sha1(png).hexdigest()

    def has_pep_png(metadata):
        return any(
            isinstance(d, aioxmpp.avatar.service.PubsubAvatarDescriptor)
            and d.normalized_id == sha1
            for d in metadata
        )

    at_b = wait_metadata(avatar_b, jid_a, has_pep_png)
    at_a = wait_metadata(avatar_a, jid_a, has_pep_png)  # owner is notified too

    avatar_set = aioxmpp.avatar.AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=png, width=4, height=3)
    await asyncio.wait_for(avatar_a.publish_avatar_set(avatar_set), WAIT)

    metadata_b = await asyncio.wait_for(at_b, WAIT)
    await asyncio.wait_for(at_a, WAIT)

    (descriptor,) = [d for d in metadata_b if d.normalized_id == sha1]
    assert descriptor.mime_type == "image/png"
    assert descriptor.nbytes == len(png)
    assert (descriptor.width, descriptor.height) == (4, 3)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), WAIT) == png

    fresh = await asyncio.wait_for(
        avatar_b.get_avatar_metadata(jid_a, require_fresh=True), WAIT
    )
    assert [d.normalized_id for d in fresh] == [sha1]


async def test_stranger_is_refused(server, make_account, connect):
    AvatarService = aioxmpp.avatar.AvatarService
    owner, stranger = make_account.many(2)
    client_owner = await connect(owner, services=[AvatarService])
    client_stranger = await connect(stranger, services=[AvatarService])

    avatar_set = aioxmpp.avatar.AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=make_png())
    await asyncio.wait_for(
        client_owner.summon(AvatarService).publish_avatar_set(avatar_set), WAIT
    )

    avatar = client_stranger.summon(AvatarService)
    targets = [
        (client_owner.local_jid.bare(), True),  # has an avatar
        (aioxmpp.JID.fromstr(make_account().jid), False),  # never published
        (aioxmpp.JID.fromstr(f"nobody-{os.getpid()}@localhost"), False),  # none
    ]
    pubsub = client_stranger.summon(aioxmpp.PubSubClient)
    for target, published in targets:
        expected = non_contact_error(server, published=published)
        with pytest.raises(aioxmpp.errors.XMPPError) as info:
            await asyncio.wait_for(pubsub.get_items(target, NS_METADATA), WAIT)
        assert info.value.condition == expected, target
        if expected == aioxmpp.ErrorCondition.ITEM_NOT_FOUND:
            # No avatar node: aioxmpp.avatar falls back to the vCard
            # (XEP-0153), which non-contacts may read, and finds no photo.
            assert await asyncio.wait_for(
                avatar.get_avatar_metadata(target, require_fresh=True), WAIT
            ) == [], target
            continue
        with pytest.raises((aioxmpp.XMPPCancelError, aioxmpp.XMPPAuthError)) as info:
            await asyncio.wait_for(
                avatar.get_avatar_metadata(target, require_fresh=True), WAIT
            )
        assert info.value.condition == expected, target
