"""What AvatarService does beyond aioxmpp.avatar, against real servers:
the shared verified image store, single-flight requests, limits, the
negative cache, access models and the XEP-0398 path."""

from __future__ import annotations

import asyncio
import hashlib

import aioxmpp
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.muc
import aioxmpp.muc.xso
import aioxmpp.vcard
import pytest

from aioxmpp_avatar import (
    AvatarService,
    AvatarSet,
    ImageTooLargeError,
    ImageUnavailableError,
    IntegrityError,
)
from support.helpers import NS_DATA, NS_METADATA, WAIT, publish_hostile, wait_metadata
from support.images import make_png


def png_set(png):
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=png)
    return avatar_set


def bare(client):
    return client.local_jid.bare()


async def publish(client, png, **kwargs):
    await asyncio.wait_for(
        client.summon(AvatarService).publish_avatar_set(png_set(png), **kwargs),
        WAIT)


async def contact_of_all(connect, mutual_subscribe, observer_account, peers):
    observer = await connect(observer_account, services=[AvatarService])
    for peer in peers:
        await mutual_subscribe(observer, peer)
    return observer


async def test_two_contacts_sharing_an_avatar_cost_one_data_iq(
        make_account, connect, mutual_subscribe):
    acc_a, acc_c, acc_b = make_account.many(3)
    a = await connect(acc_a, services=[AvatarService])
    c = await connect(acc_c, services=[AvatarService])
    png = make_png(rgb=(10, 20, 30))
    await publish(a, png)
    await publish(c, png)
    b = await contact_of_all(connect, mutual_subscribe, acc_b, [a, c])
    svc = b.summon(AvatarService)
    for peer in (a, c):
        [descriptor] = await svc.get_avatar_metadata(bare(peer), require_fresh=True)
        assert await descriptor.get_image_bytes() == png
    stats = svc.stats()
    assert stats["iq_data"] == 1, stats
    assert stats["image_memory_hits"] == 1


