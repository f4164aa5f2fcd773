"""A JID is compared as a JID: peers whose JID parts hash alike (CPython's
str hash collides for chosen strings under every seed) never stand in for
each other in the PEP, MUC or own-account paths."""

from __future__ import annotations

import aioxmpp
import pytest

from support.service_env import (
    PNG2_ID,
    PNG_ID,
    info,
    known_own_hash,
    metadata_result,
    presence,
    unavailable,
    until,
)

#: Two localparts, nicks or resources with equal Python hashes.
NAME, TWIN = "root", "潲瑯"


def test_the_twins_really_collide():
    assert NAME != TWIN and hash(NAME) == hash(TWIN)


async def test_pep_notification_of_a_twin_is_not_anothers_avatar(env):
    victim = aioxmpp.JID.fromstr(f"{NAME}@example.org")
    twin = aioxmpp.JID.fromstr(f"{TWIN}@example.org")
    env.notify(victim, info(PNG_ID))
    env.notify(twin, info(PNG2_ID))
    assert [d.id_ for d in await env.service.get_avatar_metadata(victim)] == [PNG_ID]
    assert [d.id_ for d in await env.service.get_avatar_metadata(twin)] == [PNG2_ID]
    env.pubsub.get_items.assert_not_called()
    assert env.stats()["cached_jids"] == 2


async def test_a_twins_notification_does_not_answer_for_an_uncached_jid(env):
    victim = aioxmpp.JID.fromstr(f"{NAME}@example.org")
    env.notify(aioxmpp.JID.fromstr(f"{TWIN}@example.org"), info(PNG2_ID))
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info(PNG_ID))
    assert [d.id_ for d in await env.service.get_avatar_metadata(victim)] == [PNG_ID]
    env.pubsub.get_items.assert_awaited_once()


async def test_muc_nick_twins_are_two_occupants(env):
    occupant = aioxmpp.JID.fromstr(f"room@muc.example.org/{NAME}")
    twin = aioxmpp.JID.fromstr(f"room@muc.example.org/{TWIN}")
    env.service._handle_on_available(occupant, presence(PNG_ID, muc=True))
    env.service._handle_on_available(twin, presence(PNG2_ID, muc=True))
    assert [jid for jid, _ in env.changes] == [occupant, twin]
    got = await env.service.get_avatar_metadata(occupant, disable_pep=True)
    assert [d.id_ for d in got] == [PNG_ID]
    env.service._handle_on_unavailable(twin, unavailable(muc=True))
    got = await env.service.get_avatar_metadata(occupant, disable_pep=True)
    assert [d.id_ for d in got] == [PNG_ID]
    env.vcard.get_vcard.assert_not_called()


async def test_resource_twins_are_two_contacts_resources(env):
    full = aioxmpp.JID.fromstr(f"alice@example.org/{NAME}")
    twin = aioxmpp.JID.fromstr(f"alice@example.org/{TWIN}")
    env.service._handle_on_available(full, presence(PNG_ID, muc=True))
    env.service._handle_on_available(twin, presence(PNG_ID, muc=True))
    assert len(env.changes) == 2


@pytest.mark.parametrize("stranger", [f"{TWIN}@example.org/phone"])
async def test_a_twin_of_our_localpart_is_not_one_of_our_resources(env, stranger):
    env.client.local_jid = aioxmpp.JID.fromstr(f"{NAME}@example.org/desk")
    await known_own_hash(env)
    stranger_jid = aioxmpp.JID.fromstr(stranger)
    # Without XEP-0153 support it would be interference; with another hash
    # a rehash (one own-vCard IQ per presence).
    env.service._handle_on_available(stranger_jid, presence())
    assert env.advertised().photo == PNG_ID
    env.service._handle_on_changed(stranger_jid, presence(PNG2_ID))
    env.service._handle_on_unavailable(stranger_jid, unavailable())
    assert env.advertised().photo == PNG_ID
    env.vcard.get_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()
    # A real other resource of ours still counts.
    env.service._handle_on_available(
        aioxmpp.JID.fromstr(f"{NAME}@example.org/phone"), presence())
    assert env.advertised().photo is None
    await until(lambda: True, "nothing")
