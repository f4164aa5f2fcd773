"""Against real servers: a silent peer's requests time out and free their
slot, a lying peer's failure never becomes another JID's, failures heal when
the id is named again, and disable_pep reads the vCard without replacing
cached PEP metadata."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import aioxmpp
import aioxmpp.pubsub.xso as pubsub_xso
import aioxmpp.vcard
import pytest

from aioxmpp_avatar import (
    AvatarService,
    AvatarSet,
    ImageUnavailableError,
    IntegrityError,
    PubsubAvatarDescriptor,
    VCardAvatarDescriptor,
)
from support.helpers import (
    NS_DATA,
    NS_METADATA,
    WAIT,
    publish_hostile,
    publish_raw,
    wait_metadata,
)
from support.images import make_png


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def metadata_xml(id_, nbytes):
    return (f"<metadata xmlns='{NS_METADATA}'>"
            f"<info id='{id_}' type='image/png' bytes='{nbytes}'/></metadata>")


def data_xml(data):
    return f"<data xmlns='{NS_DATA}'>{base64.b64encode(data).decode()}</data>"


async def test_a_silent_peer_times_out_and_others_still_get_through(mutual_pair):
    silent, observer = await mutual_pair(services=[AvatarService])
    never = asyncio.get_running_loop().create_future()

    async def ignore(iq):
        await never  # never answers: no result, no error

    silent.stream.register_iq_request_handler(
        aioxmpp.IQType.GET, pubsub_xso.Request, ignore)
    svc = observer.summon(AvatarService)
    svc.request_timeout = 0.5
    # Four slots, three for one domain (the silent peer's and ours are the
    # same): the stuck request holds one, ours gets another.
    svc.max_concurrent_requests = 4
    before = svc.stats()["iq_metadata"]
    # IQs to a full JID reach the client itself, which stays silent.
    stuck = asyncio.ensure_future(svc.get_avatar_metadata(silent.local_jid))
    await asyncio.sleep(0)
    # require_fresh: a real IQ, not an answer from what presence told us.
    assert await asyncio.wait_for(svc.get_avatar_metadata(
        observer.local_jid.bare(), require_fresh=True), WAIT) == []
    assert svc.stats()["iq_metadata"] == before + 2, "the stuck one and ours"
    assert not stuck.done(), "ours got through while the silent one waits"
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(stuck, WAIT)
    # The slot is free and nothing was cached: asking again sends a new IQ.
    before = svc.stats()["iq_metadata"]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(svc.get_avatar_metadata(silent.local_jid), WAIT)
    assert svc.stats()["iq_metadata"] == before + 1
    never.cancel()


async def test_a_liars_failing_fetch_is_not_the_victims(
        make_account, connect, mutual_subscribe):
    acc_victim, acc_liar, acc_obs = make_account.many(3)
    victim = await connect(acc_victim, services=[AvatarService])
    liar = await connect(acc_liar, services=[AvatarService])
    observer = await connect(acc_obs, services=[AvatarService])
    for peer in (victim, liar):
        await mutual_subscribe(observer, peer)
    svc = observer.summon(AvatarService)
    png = make_png(rgb=(1, 2, 3))
    id_ = sha1(png)
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=png)
    await asyncio.wait_for(
        victim.summon(AvatarService).publish_avatar_set(avatar_set), WAIT)
    # The liar advertises the victim's id over other data of another size.
    await publish_hostile(liar, data_xml(b"x" * 10), metadata_xml(id_, 10), id_)
    [theirs] = await asyncio.wait_for(
        svc.get_avatar_metadata(liar.local_jid.bare(), require_fresh=True), WAIT)
    [real] = await asyncio.wait_for(
        svc.get_avatar_metadata(victim.local_jid.bare(), require_fresh=True), WAIT)
    assert theirs.id_ == real.id_ == id_
    lie, truth = await asyncio.wait_for(asyncio.gather(
        theirs.get_image_bytes(), real.get_image_bytes(), return_exceptions=True),
        WAIT)
    assert isinstance(lie, IntegrityError)
    assert truth == png


async def test_metadata_before_data_heals_when_named_again(mutual_pair):
    publisher, observer = await mutual_pair(services=[AvatarService])
    svc = observer.summon(AvatarService)
    jid = publisher.local_jid.bare()
    png = make_png(rgb=(9, 9, 9))
    id_ = sha1(png)
    got = wait_metadata(svc, jid)
    # Metadata first, as slixmpp and others may publish it.
    await publish_raw(publisher, NS_METADATA, metadata_xml(id_, len(png)), id_)
    [descriptor] = await asyncio.wait_for(got, WAIT)
    with pytest.raises((aioxmpp.errors.XMPPError, ImageUnavailableError)):
        await asyncio.wait_for(descriptor.get_image_bytes(), WAIT)
    with pytest.raises(ImageUnavailableError):
        await asyncio.wait_for(descriptor.get_image_bytes(), WAIT)
    await publish_raw(publisher, NS_DATA, data_xml(png), id_)
    await publish_raw(publisher, NS_METADATA, metadata_xml(id_, len(png)), id_)
    [again] = await asyncio.wait_for(
        svc.get_avatar_metadata(jid, require_fresh=True), WAIT)
    assert await asyncio.wait_for(again.get_image_bytes(), WAIT) == png


async def test_disable_pep_reads_the_vcard_and_keeps_pep_metadata(mutual_pair):
    publisher, observer = await mutual_pair(services=[AvatarService])
    svc = observer.summon(AvatarService)
    jid = publisher.local_jid.bare()
    pep_png = make_png(rgb=(5, 5, 5))
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=pep_png)
    got = wait_metadata(svc, jid)
    await asyncio.wait_for(
        publisher.summon(AvatarService).publish_avatar_set(avatar_set), WAIT)
    await asyncio.wait_for(got, WAIT)
    # XEP-0398 servers serve the PEP avatar as vCard photo too (Prosody:
    # mod_vcard_legacy, ejabberd: mod_avatar).
    card = await observer.summon(aioxmpp.vcard.VCardService).get_vcard(jid)
    card_photo = card.get_photo_data()
    assert card_photo is not None

    changes = []
    svc.on_metadata_changed.connect(lambda j, m: changes.append(j))
    [from_card] = await asyncio.wait_for(
        svc.get_avatar_metadata(jid, require_fresh=True, disable_pep=True), WAIT)
    assert isinstance(from_card, VCardAvatarDescriptor)
    assert from_card.id_ == sha1(card_photo)
    [cached] = await svc.get_avatar_metadata(jid)
    assert isinstance(cached, PubsubAvatarDescriptor)
    assert cached.id_ == sha1(pep_png)
    assert changes == []