async def test_concurrent_askers_share_one_iq_per_node(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png(rgb=(1, 1, 1))
    await publish(a, png)
    svc = b.summon(AvatarService)
    before = svc.stats()

    results = await asyncio.wait_for(asyncio.gather(*(
        svc.get_avatar_metadata(bare(a), require_fresh=True) for _ in range(20)
    )), WAIT)
    assert all(r == results[0] and len(r) == 1 for r in results)
    images = await asyncio.wait_for(asyncio.gather(*(
        r[0].get_image_bytes() for r in results)), WAIT)
    assert images == [png] * 20

    after = svc.stats()
    assert after["iq_metadata"] - before["iq_metadata"] == 1
    assert after["iq_data"] - before["iq_data"] == 1
    assert after["requests_coalesced"] - before["requests_coalesced"] == 38


async def test_restart_with_image_directory_fetches_nothing_again(
        make_account, mutual_pair, connect, tmp_path):
    accounts = make_account.many(2)
    a, b = await mutual_pair(services=[AvatarService], accounts=accounts)
    png = make_png(rgb=(2, 2, 2))
    await publish(a, png)
    svc = b.summon(AvatarService)
    svc.image_directory = tmp_path
    [descriptor] = await svc.get_avatar_metadata(bare(a), require_fresh=True)
    assert await descriptor.get_image_bytes() == png
    assert svc.stats()["iq_data"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"{descriptor.normalized_id}.img"]

    # a new client for the same account: a fresh service, same directory
    again = await connect(accounts[1], services=[AvatarService])
    svc2 = again.summon(AvatarService)
    svc2.image_directory = tmp_path
    [descriptor] = await svc2.get_avatar_metadata(bare(a), require_fresh=True)
    assert await descriptor.get_image_bytes() == png
    stats = svc2.stats()
    assert (stats["iq_data"], stats["image_disk_hits"]) == (0, 1), stats


async def test_cancelling_one_waiter_keeps_the_others(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png(rgb=(3, 3, 3))
    await publish(a, png)
    svc = b.summon(AvatarService)
    [descriptor] = await svc.get_avatar_metadata(bare(a), require_fresh=True)
    waiters = [asyncio.ensure_future(descriptor.get_image_bytes()) for _ in range(3)]
    await asyncio.sleep(0)  # let them all join the one request
    waiters[0].cancel()
    assert await asyncio.wait_for(asyncio.gather(*waiters[1:]), WAIT) == [png, png]
    assert waiters[0].cancelled()
    assert svc.stats()["iq_data"] == 1


async def test_notification_racing_a_metadata_request(mutual_pair):
    """Whatever order the IQ answer and the notification arrive in, the
    cache ends with the newest avatar."""
    a, b = await mutual_pair(services=[AvatarService])
    old, new = make_png(rgb=(4, 4, 4)), make_png(rgb=(5, 5, 5))
    await publish(a, old)
    svc = b.summon(AvatarService)
    new_id = hashlib.sha1(new).hexdigest()
    seen_new = wait_metadata(svc, bare(a),
                             lambda m: [d.id_ for d in m] == [new_id])
    request = asyncio.ensure_future(
        svc.get_avatar_metadata(bare(a), require_fresh=True))
    await publish(a, new)
    await asyncio.wait_for(request, WAIT)
    await asyncio.wait_for(seen_new, WAIT)
    assert [d.id_ for d in await svc.get_avatar_metadata(bare(a))] == [new_id]


async def test_too_large_advertised_image_sends_no_iq(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png(32, 32)
    await publish(a, png)
    svc = b.summon(AvatarService)
    svc.max_image_bytes = len(png) - 1
    [descriptor] = await svc.get_avatar_metadata(bare(a), require_fresh=True)
    with pytest.raises(ImageTooLargeError, match=str(len(png))):
        await descriptor.get_image_bytes()
    assert svc.stats()["iq_data"] == 0


async def test_failed_fetch_is_not_repeated_until_the_hash_changes(mutual_pair):
    hostile, b = await mutual_pair(services=[AvatarService])
    svc = b.summon(AvatarService)
    fake_id = hashlib.sha1(b"not the data").hexdigest()
    got = wait_metadata(svc, bare(hostile), lambda m: bool(m))
    await publish_hostile(
        hostile, f"<data xmlns='{NS_DATA}'>aGVsbG8=</data>",
        f"<metadata xmlns='{NS_METADATA}'>"
        f"<info id='{fake_id}' type='image/png' bytes='5'/></metadata>", fake_id)
    [descriptor] = await asyncio.wait_for(got, WAIT)
    with pytest.raises(IntegrityError):
        await descriptor.get_image_bytes()
    with pytest.raises(ImageUnavailableError, match="not retried"):
        await descriptor.get_image_bytes()
    stats = svc.stats()
    assert (stats["iq_data"], stats["negative_cache_hits"]) == (1, 1)

    good = make_png(rgb=(6, 6, 6))
    got = wait_metadata(svc, bare(hostile),
                        lambda m: m and m[0].id_ == hashlib.sha1(good).hexdigest())
    await publish(hostile, good)
    [descriptor] = await asyncio.wait_for(got, WAIT)
    assert await descriptor.get_image_bytes() == good
    assert svc.stats()["iq_data"] == 2


async def test_open_access_model_reaches_non_contacts(make_account, connect):
    owner, stranger = make_account.many(2)
    a = await connect(owner, services=[AvatarService])
    c = await connect(stranger, services=[AvatarService])
    first = make_png(rgb=(7, 7, 7))
    await publish(a, first)  # default access model: presence
    with pytest.raises(aioxmpp.errors.XMPPError):
        await c.summon(AvatarService).get_avatar_metadata(bare(a))

    second = make_png(rgb=(8, 8, 8))
    await publish(a, second, access_model="open")  # the nodes are reconfigured
    [descriptor] = await c.summon(AvatarService).get_avatar_metadata(bare(a))
    assert descriptor.id_ == hashlib.sha1(second).hexdigest()
    assert await descriptor.get_image_bytes() == second


async def test_server_side_vcard_conversion_is_not_duplicated(mutual_pair):
    """Prosody's vcard_legacy and ejabberd's mod_avatar advertise XEP-0398:
    with synchronize_vcard we do not also rewrite the vCard (which would make
    the server republish the avatar, so contacts would see two changes and
    lose width/height)."""
    a, b = await mutual_pair(services=[AvatarService])
    svc_a, svc_b = a.summon(AvatarService), b.summon(AvatarService)
    svc_a.synchronize_vcard = True
    vcard = a.summon(aioxmpp.vcard.VCardService)
    calls = []
    original = vcard.set_vcard

    async def counting_set_vcard(*args, **kwargs):
        calls.append(args)
        return await original(*args, **kwargs)

    vcard.set_vcard = counting_set_vcard
    changes = []
    svc_b.on_metadata_changed.connect(
        lambda jid, m: changes.append(m) if jid == bare(a) else None)
    png = make_png(20, 10, rgb=(9, 9, 9))
    seen = wait_metadata(svc_b, bare(a))
    await publish(a, png)
    [descriptor] = await asyncio.wait_for(seen, WAIT)
    assert (descriptor.width, descriptor.height) == (20, 10)
    assert calls == []
    # the server made the vCard photo from the PEP avatar by itself
    card = await b.summon(aioxmpp.vcard.VCardService).get_vcard(bare(a))
    assert card.get_photo_data() == png
    assert len(changes) == 1
    assert svc_a._session.own_hash == hashlib.sha1(png).hexdigest()


async def test_muc_presence_flood_stays_bounded(make_account, connect):
    """100k distinct MUC occupants with photo hashes through the real
    presence handler: memory stays bounded by the cache size."""
    client = await connect(make_account(), services=[AvatarService])
    svc = client.summon(AvatarService)
    photo = hashlib.sha1(b"x").hexdigest()
    room = aioxmpp.JID.fromstr("room@muc.example")

    def rss_kib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4

    def flood(start, count):
        for i in range(start, start + count):
            stanza = aioxmpp.Presence(from_=room.replace(resource=f"occupant{i}"))
            stanza.xep0153_x = avatar_xso.VCardTempUpdate(photo)
            stanza.xep0045_muc_user = aioxmpp.muc.xso.UserExt()
            svc._handle_on_available(stanza.from_, stanza)

    flood(0, 10_000)  # warm up allocator and caches
    before = rss_kib()
    flood(10_000, 100_000)
    growth = rss_kib() - before
    stats = svc.stats()
    assert stats["cached_jids"] == svc.metadata_cache_size == 200
    assert stats["metadata_evictions"] >= 100_000
    # Stated bound: the flood may not grow RSS by more than 8 MiB (the
    # cache holds 200 entries; unbounded state would need far more).
    assert growth < 8 * 1024, f"RSS grew by {growth} KiB"
