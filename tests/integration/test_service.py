"""AvatarService against real servers (Prosody, ejabberd) with real aioxmpp
clients: the behaviour of aioxmpp.avatar, proven end to end (issue: drop-in
service)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets

import aioxmpp
import aioxmpp.vcard
import pytest

import aioxmpp_avatar
from aioxmpp_avatar import (
    AvatarService,
    AvatarSet,
    HttpAvatarDescriptor,
    IntegrityError,
    PubsubAvatarDescriptor,
    VCardAvatarDescriptor,
)
from support.helpers import (
    NS_DATA,
    NS_METADATA,
    WAIT,
    non_contact_error,
    publish_hostile,
    publish_raw,
    wait_metadata,
)
from support.images import make_png


def png_set(png, **extra_sources):
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=png)
    return avatar_set


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def bare(client):
    return client.local_jid.bare()


async def publish_and_wait(publisher, observers, avatar_set):
    """Publish from `publisher` and wait until every observer service saw it."""
    jid = bare(publisher)
    seen = [
        wait_metadata(
            client.summon(AvatarService), jid,
            lambda m: any(d.normalized_id == avatar_set.png_id for d in m),
        )
        for client in observers
    ]
    await asyncio.wait_for(
        publisher.summon(AvatarService).publish_avatar_set(avatar_set), WAIT)
    return [await asyncio.wait_for(f, WAIT) for f in seen]


async def test_publish_and_read_back_own_and_contact(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png(16, 8)
    [seen_by_b] = await publish_and_wait(a, [b], png_set(png))

    [descriptor] = seen_by_b
    assert isinstance(descriptor, PubsubAvatarDescriptor)
    assert (descriptor.remote_jid, descriptor.id_) == (bare(a), sha1(png))
    assert (descriptor.mime_type, descriptor.nbytes) == ("image/png", len(png))
    assert (descriptor.width, descriptor.height) == (16, 8), "read from the PNG"
    assert await asyncio.wait_for(descriptor.get_image_bytes(), WAIT) == png

    for reader in (a, b):
        metadata = await reader.summon(AvatarService).get_avatar_metadata(
            bare(a), require_fresh=True)
        assert [d.normalized_id for d in metadata] == [sha1(png)]
        assert await metadata[0].get_image_bytes() == png


async def test_a_photo_from_from_image_reaches_a_contact_verified(mutual_pair):
    import io

    from PIL import Image

    a, b = await mutual_pair(services=[AvatarService])
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(photo, "JPEG", quality=90)
    avatar_set = await asyncio.to_thread(AvatarSet.from_image, photo.getvalue())
    [seen_by_b] = await publish_and_wait(a, [b], avatar_set)
    [descriptor] = seen_by_b
    assert (descriptor.mime_type, descriptor.width, descriptor.height) == (
        "image/png", 192, 192)
    data = await asyncio.wait_for(descriptor.get_image_bytes(), WAIT)
    assert data == avatar_set.image_bytes
    assert sha1(data) == descriptor.normalized_id == avatar_set.png_id


async def test_notifications_on_publish_disable_and_wipe(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    svc_a, svc_b = a.summon(AvatarService), b.summon(AvatarService)
    first = make_png(rgb=(1, 2, 3))
    await publish_and_wait(a, [b], png_set(first))

    emptied = wait_metadata(svc_b, bare(a), lambda m: m == [])
    await svc_a.disable_avatar()
    assert await asyncio.wait_for(emptied, WAIT) == []
    assert await svc_b.get_avatar_metadata(bare(a)) == []

    second = make_png(rgb=(4, 5, 6))
    await publish_and_wait(a, [b], png_set(second))
    emptied = wait_metadata(svc_b, bare(a), lambda m: m == [])
    await svc_a.wipe_avatar()
    assert await asyncio.wait_for(emptied, WAIT) == []

    # The data is really gone from the server, not only hidden.
    result = await b.summon(aioxmpp.PubSubClient).get_items(bare(a), NS_DATA)
    assert result.payload.items == []
    result = await b.summon(aioxmpp.PubSubClient).get_items_by_id(
        bare(a), NS_DATA, [sha1(second)])
    assert result.payload.items == []

    # Publishing again after a wipe works (the data node is recreated).
    third = make_png(rgb=(7, 8, 9))
    [[descriptor]] = await publish_and_wait(a, [b], png_set(third))
    assert await descriptor.get_image_bytes() == third


async def test_cache_and_require_fresh_count_iqs(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png()
    await publish_and_wait(a, [b], png_set(png))
    svc_b = b.summon(AvatarService)
    before = svc_b.stats()["iq_metadata"]

    cached = await svc_b.get_avatar_metadata(bare(a))
    assert cached == await svc_b.get_avatar_metadata(bare(a))
    assert svc_b.stats()["iq_metadata"] == before, "served from the cache"

    fresh = await svc_b.get_avatar_metadata(bare(a), require_fresh=True)
    assert fresh == cached
    assert svc_b.stats()["iq_metadata"] == before + 1


async def test_account_without_avatar(server, mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    svc_b = b.summon(AvatarService)
    assert await svc_b.get_avatar_metadata(bare(a)) == []
    # XEP-0153 §4.1: an empty <photo/> in presence says "no avatar", no
    # <photo/> says nothing.  Prosody stamps the empty one into a's presence,
    # so that first answer came from the cache; ejabberd (mod_vcard_xupdate)
    # stamps a hash only for a vCard with a photo, so b had to ask: PEP
    # (item-not-found), then the vCard (without photo).
    asked = {"prosody": 0, "ejabberd": 1}[server.kind]
    stats = svc_b.stats()
    assert (stats["iq_metadata"], stats["iq_vcard"]) == (asked, asked)
    assert await svc_b.get_avatar_metadata(bare(a), require_fresh=True) == []
    stats = svc_b.stats()
    assert (stats["iq_metadata"], stats["iq_vcard"]) == (asked + 1, asked + 1)


async def test_stranger_is_refused(server, make_account, connect):
    owner, stranger = make_account.many(2)
    a = await connect(owner, services=[AvatarService])
    c = await connect(stranger, services=[AvatarService])
    await a.summon(AvatarService).publish_avatar_set(png_set(make_png()))
    with pytest.raises(aioxmpp.errors.XMPPError) as excinfo:
        await c.summon(AvatarService).get_avatar_metadata(bare(a))
    assert excinfo.value.condition == non_contact_error(server, published=True)
    # the failure is not cached: the next call asks again
    with pytest.raises(aioxmpp.errors.XMPPError):
        await c.summon(AvatarService).get_avatar_metadata(bare(a))
    assert c.summon(AvatarService).stats()["iq_metadata"] == 2


async def test_png_and_url_sources(mutual_pair):
    a, b = await mutual_pair(services=[AvatarService])
    png = make_png()
    avatar_set = png_set(png)
    gif_id = "0" * 40
    avatar_set.add_avatar_image(
        "image/gif", id_=gif_id, nbytes=1234, url="https://example.org/a.gif",
        width=64, height=64)
    [seen] = await publish_and_wait(a, [b], avatar_set)
    by_type = {d.mime_type: d for d in seen}
    assert isinstance(by_type["image/png"], PubsubAvatarDescriptor)
    http = by_type["image/gif"]
    assert isinstance(http, HttpAvatarDescriptor)
    assert (http.url, http.id_, http.nbytes, http.width) == (
        "https://example.org/a.gif", gif_id, 1234, 64)
    assert not http.can_get_image_bytes_via_xmpp
    with pytest.raises(NotImplementedError):
        await http.get_image_bytes()
    assert await by_type["image/png"].get_image_bytes() == png


async def test_refuses_a_set_without_png_before_sending(make_account, connect):
    client = await connect(make_account(), services=[AvatarService])
    svc = client.summon(AvatarService)
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image(
        "image/gif", id_="0" * 40, nbytes=1, url="https://example.org/a.gif")
    with pytest.raises(aioxmpp_avatar.AvatarSetError, match="image/png"):
        await svc.publish_avatar_set(avatar_set)
    assert await svc.get_avatar_metadata(bare(client)) == []


#: Per server kind: the modules of a server without PEP.
VCARD_ONLY_MODULES = {
    "prosody": ("roster", "saslauth", "disco", "vcard", "ping", "posix"),
    "ejabberd": {
        "mod_roster": {}, "mod_disco": {}, "mod_caps": {}, "mod_ping": {},
        "mod_vcard": {"search": False}, "mod_vcard_xupdate": {},
    },
}


@pytest.fixture(scope="module")
def vcard_server(server):
    """A second server of the same kind without PEP: only vCards (XEP-0054)
    and presence."""
    modules = VCARD_ONLY_MODULES[server.kind]
    with type(server)("vcard.test", modules=modules) as vcard_only:
        yield vcard_only


@pytest.fixture
async def vcard_pair(vcard_server, mutual_subscribe):
    """Two mutually subscribed clients with AvatarService on the vCard-only
    server."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for account in vcard_server.register_many(
                [(f"v{secrets.token_hex(4)}", "pw") for _ in range(2)]):
            client = vcard_server.make_client(account)
            for service in (aioxmpp.EntityCapsService, aioxmpp.RosterClient,
                            AvatarService):
                client.summon(service)
            client.summon(aioxmpp.PresenceServer).set_presence(
                aioxmpp.PresenceState(True))
            await stack.enter_async_context(client.connected())
            clients.append(client)
        await mutual_subscribe(*clients)
        yield clients


