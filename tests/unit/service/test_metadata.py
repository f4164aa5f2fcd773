"""get_avatar_metadata(): PEP first, the vCard fallback, errors, caching,
``disable_pep``, subscribe()."""

from __future__ import annotations

import asyncio
import unittest.mock as um

import aioxmpp
import aioxmpp.errors
import pytest

from aioxmpp_avatar import VCardAvatarDescriptor
from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    BOB,
    HTTP_INFO,
    OCCUPANT,
    PNG,
    PNG2,
    PNG2_ID,
    PNG_ID,
    PNG_INFO,
    TIMEOUT,
    check_png_and_url_descriptors,
    data_result,
    info,
    items_result,
    metadata_result,
    pubsub_descriptor,
    sha1,
    vcard_with_photo,
    xmpp_cancel,
)


async def test_get_avatar_metadata_from_pep(env):
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(
        info(**PNG_INFO), info(**HTTP_INFO)
    )
    descriptors = await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items.assert_awaited_once_with(ALICE, NS_METADATA, max_items=1)
    check_png_and_url_descriptors(descriptors, ALICE)
    env.vcard.get_vcard.assert_not_called()
    assert env.changes == [(ALICE, descriptors)]

    # Cached: no second request, an equal list.
    again = await env.service.get_avatar_metadata(ALICE)
    assert again == descriptors
    assert env.pubsub.get_items.await_count == 1

    # require_fresh asks again. As with aioxmpp (which drops the cache
    # entry first), the answer is announced even when it is unchanged.
    fresh = await env.service.get_avatar_metadata(ALICE, require_fresh=True)
    assert env.pubsub.get_items.await_count == 2
    assert env.pubsub.get_items.call_args == um.call(ALICE, NS_METADATA, max_items=1)
    assert fresh == descriptors
    assert env.changes[1:] == [(ALICE, fresh)]

    # A changed answer is announced.
    env.pubsub.get_items.return_value = metadata_result(info(PNG2_ID, nbytes=len(PNG2)))
    changed = await env.service.get_avatar_metadata(ALICE, require_fresh=True)
    assert [d.id_ for d in changed] == [PNG2_ID]
    assert env.changes[2:] == [(ALICE, changed)]

    # A notification with the same value is not announced again.
    env.notify(ALICE, info(PNG2_ID, nbytes=len(PNG2)))
    assert len(env.changes) == 3


async def test_get_avatar_metadata_empty_node_means_no_avatar(env):
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = items_result(NS_METADATA)  # no items
    assert await env.service.get_avatar_metadata(ALICE) == []
    # The JID has a PEP node: no vCard fallback.
    env.vcard.get_vcard.assert_not_called()

    env.pubsub.get_items.return_value = metadata_result()  # empty <metadata/>
    assert await env.service.get_avatar_metadata(BOB) == []
    env.vcard.get_vcard.assert_not_called()


@pytest.mark.parametrize(
    "condition",
    [
        aioxmpp.ErrorCondition.FEATURE_NOT_IMPLEMENTED,
        aioxmpp.ErrorCondition.ITEM_NOT_FOUND,
    ],
)
async def test_missing_node_falls_back_to_vcard(env, condition):
    env.pubsub.get_items.side_effect = xmpp_cancel(condition)
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(
        PNG, "image/png"
    )
    descriptors = await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items.assert_awaited_once_with(ALICE, NS_METADATA, max_items=1)
    env.vcard.get_vcard.assert_awaited_once_with(ALICE)
    assert len(descriptors) == 1
    (d,) = descriptors
    assert type(d) is VCardAvatarDescriptor
    assert d.remote_jid == ALICE
    assert d.id_ == PNG_ID  # SHA-1 of the photo, lowercase hex
    assert d.nbytes == len(PNG)
    assert d.mime_type == "image/png"
    assert d.url is None
    assert d.can_get_image_bytes_via_xmpp
    assert env.changes == [(ALICE, descriptors)]

    # The photo is already known: getting the image sends nothing.
    before = env.stats()
    assert await asyncio.wait_for(d.get_image_bytes(), TIMEOUT) == PNG
    assert env.vcard.get_vcard.await_count == 1
    env.pubsub.get_items_by_id.assert_not_called()
    assert env.stats()["iq_vcard"] == before["iq_vcard"]


