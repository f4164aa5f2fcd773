"""Presence (XEP-0153): photo hashes of contacts and MUC occupants, and of
our own other resources."""

from __future__ import annotations

import asyncio

import aioxmpp
import aioxmpp.errors

from aioxmpp_avatar import VCardAvatarDescriptor
from support.service_env import (
    ALICE,
    ALICE_FULL,
    ME,
    ME_OTHER,
    ME_THIRD,
    OCCUPANT,
    PNG,
    PNG2,
    PNG2_ID,
    PNG_ID,
    TIMEOUT,
    Gate,
    known_own_hash,
    presence,
    unavailable,
    until,
    vcard_with_photo,
)


async def test_presence_hash_creates_vcard_descriptor_for_bare_jid(env):
    env.service._handle_on_available(ALICE_FULL, presence(PNG_ID.upper()))
    assert len(env.changes) == 1
    jid, descriptors = env.changes[0]
    assert jid == ALICE
    (d,) = descriptors
    assert type(d) is VCardAvatarDescriptor
    assert d.remote_jid == ALICE
    assert d.id_ == PNG_ID.upper()
    assert d.normalized_id == PNG_ID
    assert d.nbytes is None and d.mime_type is None and d.url is None
    assert await env.service.get_avatar_metadata(ALICE) == descriptors
    env.pubsub.get_items.assert_not_called()

    # The same hash again (as on_changed): nothing new.
    env.service._handle_on_changed(ALICE_FULL, presence(PNG_ID.upper()))
    assert len(env.changes) == 1

    # Its image comes from the vCard, verified against the hash.
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    assert await asyncio.wait_for(d.get_image_bytes(), TIMEOUT) == PNG
    env.vcard.get_vcard.assert_awaited_once_with(ALICE)


async def test_presence_empty_photo_means_no_avatar(env):
    env.service._handle_on_available(ALICE_FULL, presence(PNG_ID))
    env.service._handle_on_changed(ALICE_FULL, presence(""))
    assert env.changes[-1] == (ALICE, [])
    assert await env.service.get_avatar_metadata(ALICE) == []


async def test_presence_without_photo_is_ignored(env):
    env.service._handle_on_available(ALICE_FULL, presence())
    env.service._handle_on_available(ALICE_FULL, presence(None))
    assert env.changes == []
    assert env.stats()["cached_jids"] == 0


async def test_presence_non_hex_photo_is_ignored(env):
    env.service._handle_on_available(ALICE_FULL, presence("random-item-id"))
    assert env.changes == []
    assert env.stats()["cached_jids"] == 0
    assert env.stats()["presence_hashes_ignored"] == 1


async def test_muc_occupant_is_keyed_by_full_jid_and_forgotten(env):
    env.service._handle_on_available(OCCUPANT, presence(PNG_ID, muc=True))
    assert len(env.changes) == 1
    jid, descriptors = env.changes[0]
    assert jid == OCCUPANT
    assert [(type(d), d.remote_jid) for d in descriptors] == [
        (VCardAvatarDescriptor, OCCUPANT)
    ]
    assert env.stats()["cached_jids"] == 1
    cached = await env.service.get_avatar_metadata(OCCUPANT, disable_pep=True)
    assert cached == descriptors
    env.vcard.get_vcard.assert_not_called()

    env.service._handle_on_unavailable(OCCUPANT, unavailable(muc=True))
    assert env.stats()["cached_jids"] == 0
    # Asked again, it goes to the vCard.
    assert await env.service.get_avatar_metadata(OCCUPANT, disable_pep=True) == []
    env.vcard.get_vcard.assert_awaited_once_with(OCCUPANT)


async def test_unavailable_of_a_non_muc_contact_keeps_the_entry(env):
    env.service._handle_on_available(ALICE_FULL, presence(PNG_ID))
    env.service._handle_on_unavailable(ALICE_FULL, unavailable())
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG_ID]
    env.vcard.get_vcard.assert_not_called()


async def test_own_resource_interference(env):
    await known_own_hash(env)
    assert env.advertised().photo == PNG_ID

    # Another resource of ours without XEP-0153 support: empty <x/>.
    env.service._handle_on_available(ME_OTHER, presence())
    update = env.advertised()
    assert update is not None and update.photo is None

    # It goes away: our hash is recomputed and advertised again.
    env.service._handle_on_unavailable(ME_OTHER, unavailable())
    env.presence_server.resend_presence.assert_called()
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == PNG_ID
    env.vcard.get_vcard.assert_awaited_once()


async def test_own_resource_interference_ends_when_it_starts_advertising(env):
    await known_own_hash(env)
    env.service._handle_on_available(ME_OTHER, presence())
    assert env.advertised().photo is None
    env.service._handle_on_changed(ME_OTHER, presence(PNG_ID))
    # Interference is over; the hash must be recomputed (aioxmpp forgets it
    # and rehashes because the other resource's hash differs from "unknown").
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == PNG_ID


async def test_our_own_presence_is_not_interference(env):
    await known_own_hash(env)
    env.service._handle_on_available(ME, presence())
    assert env.advertised().photo == PNG_ID


async def test_different_hash_from_own_resource_triggers_one_rehash(env):
    await known_own_hash(env, PNG2)
    assert env.advertised().photo == PNG2_ID

    # The same hash as ours: nothing to do.
    env.service._handle_on_available(ME_OTHER, presence(PNG2_ID))
    env.vcard.get_vcard.assert_not_called()

    gate = Gate()
    env.vcard.get_vcard.side_effect = gate.request
    env.service._handle_on_changed(ME_OTHER, presence(PNG_ID))
    await gate.wait_started()
    env.presence_server.resend_presence.assert_called()
    # Until the rehash is done, presence says "not ready".
    assert env.advertised().photo is None
    # More presences with that hash while the rehash runs: no second one.
    env.service._handle_on_changed(ME_OTHER, presence(PNG_ID))
    env.service._handle_on_available(ME_THIRD, presence(PNG_ID.upper()))
    assert len(gate.calls) == 1
    assert gate.calls[0][0] in ((), (None,))

    gate.future.set_result(vcard_with_photo(PNG))
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == PNG_ID
    assert len(gate.calls) == 1
    # The other resource's hash is also our account's avatar for others.
    assert env.changes[-1][0] == ME.bare()
    assert [d.normalized_id for d in env.changes[-1][1]] == [PNG_ID]


async def test_failed_rehash_leaves_presence_not_ready(env):
    env.vcard.get_vcard.side_effect = aioxmpp.errors.XMPPCancelError(
        aioxmpp.ErrorCondition.SERVICE_UNAVAILABLE
    )
    env.service.advertise_vcard = True
    await until(lambda: env.vcard.get_vcard.await_count == 1, "the vCard request")
    for _ in range(5):  # let the failure be handled
        await asyncio.sleep(0)
    update = env.advertised()
    assert update is not None and update.photo is None

    # The service recovers at the next rehash.
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    env.service.advertise_vcard = True
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == PNG_ID