async def test_vcard_only_server_publish_presence_hash_and_fallback(vcard_pair):
    """XEP-0153 without PEP: synchronize_vcard publishes the vCard photo and
    advertises its hash; the contact learns it from presence, fetches the
    vCard and verifies it; the fallback with disable_pep finds it too."""
    a, b = vcard_pair
    svc_a, svc_b = a.summon(AvatarService), b.summon(AvatarService)
    svc_a.synchronize_vcard = True
    png = make_png(rgb=(9, 9, 9))
    avatar_set = png_set(png)
    seen = wait_metadata(svc_b, bare(a), lambda m: bool(m))
    await asyncio.wait_for(svc_a.publish_avatar_set(avatar_set), WAIT)
    [descriptor] = await asyncio.wait_for(seen, WAIT)
    assert isinstance(descriptor, VCardAvatarDescriptor)
    assert descriptor.id_ == sha1(png) and descriptor.nbytes is None
    assert await descriptor.get_image_bytes() == png
    assert svc_b.stats()["iq_vcard"] == 1

    [fallback] = await svc_b.get_avatar_metadata(
        bare(a), disable_pep=True, require_fresh=True)
    assert isinstance(fallback, VCardAvatarDescriptor)
    assert (fallback.id_, fallback.nbytes) == (sha1(png), len(png))
    assert await fallback.get_image_bytes() == png
    assert svc_b.stats()["iq_vcard"] == 2, "the photo came with the vCard"

    emptied = wait_metadata(svc_b, bare(a), lambda m: m == [])
    await svc_a.disable_avatar()
    assert await asyncio.wait_for(emptied, WAIT) == []
    card = await a.summon(aioxmpp.vcard.VCardService).get_vcard()
    assert card.get_photo_data() is None