async def test_vcard_fallback_descriptor_keeps_its_photo(env):
    # aioxmpp builds this descriptor with image_bytes=photo: its
    # get_image_bytes() never asks again and always returns that photo.
    env.service.image_memory_budget = max(len(PNG), len(PNG2))  # one image
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    (fallback,) = await env.service.get_avatar_metadata(ALICE)

    # Another avatar pushes the photo out of the memory store ...
    bob = await pubsub_descriptor(env, BOB, id_=PNG2_ID, nbytes=len(PNG2))
    env.pubsub.get_items_by_id.return_value = data_result(PNG2)
    assert await asyncio.wait_for(bob.get_image_bytes(), TIMEOUT) == PNG2
    assert env.stats()["image_evictions"] == 1
    # ... and ALICE changes her vCard photo in the meantime.
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG2)

    assert await asyncio.wait_for(fallback.get_image_bytes(), TIMEOUT) == PNG
    assert env.vcard.get_vcard.await_count == 1


async def test_missing_node_and_vcard_without_photo_is_no_avatar(env):
    assert await env.service.get_avatar_metadata(ALICE) == []
    env.vcard.get_vcard.assert_awaited_once_with(ALICE)
    assert env.changes == [(ALICE, [])]
    assert await env.service.get_avatar_metadata(ALICE) == []
    assert env.vcard.get_vcard.await_count == 1  # cached


async def test_vcard_fallback_with_empty_photo(env):
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(b"")
    descriptors = await env.service.get_avatar_metadata(ALICE)
    assert [(d.id_, d.nbytes) for d in descriptors] == [(sha1(b""), 0)]
    assert type(descriptors[0]) is VCardAvatarDescriptor
    assert await asyncio.wait_for(descriptors[0].get_image_bytes(), TIMEOUT) == b""


async def test_other_errors_propagate_and_are_not_cached(env):
    env.pubsub.get_items.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN)
    with pytest.raises(aioxmpp.errors.XMPPCancelError) as caught:
        await env.service.get_avatar_metadata(ALICE)
    assert caught.value.condition == aioxmpp.ErrorCondition.FORBIDDEN
    env.vcard.get_vcard.assert_not_called()
    assert env.changes == []
    assert env.stats()["cached_jids"] == 0

    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG_ID]
    assert env.pubsub.get_items.await_count == 2


async def test_known_pep_avatar_gets_no_vcard_fallback(env):
    env.notify(ALICE, info())
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG2)
    # The node is gone now (item-not-found), but ALICE is known to use PEP.
    assert await env.service.get_avatar_metadata(ALICE, require_fresh=True) == []
    env.pubsub.get_items.assert_awaited_once()
    env.vcard.get_vcard.assert_not_called()
    changes = len(env.changes)
    # disable_pep reads the vCard, as asked, but the answer is the caller's
    # only: the cached PEP metadata stays and nothing is announced.
    got = await env.service.get_avatar_metadata(
        ALICE, require_fresh=True, disable_pep=True
    )
    assert [(type(d), d.id_) for d in got] == [(VCardAvatarDescriptor, PNG2_ID)]
    env.vcard.get_vcard.assert_awaited_once_with(ALICE)
    assert await env.service.get_avatar_metadata(ALICE) == []
    assert len(env.changes) == changes


async def test_disable_pep_never_replaces_cached_pep_metadata(env):
    env.notify(ALICE, info())
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG2)
    for fresh in (False, True):
        got = await env.service.get_avatar_metadata(
            ALICE, require_fresh=fresh, disable_pep=True
        )
        # Without require_fresh the cached PEP metadata answers.
        assert [d.id_ for d in got] == [PNG2_ID if fresh else PNG_ID]
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG_ID]
    assert len(env.changes) == 1


async def test_disable_pep_goes_straight_to_vcard(env):
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    descriptors = await env.service.get_avatar_metadata(OCCUPANT, disable_pep=True)
    env.pubsub.get_items.assert_not_called()
    env.vcard.get_vcard.assert_awaited_once_with(OCCUPANT)
    assert [(type(d), d.remote_jid, d.id_) for d in descriptors] == [
        (VCardAvatarDescriptor, OCCUPANT, PNG_ID)
    ]


async def test_subscribe(env):
    await env.service.subscribe(ALICE)
    env.pubsub.subscribe.assert_awaited_once_with(ALICE, NS_METADATA)
