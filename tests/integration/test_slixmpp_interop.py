"""Interop with slixmpp (its XEP-0084 plugin) on both real servers: what a
slixmpp client publishes our AvatarService observes, fetches and verifies;
what we publish, disable and wipe a slixmpp contact observes and fetches;
and a slixmpp stranger reads an avatar we published with the ``open``
access model (issue 13, item 2)."""

from __future__ import annotations

import asyncio
import hashlib

import aioxmpp
import pytest
import slixmpp.exceptions
from slixmpp.plugins.xep_0084.stanza import MetaData

from aioxmpp_avatar import AvatarService, AvatarSet, PubsubAvatarDescriptor
from support.helpers import NS_METADATA, WAIT, non_contact_error, wait_metadata
from support.images import make_png
from support.slix import slixmpp_client, subscribe_mutually


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def png_info(png, width, height):
    """slixmpp's description of a PNG for publish_avatar_metadata (width
    and height as text: slixmpp 1.17 writes them into the XML unconverted,
    and an int breaks its serializer)."""
    return {"id": sha1(png), "type": "image/png", "bytes": len(png),
            "width": str(width), "height": str(height)}


def png_publisher(xmpp, png, width, height):
    """A coroutine function publishing `png` as slixmpp's only avatar:
    the data, then metadata with one info (the order of XEP-0084 §4)."""
    avatar = xmpp.plugin["xep_0084"]

    async def publish():
        await avatar.publish_avatar(png)
        await avatar.publish_avatar_metadata(png_info(png, width, height))

    return publish


def infos(metadata):
    """(id, type, bytes, width, height) of each info of a slixmpp
    ``<metadata/>`` stanza."""
    return [
        (info["id"], info["type"], info["bytes"], info["width"], info["height"])
        for info in metadata["items"]
    ]


def item_infos(item):
    """The infos of a metadata item from a pubsub result (slixmpp parses
    the payload of notifications only, so this one is parsed here)."""
    return infos(MetaData(xml=item["payload"]))


@pytest.fixture
async def contacts(server, make_account, connect):
    """An aioxmpp client with our AvatarService and a slixmpp client,
    mutually subscribed: ``(client, xmpp)``."""
    ours, theirs = make_account.many(2)
    client = await connect(ours, services=[AvatarService])
    async with slixmpp_client(server, theirs) as xmpp:
        await subscribe_mutually(client, xmpp)
        yield client, xmpp


async def observe(client, xmpp, publish, predicate):
    """Run `publish()` (a slixmpp coroutine) and return the first metadata
    our service reports for the slixmpp client that satisfies
    `predicate`."""
    jid = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    seen = wait_metadata(client.summon(AvatarService), jid, predicate)
    await asyncio.wait_for(publish(), WAIT)
    return await asyncio.wait_for(seen, WAIT)


async def assert_png_avatar(client, jid, descriptor, png, width, height):
    assert isinstance(descriptor, PubsubAvatarDescriptor)
    assert (descriptor.remote_jid, descriptor.id_) == (jid, sha1(png))
    assert (descriptor.mime_type, descriptor.nbytes) == ("image/png", len(png))
    assert (descriptor.width, descriptor.height) == (width, height)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), WAIT) == png


# -- slixmpp publishes, we observe ----------------------------------------------


async def test_we_observe_a_slixmpp_png(contacts):
    client, xmpp = contacts
    jid = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    png = make_png(12, 7, (3, 140, 90))
    publish = png_publisher(xmpp, png, 12, 7)
    [descriptor] = await observe(client, xmpp, publish, bool)
    await assert_png_avatar(client, jid, descriptor, png, 12, 7)
    svc = client.summon(AvatarService)
    [fresh] = await svc.get_avatar_metadata(jid, require_fresh=True)
    await assert_png_avatar(client, jid, fresh, png, 12, 7)


async def test_we_observe_a_slixmpp_png_with_an_url_source(contacts):
    """slixmpp names the metadata item after the last info, here the URL
    source's id, so the item id is not the PNG's: our service goes by the
    info ids and still finds and verifies the PNG."""
    client, xmpp = contacts
    jid = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    avatar = xmpp.plugin["xep_0084"]
    png = make_png(9, 9, (250, 250, 0))
    gif_id = sha1(b"a gif somewhere else")
    url = "https://example.org/avatar.gif"

    async def publish():
        await avatar.publish_avatar(png)
        await avatar.publish_avatar_metadata([
            png_info(png, 9, 9),
            {"id": gif_id, "type": "image/gif", "bytes": 1234, "url": url,
             "width": "64", "height": "64"},
        ])

    metadata = await observe(client, xmpp, publish, lambda m: len(m) == 2)
    by_type = {d.mime_type: d for d in metadata}
    assert set(by_type) == {"image/png", "image/gif"}
    gif = by_type["image/gif"]
    assert (gif.id_, gif.url, gif.nbytes, gif.width, gif.height) == (
        gif_id, url, 1234, 64, 64)
    assert not gif.can_get_image_bytes_via_xmpp
    await assert_png_avatar(client, jid, by_type["image/png"], png, 9, 9)

    items = await xmpp.plugin["xep_0060"].get_items(
        xmpp.boundjid.bare, NS_METADATA, timeout=WAIT)
    assert [item["id"] for item in items["pubsub"]["items"]] == [gif_id]


