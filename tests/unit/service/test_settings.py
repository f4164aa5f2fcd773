"""The settings of the service: defaults, the metadata cache bound, the
vCard advertisement switch."""

from __future__ import annotations

import aioxmpp

from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    PNG,
    PNG_ID,
    info,
    metadata_result,
    until,
    vcard_with_photo,
)


async def test_defaults(env):
    s = env.service
    assert s.metadata_cache_size == 200
    assert s.synchronize_vcard is False
    assert s.advertise_vcard is True
    s.synchronize_vcard = 1
    assert s.synchronize_vcard is True
    s.synchronize_vcard = 0
    assert s.synchronize_vcard is False
    s.metadata_cache_size = 100
    assert s.metadata_cache_size == 100


async def test_metadata_cache_is_lru_when_lowered(env):
    s = env.service
    s.metadata_cache_size = 3
    for jid in (ALICE, BOB, CAROL):
        env.notify(jid, info())
    assert env.stats()["cached_jids"] == 3

    await s.get_avatar_metadata(ALICE)  # hit: ALICE becomes most recent
    env.pubsub.get_items.assert_not_called()
    env.notify(DAVE, info())  # evicts BOB, the least recently used
    assert env.stats()["cached_jids"] == 3
    assert env.stats()["metadata_evictions"] == 1
    for jid in (ALICE, CAROL, DAVE):
        await s.get_avatar_metadata(jid)
    env.pubsub.get_items.assert_not_called()

    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    await s.get_avatar_metadata(BOB)  # a miss: asks again, evicts ALICE
    env.pubsub.get_items.assert_awaited_once_with(BOB, NS_METADATA, max_items=1)

    s.metadata_cache_size = 1  # keeps only the most recent: BOB
    assert env.stats()["cached_jids"] == 1
    assert env.stats()["metadata_evictions"] == 4
    await s.get_avatar_metadata(BOB)
    assert env.pubsub.get_items.await_count == 1
    await s.get_avatar_metadata(DAVE)
    assert env.pubsub.get_items.await_count == 2


async def test_metadata_cache_is_bounded_by_default(env):
    jids = [aioxmpp.JID(f"user{i}", "example.org", None) for i in range(201)]
    for jid in jids:
        env.notify(jid, info())
    assert env.stats()["cached_jids"] == 200
    assert env.stats()["metadata_evictions"] == 1
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    await env.service.get_avatar_metadata(jids[-1])
    env.pubsub.get_items.assert_not_called()
    await env.service.get_avatar_metadata(jids[0])  # evicted: asked again
    env.pubsub.get_items.assert_awaited_once_with(jids[0], NS_METADATA, max_items=1)


async def test_advertise_vcard_off_leaves_presence_alone(env):
    env.service.advertise_vcard = False
    assert env.service.advertise_vcard is False
    assert env.advertised() is None
    env.vcard.get_vcard.assert_not_called()


async def test_advertise_vcard_on_rehashes(env):
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    # Before any hash is known: an empty <x/> ("not ready").
    update = env.advertised()
    assert update is not None and update.photo is None

    env.service.advertise_vcard = False
    env.presence_server.resend_presence.reset_mock()
    env.service.advertise_vcard = True
    assert env.service.advertise_vcard is True
    env.presence_server.resend_presence.assert_called()
    await until(lambda: env.advertised().photo is not None, "the rehash")
    env.vcard.get_vcard.assert_awaited_once()
    assert env.vcard.get_vcard.call_args.args in ((), (None,))
    assert env.advertised().photo == PNG_ID


async def test_rehash_of_a_vcard_without_photo_advertises_empty_photo(env):
    env.service.advertise_vcard = True
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == ""