async def test_hostile_peer(mutual_pair, caplog):
    """Malformed metadata and data that does not match its id: the observer
    stays connected, logs no traceback, returns only well-formed descriptors
    and still sees the next valid avatar."""
    caplog.set_level(logging.DEBUG)
    hostile, observer = await mutual_pair(services=[AvatarService])
    svc = observer.summon(AvatarService)
    jid = bare(hostile)
    good = make_png(rgb=(0, 128, 0))
    good_id = sha1(good)
    fake_id = sha1(b"something else")

    got = wait_metadata(svc, jid, lambda m: True)
    await publish_hostile(hostile, (
        f"<data xmlns='{NS_DATA}'>"
        + __import__("base64").b64encode(make_png(rgb=(255, 0, 0))).decode()
        + "</data>"), (
        f"<metadata xmlns='{NS_METADATA}'>"
        f"<info id='not-a-hash' type='image/png' bytes='10'/>"
        f"<info id='{fake_id}' type='image/png' bytes='-5'/>"
        f"<info id='{fake_id}' type='image/png' bytes='99999999999999999999'/>"
        f"<info id='{fake_id}' type='' bytes='10'/>"
        f"<info id='{fake_id}' type='image/png' bytes='{len(good)}' width='70000'"
        f" height='-1'/>"
        "</metadata>"), fake_id)
    [descriptor] = await asyncio.wait_for(got, WAIT)
    assert descriptor.id_ == fake_id
    assert (descriptor.width, descriptor.height) == (None, None)
    with pytest.raises(IntegrityError):
        await descriptor.get_image_bytes()
    assert svc.stats()["integrity_failures"] == 1
    assert any(fake_id in r.getMessage() and str(jid) in r.getMessage()
               for r in caplog.records if r.name.startswith("aioxmpp_avatar"))

    # an unparseable attribute value: aioxmpp refuses the item; we survive
    await publish_raw(hostile, NS_METADATA, (
        f"<metadata xmlns='{NS_METADATA}'>"
        f"<info id='{fake_id}' type='image/png' bytes='abc'/></metadata>"), fake_id)

    [[descriptor]] = await publish_and_wait(hostile, [observer], png_set(good))
    assert descriptor.id_ == good_id
    assert await descriptor.get_image_bytes() == good
    assert observer.established
    tracebacks = [r for r in caplog.records
                  if r.exc_info and r.name.startswith("aioxmpp_avatar")]
    assert not tracebacks


async def test_install_lets_an_unmodified_bot_use_ours(mutual_pair):
    import aioxmpp.avatar

    aioxmpp_avatar.install()
    try:
        a, b = await mutual_pair(services=[aioxmpp.avatar.AvatarService])
        svc = a.summon(aioxmpp.AvatarService)
        assert isinstance(svc, aioxmpp_avatar.AvatarService)
        avatar_set = aioxmpp.avatar.AvatarSet()
        png = make_png()
        avatar_set.add_avatar_image("image/png", image_bytes=png)
        [[descriptor]] = await publish_and_wait(a, [b], avatar_set)
        assert isinstance(descriptor, aioxmpp.avatar.service.PubsubAvatarDescriptor)
        assert await descriptor.get_image_bytes() == png
    finally:
        aioxmpp_avatar.uninstall()
    assert aioxmpp.AvatarService is not aioxmpp_avatar.AvatarService