async def test_we_observe_metadata_under_an_item_id_of_its_own(contacts):
    """Metadata published (with slixmpp's PEP publish) as an item whose id
    is not the image's: the descriptor carries the info's id."""
    client, xmpp = contacts
    jid = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    png = make_png(5, 6, (10, 20, 200))
    metadata = MetaData()
    metadata.add_info(sha1(png), "image/png", len(png), height="6", width="5")

    async def publish():
        await xmpp.plugin["xep_0084"].publish_avatar(png)
        await xmpp.plugin["xep_0163"].publish(metadata, id="current")

    [descriptor] = await observe(client, xmpp, publish, bool)
    await assert_png_avatar(client, jid, descriptor, png, 5, 6)
    items = await xmpp.plugin["xep_0060"].get_items(
        xmpp.boundjid.bare, NS_METADATA, timeout=WAIT)
    assert [item["id"] for item in items["pubsub"]["items"]] == ["current"]


async def test_we_observe_slixmpp_stopping_its_avatar(contacts):
    client, xmpp = contacts
    jid = aioxmpp.JID.fromstr(str(xmpp.boundjid.bare))
    avatar = xmpp.plugin["xep_0084"]
    png = make_png(4, 4, (1, 1, 1))
    publish = png_publisher(xmpp, png, 4, 4)
    [descriptor] = await observe(client, xmpp, publish, bool)
    assert descriptor.id_ == sha1(png)

    async def stop():
        await avatar.stop()

    assert await observe(client, xmpp, stop, lambda m: m == []) == []
    svc = client.summon(AvatarService)
    assert await svc.get_avatar_metadata(jid, require_fresh=True) == []


# -- we publish, slixmpp observes -------------------------------------------------


def metadata_events(xmpp):
    """A queue of the ``<metadata/>`` payloads of the avatar metadata
    notifications slixmpp receives (its ``avatar_metadata_publish``
    event)."""
    queue = asyncio.Queue()
    xmpp.add_event_handler(
        "avatar_metadata_publish",
        lambda msg: queue.put_nowait(
            (str(msg["from"].bare), msg["pubsub_event"]["items"]["item"])),
    )
    return queue


async def next_metadata(queue, jid):
    """The infos (see :func:`infos`) of the next metadata notification from
    `jid`."""
    while True:
        sender, item = await asyncio.wait_for(queue.get(), WAIT)
        if sender == jid:
            return infos(item["avatar_metadata"])


async def slixmpp_fetch(xmpp, jid, id_):
    """The image bytes of each data item `id_` of `jid` that slixmpp
    retrieves (none when the item is gone)."""
    result = await xmpp.plugin["xep_0084"].retrieve_avatar(jid, id_, timeout=WAIT)
    return [item["avatar_data"]["value"] for item in result["pubsub"]["items"]]


async def test_slixmpp_observes_our_publish_disable_and_wipe(contacts):
    client, xmpp = contacts
    svc = client.summon(AvatarService)
    jid = str(client.local_jid.bare())
    events = metadata_events(xmpp)

    for step, rgb in enumerate(((200, 0, 0), (0, 200, 0))):
        png = make_png(10 + step, 8, rgb)
        avatar_set = AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=png)
        await asyncio.wait_for(svc.publish_avatar_set(avatar_set), WAIT)
        infos = await next_metadata(events, jid)
        while infos == []:  # ejabberd notifies the disable twice
            infos = await next_metadata(events, jid)
        assert infos == [(sha1(png), "image/png", len(png), 10 + step, 8)]
        assert await slixmpp_fetch(xmpp, jid, sha1(png)) == [png]

        if step == 0:
            await asyncio.wait_for(svc.disable_avatar(), WAIT)
            assert await next_metadata(events, jid) == []
            # disabled, not deleted: the data is still there
            assert await slixmpp_fetch(xmpp, jid, sha1(png)) == [png]
        else:
            await asyncio.wait_for(svc.wipe_avatar(), WAIT)
            assert await next_metadata(events, jid) == []
            # purged: the data node has no such item any more
            assert await slixmpp_fetch(xmpp, jid, sha1(png)) == []


# -- a stranger reads an open avatar ----------------------------------------------


async def test_a_slixmpp_stranger_reads_our_open_avatar(server, make_account, connect):
    ours, theirs = make_account.many(2)
    client = await connect(ours, services=[AvatarService])
    svc = client.summon(AvatarService)
    jid = str(client.local_jid.bare())
    first, second = make_png(6, 6, (9, 9, 90)), make_png(7, 3, (90, 9, 9))
    async with slixmpp_client(server, theirs) as stranger:
        avatar_set = AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=first)
        await asyncio.wait_for(svc.publish_avatar_set(avatar_set), WAIT)
        # the default access model, presence: a stranger may not read it
        with pytest.raises(slixmpp.exceptions.IqError) as info:
            await slixmpp_fetch(stranger, jid, sha1(first))
        expected = non_contact_error(server, published=True).value[1]
        assert info.value.condition == expected

        avatar_set = AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=second)
        await asyncio.wait_for(
            svc.publish_avatar_set(avatar_set, access_model="open"), WAIT)
        pubsub = stranger.plugin["xep_0060"]
        items = await pubsub.get_items(jid, NS_METADATA, timeout=WAIT)
        [item] = list(items["pubsub"]["items"])
        assert item_infos(item) == [(sha1(second), "image/png", len(second), 7, 3)]
        assert await slixmpp_fetch(stranger, jid, sha1(second)) == [second]
