"""Unit tests of :class:`aioxmpp_avatar.AvatarService` without a network.

The service is built the way aioxmpp's own tests build theirs: a client
from :func:`aioxmpp.testutils.make_connected_client` and the dependency
services (PubSub, PEP, presence, disco, vCard) replaced by mocks passed via
``dependencies=``. Events are fed to the service's handlers directly
(``_handle_pubsub_publish``, ``_handle_on_available``, …), IQs are answered
by the mocks, and concurrency is driven with futures, never with sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import unittest.mock as um

import aioxmpp
import aioxmpp.avatar
import aioxmpp.avatar.service
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.callbacks
import aioxmpp.disco.xso as disco_xso
import aioxmpp.errors
import aioxmpp.forms
import aioxmpp.muc  # registers Presence.xep0045_muc_user
import aioxmpp.pep
import aioxmpp.pubsub.xso as pubsub_xso
import aioxmpp.service
import aioxmpp.stream
import aioxmpp.vcard
import aioxmpp.vcard.xso as vcard_xso
import pytest
from aioxmpp.testutils import make_connected_client

import aioxmpp_avatar
from aioxmpp_avatar import (
    AvatarService,
    AvatarSet,
    AvatarSetError,
    HttpAvatarDescriptor,
    ImageTooLargeError,
    ImageUnavailableError,
    IntegrityError,
    PubsubAvatarDescriptor,
    VCardAvatarDescriptor,
    _png,
)

#: Seconds any single wait in these tests may take.
TIMEOUT = 5.0

NS_DATA = "urn:xmpp:avatar:data"
NS_METADATA = "urn:xmpp:avatar:metadata"
NS_PEP_VCARD_CONVERSION = "urn:xmpp:pep-vcard-conversion:0"

ME = aioxmpp.JID.fromstr("me@example.org/desk")
ME_OTHER = aioxmpp.JID.fromstr("me@example.org/phone")
ME_THIRD = aioxmpp.JID.fromstr("me@example.org/tablet")
ALICE = aioxmpp.JID.fromstr("alice@example.org")
ALICE_FULL = aioxmpp.JID.fromstr("alice@example.org/laptop")
BOB = aioxmpp.JID.fromstr("bob@example.org")
CAROL = aioxmpp.JID.fromstr("carol@example.org")
DAVE = aioxmpp.JID.fromstr("dave@example.org")
BOB_ELSEWHERE = aioxmpp.JID.fromstr("bob@example.net")
CAROL_ELSEWHERE = aioxmpp.JID.fromstr("carol@example.com")
ROOM = aioxmpp.JID.fromstr("room@muc.example.org")
OCCUPANT = aioxmpp.JID.fromstr("room@muc.example.org/nick")


# -- test data -------------------------------------------------------------


def make_png(width: int = 2, height: int = 3, shade: int = 0) -> bytes:
    """A small valid PNG; `shade` makes distinct images."""
    return _png.make_png(width, height, (shade, shade, shade))


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


PNG = make_png(2, 3, shade=10)
PNG_ID = sha1(PNG)
PNG2 = make_png(4, 5, shade=200)
PNG2_ID = sha1(PNG2)
OTHER_ID = sha1(b"some other image")


def info(
    id_: str = PNG_ID,
    *,
    mime_type: str = "image/png",
    nbytes: int = len(PNG),
    width=None,
    height=None,
    url=None,
) -> avatar_xso.Info:
    return avatar_xso.Info(id_, mime_type, nbytes, width=width, height=height, url=url)


def metadata(*infos: avatar_xso.Info) -> avatar_xso.Metadata:
    result = avatar_xso.Metadata()
    for entry in infos:
        result.info[entry.mime_type].append(entry)
    return result


def event_item(payload, id_: str = PNG_ID) -> pubsub_xso.EventItem:
    """What `avatar_pep.on_item_publish` hands over for a notification."""
    return pubsub_xso.EventItem(payload, id_=id_)


def items_result(node: str, *payloads, ids=None) -> pubsub_xso.Request:
    """The answer of `PubSubClient.get_items`/`get_items_by_id`."""
    items = pubsub_xso.Items(node)
    for n, payload in enumerate(payloads):
        item = pubsub_xso.Item(id_=(ids[n] if ids else PNG_ID))
        item.registered_payload = payload
        items.items.append(item)
    return pubsub_xso.Request(items)


def metadata_result(*infos: avatar_xso.Info) -> pubsub_xso.Request:
    return items_result(NS_METADATA, metadata(*infos))


def data_result(data: bytes) -> pubsub_xso.Request:
    return items_result(NS_DATA, avatar_xso.Data(data))


def vcard_with_photo(data=None, mime_type: str = "image/png") -> vcard_xso.VCard:
    card = vcard_xso.VCard()
    if data is not None:
        card.set_photo_data(mime_type, data)
    return card


def presence(photo=..., *, muc: bool = False, type_=None) -> aioxmpp.Presence:
    """A presence stanza; `photo` ... means no vcard-temp:x:update at all,
    None an update without <photo/>, a string that <photo/> text."""
    if type_ is None:
        stanza = aioxmpp.Presence()
    else:
        stanza = aioxmpp.Presence(type_=type_)
    if photo is not ...:
        stanza.xep0153_x = avatar_xso.VCardTempUpdate(photo)
    if muc:
        stanza.xep0045_muc_user = aioxmpp.muc.xso.UserExt()
    return stanza


def unavailable(*, muc: bool = False) -> aioxmpp.Presence:
    return presence(muc=muc, type_=aioxmpp.PresenceType.UNAVAILABLE)


def xmpp_cancel(condition) -> aioxmpp.errors.XMPPCancelError:
    return aioxmpp.errors.XMPPCancelError(condition)


async def until(predicate, what: str, *, rounds: int = 200) -> None:
    """Let the event loop run until `predicate()` holds (no timing)."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting for {what}")


class Gate:
    """An awaitable stand-in for an IQ: the mock's side effect records the
    call, sets `started` and waits for the test to answer via `future`."""

    def __init__(self) -> None:
        self.future = asyncio.get_running_loop().create_future()
        self.started = asyncio.Event()
        self.calls = []

    async def request(self, *args, **kwargs):
        """The side effect to give the mock (an ``async def``)."""
        self.calls.append((args, kwargs))
        self.started.set()
        return await self.future

    async def wait_started(self) -> None:
        await asyncio.wait_for(self.started.wait(), TIMEOUT)


# -- the service under test --------------------------------------------------


class Env:
    """An AvatarService over mocked dependencies, plus a recorder of its
    `on_metadata_changed` emissions."""

    def __init__(self) -> None:
        self.client = make_connected_client()
        self.client.local_jid = ME
        self.disco = um.MagicMock(spec=aioxmpp.DiscoClient)
        self.disco_server = um.MagicMock(spec=aioxmpp.DiscoServer)
        self.pubsub = um.MagicMock(spec=aioxmpp.PubSubClient)
        self.pep = um.MagicMock(spec=aioxmpp.PEPClient)
        self.presence_client = um.MagicMock(spec=aioxmpp.PresenceClient)
        self.presence_server = um.MagicMock(spec=aioxmpp.PresenceServer)
        self.vcard = um.MagicMock(spec=aioxmpp.vcard.VCardService)

        # Defaults: PEP available, nobody has an avatar anywhere, our own
        # vCard has no photo, the server does not convert vCard <-> PEP.
        self.pep.available.return_value = True
        self.pubsub.get_items.side_effect = xmpp_cancel(
            aioxmpp.ErrorCondition.ITEM_NOT_FOUND
        )
        self.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo()
        self.disco.query_info.return_value = disco_xso.InfoQuery(features=())

        self.service = self.make_service()
        self.changes = []
        self.service.on_metadata_changed.connect(
            lambda jid, descriptors: self.changes.append((jid, descriptors))
        )

    def make_service(self) -> AvatarService:
        return AvatarService(
            self.client,
            dependencies={
                aioxmpp.DiscoClient: self.disco,
                aioxmpp.DiscoServer: self.disco_server,
                aioxmpp.PubSubClient: self.pubsub,
                aioxmpp.PEPClient: self.pep,
                aioxmpp.PresenceClient: self.presence_client,
                aioxmpp.PresenceServer: self.presence_server,
                aioxmpp.vcard.VCardService: self.vcard,
            },
        )

    def advertised(self):
        """The vcard-temp:x:update our next presence carries (None: none)."""
        stanza = self.service._attach_vcard_notify_to_presence(aioxmpp.Presence())
        return stanza.xep0153_x

    def notify(self, jid, *infos, payload=None) -> None:
        """A PEP metadata notification from `jid`."""
        item = event_item(metadata(*infos) if payload is None else payload)
        self.service._handle_pubsub_publish(jid, NS_METADATA, item)

    def stats(self) -> dict:
        return self.service.stats()


def _aioxmpp_original(module, name):
    """aioxmpp's own object, even while install() is in effect."""
    saved = getattr(aioxmpp_avatar, "_originals", {})
    return saved.get((module, name), getattr(module, name))


# -- the service class ---------------------------------------------------------


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


# -- settings ----------------------------------------------------------------


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


# -- get_avatar_metadata -----------------------------------------------------


def _check_png_and_url_descriptors(descriptors, jid):
    assert len(descriptors) == 2
    png, http = descriptors
    assert type(png) is PubsubAvatarDescriptor
    assert png.remote_jid == jid
    assert png.id_ == PNG_ID
    assert png.normalized_id == PNG_ID
    assert png.mime_type == "image/png"
    assert png.nbytes == len(PNG)
    assert (png.width, png.height) == (2, 3)
    assert png.url is None
    assert png.can_get_image_bytes_via_xmpp
    assert type(http) is HttpAvatarDescriptor
    assert http.remote_jid == jid
    assert http.id_ == PNG2_ID.upper()
    assert http.normalized_id == PNG2_ID
    assert http.mime_type == "image/jpeg"
    assert http.nbytes == 1234
    assert (http.width, http.height) == (64, 48)
    assert http.url == "https://example.org/avatar.jpg"
    assert not http.can_get_image_bytes_via_xmpp


PNG_INFO = dict(id_=PNG_ID, nbytes=len(PNG), width=2, height=3)
HTTP_INFO = dict(
    id_=PNG2_ID.upper(),
    mime_type="image/jpeg",
    nbytes=1234,
    width=64,
    height=48,
    url="https://example.org/avatar.jpg",
)


async def test_get_avatar_metadata_from_pep(env):
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(
        info(**PNG_INFO), info(**HTTP_INFO)
    )
    descriptors = await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items.assert_awaited_once_with(ALICE, NS_METADATA, max_items=1)
    _check_png_and_url_descriptors(descriptors, ALICE)
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
    bob = await _pubsub_descriptor(env, BOB, id_=PNG2_ID, nbytes=len(PNG2))
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


# -- single-flight -------------------------------------------------------------


async def test_concurrent_requests_share_one_iq(env):
    gate = Gate()
    env.pubsub.get_items.side_effect = gate.request
    tasks = [
        asyncio.ensure_future(env.service.get_avatar_metadata(ALICE)) for _ in range(20)
    ]
    await gate.wait_started()
    gate.future.set_result(metadata_result(info()))
    results = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert len(gate.calls) == 1
    assert gate.calls[0] == ((ALICE, NS_METADATA), {"max_items": 1})
    assert all(r == results[0] for r in results)
    assert [d.id_ for d in results[0]] == [PNG_ID]
    assert len(env.changes) == 1
    stats = env.stats()
    assert stats["iq_metadata"] == 1
    assert stats["requests_coalesced"] == 19


async def test_cancelling_one_waiter_does_not_cancel_the_others(env):
    gate = Gate()
    env.pubsub.get_items.side_effect = gate.request
    tasks = [
        asyncio.ensure_future(env.service.get_avatar_metadata(ALICE)) for _ in range(5)
    ]
    await gate.wait_started()
    tasks[0].cancel()
    await asyncio.wait([tasks[0]], timeout=TIMEOUT)
    assert tasks[0].cancelled()
    assert not gate.future.cancelled()
    gate.future.set_result(metadata_result(info()))
    results = await asyncio.wait_for(asyncio.gather(*tasks[1:]), TIMEOUT)
    assert all([d.id_ for d in r] == [PNG_ID] for r in results)
    assert len(gate.calls) == 1
    # The answer was stored although the first asker went away.
    await env.service.get_avatar_metadata(ALICE)
    assert len(gate.calls) == 1


async def test_failure_reaches_all_waiters_and_is_not_cached(env):
    gate = Gate()
    env.pubsub.get_items.side_effect = gate.request
    tasks = [
        asyncio.ensure_future(env.service.get_avatar_metadata(ALICE)) for _ in range(5)
    ]
    await gate.wait_started()
    gate.future.set_exception(xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN))
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), TIMEOUT
    )
    assert all(isinstance(r, aioxmpp.errors.XMPPCancelError) for r in results)
    assert len(gate.calls) == 1
    assert env.changes == []

    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG_ID]
    assert env.pubsub.get_items.await_count == 2  # the gate's call, then this one


async def test_requests_for_many_jids_respect_the_concurrency_limit(env):
    env.service.max_concurrent_requests = 2
    # Three domains: within one, a domain's share of the slots applies.
    gates = {jid: Gate() for jid in (ALICE, BOB_ELSEWHERE, CAROL_ELSEWHERE)}

    async def get_items(jid, node, *, max_items=None):
        return await gates[jid].request(jid, node, max_items=max_items)

    env.pubsub.get_items.side_effect = get_items
    tasks = {
        jid: asyncio.ensure_future(env.service.get_avatar_metadata(jid))
        for jid in gates
    }
    await gates[ALICE].wait_started()
    await gates[BOB_ELSEWHERE].wait_started()
    assert not gates[CAROL_ELSEWHERE].started.is_set()
    gates[ALICE].future.set_result(metadata_result(info()))
    await gates[CAROL_ELSEWHERE].wait_started()
    for jid in (BOB_ELSEWHERE, CAROL_ELSEWHERE):
        gates[jid].future.set_result(metadata_result())
    results = await asyncio.wait_for(asyncio.gather(*tasks.values()), TIMEOUT)
    assert [[d.id_ for d in r] for r in results] == [[PNG_ID], [], []]
    with pytest.raises(ValueError):
        env.service.max_concurrent_requests = 0


async def test_notification_during_request_wins(env):
    gate = Gate()
    env.pubsub.get_items.side_effect = gate.request
    task = asyncio.ensure_future(env.service.get_avatar_metadata(ALICE))
    await gate.wait_started()
    env.notify(ALICE, info(PNG2_ID, nbytes=len(PNG2)))
    gate.future.set_result(metadata_result(info()))  # the older state
    result = await asyncio.wait_for(task, TIMEOUT)
    assert [d.id_ for d in result] == [PNG2_ID]
    cached = await env.service.get_avatar_metadata(ALICE)
    assert [d.id_ for d in cached] == [PNG2_ID]
    assert len(gate.calls) == 1
    assert len(env.changes) == 1
    assert [d.id_ for d in env.changes[0][1]] == [PNG2_ID]


async def test_presence_hash_during_vcard_fallback_wins(env):
    gate = Gate()
    env.vcard.get_vcard.side_effect = gate.request
    task = asyncio.ensure_future(env.service.get_avatar_metadata(ALICE))
    await gate.wait_started()
    env.service._handle_on_available(ALICE_FULL, presence(PNG2_ID))
    gate.future.set_result(vcard_with_photo(PNG))
    result = await asyncio.wait_for(task, TIMEOUT)
    assert [d.id_ for d in result] == [PNG2_ID]
    assert len(env.changes) == 1


# -- PEP notifications -------------------------------------------------------


async def test_notification_builds_pubsub_and_http_descriptors(env):
    env.notify(ALICE, info(**PNG_INFO), info(**HTTP_INFO))
    assert len(env.changes) == 1
    jid, descriptors = env.changes[0]
    assert jid == ALICE
    _check_png_and_url_descriptors(descriptors, ALICE)
    assert await env.service.get_avatar_metadata(ALICE) == descriptors
    env.pubsub.get_items.assert_not_called()


def _without(entry: avatar_xso.Info, attribute: str) -> avatar_xso.Info:
    """`entry` with a required attribute unset (as if it had been absent)."""
    delattr(entry, attribute)
    return entry


async def test_malformed_entries_are_dropped(env):
    valid_gif = info(OTHER_ID, mime_type="image/gif", nbytes=99)
    env.notify(
        ALICE,
        info(**PNG_INFO),
        _without(info(OTHER_ID, mime_type="image/no-id"), "id_"),
        _without(info(OTHER_ID, mime_type="image/no-bytes"), "nbytes"),
        info("", mime_type="image/missing-id"),
        info("not-a-sha1-" + "x" * 29, mime_type="image/bad-id"),
        info(OTHER_ID, mime_type="image/negative", nbytes=-1),
        info(OTHER_ID, mime_type="image/huge", nbytes=2**40),
        info(OTHER_ID, mime_type="image/wide", nbytes=5, width=70000),
        valid_gif,
    )
    assert len(env.changes) == 1
    descriptors = env.changes[0][1]
    kept = {d.mime_type: d for d in descriptors}
    assert "image/png" in kept and "image/gif" in kept
    assert kept["image/png"].id_ == PNG_ID
    assert kept["image/gif"].nbytes == 99
    for bad in (
        "image/no-id",
        "image/no-bytes",
        "image/missing-id",
        "image/bad-id",
        "image/negative",
        "image/huge",
    ):
        assert bad not in kept
    # An out-of-range width never reaches a descriptor.
    assert all(d.width != 70000 for d in descriptors)
    if "image/wide" in kept:
        assert kept["image/wide"].width is None
    assert env.stats()["infos_dropped"] >= 6


async def test_only_malformed_entries_mean_no_avatar(env):
    env.notify(ALICE, info("zz", nbytes=1))
    assert env.changes == [(ALICE, [])]


async def test_items_without_metadata_payload_are_ignored(env):
    env.service._handle_pubsub_publish(
        ALICE, NS_METADATA, event_item(avatar_xso.Data(PNG))
    )
    env.service._handle_pubsub_publish(ALICE, NS_METADATA, pubsub_xso.EventItem(None))
    assert env.changes == []
    assert env.stats()["cached_jids"] == 0


async def test_empty_metadata_means_no_avatar(env):
    env.notify(ALICE, info())
    env.notify(ALICE)  # <metadata/>
    assert [d for _, d in env.changes] == [env.changes[0][1], []]
    assert await env.service.get_avatar_metadata(ALICE) == []
    env.pubsub.get_items.assert_not_called()


async def test_unchanged_notifications_do_not_fire(env):
    env.notify(ALICE, info())
    env.notify(ALICE, info())
    env.notify(ALICE, info())
    assert len(env.changes) == 1
    env.notify(ALICE)
    env.notify(ALICE)
    assert len(env.changes) == 2


async def test_cached_list_is_the_notified_list(env):
    env.notify(ALICE, info())
    first = env.changes[0][1]
    assert await env.service.get_avatar_metadata(ALICE) == first


async def test_pep_avatar_is_not_overridden_by_vcard_presence(env):
    env.notify(ALICE, info())
    env.service._handle_on_available(ALICE_FULL, presence(PNG2_ID))
    env.service._handle_on_changed(ALICE_FULL, presence(""))
    assert len(env.changes) == 1
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG_ID]

    # Even after the PEP avatar was disabled.
    env.notify(ALICE)
    env.service._handle_on_available(ALICE_FULL, presence(PNG2_ID))
    assert await env.service.get_avatar_metadata(ALICE) == []


# -- presence (XEP-0153) -----------------------------------------------------


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


async def _known_own_hash(env, data=PNG):
    """Make the service learn our own vCard hash through a rehash."""
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(data)
    env.service.advertise_vcard = True
    await until(lambda: env.advertised().photo is not None, "the rehash")
    env.vcard.get_vcard.reset_mock()
    env.presence_server.resend_presence.reset_mock()


async def test_own_resource_interference(env):
    await _known_own_hash(env)
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
    await _known_own_hash(env)
    env.service._handle_on_available(ME_OTHER, presence())
    assert env.advertised().photo is None
    env.service._handle_on_changed(ME_OTHER, presence(PNG_ID))
    # Interference is over; the hash must be recomputed (aioxmpp forgets it
    # and rehashes because the other resource's hash differs from "unknown").
    await until(lambda: env.advertised().photo is not None, "the rehash")
    assert env.advertised().photo == PNG_ID


async def test_our_own_presence_is_not_interference(env):
    await _known_own_hash(env)
    env.service._handle_on_available(ME, presence())
    assert env.advertised().photo == PNG_ID


async def test_different_hash_from_own_resource_triggers_one_rehash(env):
    await _known_own_hash(env, PNG2)
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


# -- publishing --------------------------------------------------------------


def png_set(data: bytes = PNG) -> AvatarSet:
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=data)
    return avatar_set


def _published(env):
    """(node, payload, id_, access_model) of every pep.publish call."""
    return [
        (c.args[0], c.args[1], c.kwargs.get("id_"), c.kwargs.get("access_model"))
        for c in env.pep.publish.call_args_list
    ]


async def test_publish_avatar_set(env):
    avatar_set = png_set()
    await env.service.publish_avatar_set(avatar_set)
    published = _published(env)
    assert [(node, id_, access) for node, _, id_, access in published] == [
        (NS_DATA, PNG_ID, None),
        (NS_METADATA, PNG_ID, None),
    ]
    data, meta = published[0][1], published[1][1]
    assert isinstance(data, avatar_xso.Data) and data.data == PNG
    assert isinstance(meta, avatar_xso.Metadata)
    (entry,) = meta.info["image/png"]
    assert (entry.id_, entry.nbytes, entry.mime_type) == (PNG_ID, len(PNG), "image/png")
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_publish_avatar_set_synchronizes_vcard(env):
    env.service.synchronize_vcard = True
    card = vcard_with_photo(PNG2)
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = card
    await env.service.publish_avatar_set(png_set())
    assert [p[0] for p in _published(env)] == [NS_DATA, NS_METADATA]
    env.vcard.get_vcard.assert_awaited_once()
    assert env.vcard.get_vcard.call_args.args in ((), (None,))
    env.vcard.set_vcard.assert_awaited_once()
    (stored,) = env.vcard.set_vcard.call_args.args
    assert stored.get_photo_data() == PNG
    assert stored.get_photo_mime_type() == "image/png"
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == PNG_ID


async def test_publish_failure_leaves_vcard_alone(env):
    env.service.synchronize_vcard = True
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set())
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_publish_without_png_bytes_is_refused_before_any_call(env):
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image(
        "image/png", id_=PNG_ID, nbytes=len(PNG), url="https://example.org/a.png"
    )
    env.service.synchronize_vcard = True
    with pytest.raises(AvatarSetError) as caught:
        await env.service.publish_avatar_set(avatar_set)
    assert isinstance(caught.value, RuntimeError)
    assert env.pep.mock_calls == [
        c for c in env.pep.mock_calls if c[0].startswith("claim_pep_node")
    ]
    env.pep.available.assert_not_called()
    env.pep.publish.assert_not_called()
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()

    with pytest.raises(RuntimeError):
        await env.service.publish_avatar_set(AvatarSet())
    env.pep.publish.assert_not_called()


async def test_publish_without_any_protocol_raises_runtime_error(env):
    env.pep.available.return_value = False
    with pytest.raises(RuntimeError):
        await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_not_called()


async def test_publish_with_vcard_only(env):
    env.pep.available.return_value = False
    env.service.synchronize_vcard = True
    await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_not_called()
    env.vcard.set_vcard.assert_awaited_once()
    assert env.advertised().photo == PNG_ID


async def test_publish_passes_access_model(env):
    await env.service.publish_avatar_set(png_set(), access_model="open")
    assert [(p[0], p[3]) for p in _published(env)] == [
        (NS_DATA, "open"),
        (NS_METADATA, "open"),
    ]
    env.pubsub.set_node_config.assert_not_called()


async def test_publish_uses_default_access_model(env):
    env.service.default_access_model = "presence"
    await env.service.publish_avatar_set(png_set())
    assert [p[3] for p in _published(env)] == ["presence", "presence"]


async def test_publish_refuses_unknown_access_models_before_sending(env):
    with pytest.raises(ValueError, match="access_model must be one of open"):
        await env.service.publish_avatar_set(png_set(), access_model="public")
    env.pep.publish.assert_not_called()
    with pytest.raises(ValueError, match="got 'everyone'|got \"everyone\""):
        env.service.default_access_model = "everyone"
    assert env.service.default_access_model is None


async def test_publish_conflict_reconfigures_node_and_retries_once(env):
    env.pep.publish.side_effect = [
        xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT),
        None,
        None,
    ]
    form = aioxmpp.forms.Data(aioxmpp.forms.DataType.FORM)
    form.fields.append(
        aioxmpp.forms.Field(
            type_=aioxmpp.forms.FieldType.HIDDEN,
            var="FORM_TYPE",
            values=["http://jabber.org/protocol/pubsub#node_config"],
        )
    )
    form.fields.append(
        aioxmpp.forms.Field(var="pubsub#access_model", values=["presence"])
    )
    env.pubsub.get_node_config.return_value = form

    await env.service.publish_avatar_set(png_set(), access_model="open")

    env.pubsub.get_node_config.assert_awaited_once_with(ME.bare(), NS_DATA)
    env.pubsub.set_node_config.assert_awaited_once()
    jid, submitted, node = env.pubsub.set_node_config.call_args.args
    assert (jid, node) == (ME.bare(), NS_DATA)
    assert submitted.type_ == aioxmpp.forms.DataType.SUBMIT
    values = {f.var: list(f.values) for f in submitted.fields}
    assert values["pubsub#access_model"] == ["open"]
    assert values["FORM_TYPE"] == ["http://jabber.org/protocol/pubsub#node_config"]
    assert [(p[0], p[2], p[3]) for p in _published(env)] == [
        (NS_DATA, PNG_ID, "open"),
        (NS_DATA, PNG_ID, "open"),
        (NS_METADATA, PNG_ID, "open"),
    ]


async def test_publish_conflict_twice_gives_up(env):
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT)
    env.pubsub.get_node_config.return_value = aioxmpp.forms.Data(
        aioxmpp.forms.DataType.FORM
    )
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set(), access_model="open")
    assert env.pep.publish.await_count == 2
    env.pubsub.set_node_config.assert_awaited_once()


async def test_publish_conflict_without_access_model_propagates(env):
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_awaited_once()
    env.pubsub.get_node_config.assert_not_called()
    env.pubsub.set_node_config.assert_not_called()


async def test_server_side_vcard_conversion_is_respected(env):
    env.disco.query_info.return_value = disco_xso.InfoQuery(
        features=(NS_PEP_VCARD_CONVERSION,)
    )
    env.service.synchronize_vcard = True
    await env.service.publish_avatar_set(png_set())
    env.disco.query_info.assert_awaited_once_with(ME.bare())
    assert [p[0] for p in _published(env)] == [NS_DATA, NS_METADATA]
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == PNG_ID

    await env.service.disable_avatar()
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    assert env.advertised().photo == ""


async def test_disable_avatar(env):
    await env.service.disable_avatar()
    env.pep.publish.assert_awaited_once()
    node, payload = env.pep.publish.call_args.args
    assert node == NS_METADATA
    assert isinstance(payload, avatar_xso.Metadata)
    assert len(payload.info) == 0 and len(payload.pointer) == 0
    env.pubsub.purge.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_disable_avatar_without_pep_or_vcard_does_nothing(env):
    env.pep.available.return_value = False
    await env.service.disable_avatar()
    env.pep.publish.assert_not_called()


async def test_disable_avatar_clears_vcard_photo(env):
    env.service.synchronize_vcard = True
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = vcard_with_photo(PNG)
    await env.service.disable_avatar()
    env.vcard.set_vcard.assert_awaited_once()
    (card,) = env.vcard.set_vcard.call_args.args
    assert card.get_photo_data() is None
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == ""
    assert [p[0] for p in _published(env)] == [NS_METADATA]


async def test_disable_avatar_gathers_errors(env):
    env.service.synchronize_vcard = True
    env.pep.publish.side_effect = RuntimeError("pep broke")
    with pytest.raises(aioxmpp.errors.GatherError) as caught:
        await env.service.disable_avatar()
    assert isinstance(caught.value, RuntimeError)
    assert any("pep broke" in str(e) for e in caught.value.exceptions)
    # The vCard part was done anyway.
    env.vcard.set_vcard.assert_awaited_once()
    env.presence_server.resend_presence.assert_called_once_with()

    env.vcard.set_vcard.side_effect = RuntimeError("vcard broke")
    with pytest.raises(aioxmpp.errors.GatherError) as caught:
        await env.service.disable_avatar()
    assert len(caught.value.exceptions) == 2


async def test_wipe_avatar(env):
    await env.service.wipe_avatar()
    env.pep.publish.assert_awaited_once()
    node, payload = env.pep.publish.call_args.args
    assert node == NS_METADATA
    assert isinstance(payload, avatar_xso.Metadata) and len(payload.info) == 0
    env.pubsub.purge.assert_awaited_once_with(ME.bare(), NS_DATA)
    env.pubsub.delete.assert_not_called()
    env.vcard.set_vcard.assert_not_called()


async def test_wipe_avatar_without_data_node_is_fine(env):
    env.pubsub.purge.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.ITEM_NOT_FOUND)
    await env.service.wipe_avatar()
    env.pubsub.purge.assert_awaited_once()
    assert [p[0] for p in _published(env)] == [NS_METADATA]


async def test_wipe_avatar_without_purge_overwrites_the_data(env):
    env.pubsub.purge.side_effect = xmpp_cancel(
        aioxmpp.ErrorCondition.FEATURE_NOT_IMPLEMENTED)
    await env.service.wipe_avatar()
    assert [p[0] for p in _published(env)] == [NS_METADATA, NS_DATA]
    assert _published(env)[1][1].data == b""


async def test_wipe_avatar_with_vcard_and_errors(env):
    env.service.synchronize_vcard = True
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = vcard_with_photo(PNG)
    await env.service.wipe_avatar()
    (card,) = env.vcard.set_vcard.call_args.args
    assert card.get_photo_data() is None
    env.pubsub.purge.assert_awaited_once_with(ME.bare(), NS_DATA)
    assert env.advertised().photo == ""

    env.pubsub.purge.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN)
    with pytest.raises(aioxmpp.errors.GatherError):
        await env.service.wipe_avatar()
    assert env.vcard.set_vcard.await_count == 2


# -- images ------------------------------------------------------------------


async def _pubsub_descriptor(env, jid=ALICE, **kwargs):
    env.notify(jid, info(**{**PNG_INFO, **kwargs}))
    (descriptor,) = await env.service.get_avatar_metadata(jid)
    return descriptor


async def test_image_fetched_once_for_concurrent_askers(env):
    descriptor = await _pubsub_descriptor(env)
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [asyncio.ensure_future(descriptor.get_image_bytes()) for _ in range(10)]
    await gate.wait_started()
    gate.future.set_result(data_result(PNG))
    results = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert results == [PNG] * 10
    assert gate.calls == [((ALICE, NS_DATA, [PNG_ID]), {})]
    stats = env.stats()
    assert stats["iq_data"] == 1
    assert stats["bytes_verified"] == len(PNG)

    hits = stats["image_memory_hits"]
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert len(gate.calls) == 1
    assert env.stats()["image_memory_hits"] == hits + 1


async def test_same_image_of_two_jids_is_fetched_once(env):
    alice = await _pubsub_descriptor(env, ALICE)
    bob = await _pubsub_descriptor(env, BOB)
    assert alice != bob
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [
        asyncio.ensure_future(d.get_image_bytes()) for d in (alice, bob, alice, bob)
    ]
    await gate.wait_started()
    gate.future.set_result(data_result(PNG))
    assert await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT) == [PNG] * 4
    assert len(gate.calls) == 1

    carol = await _pubsub_descriptor(env, CAROL)
    assert await asyncio.wait_for(carol.get_image_bytes(), TIMEOUT) == PNG
    assert len(gate.calls) == 1


async def test_mismatching_image_is_rejected_and_not_stored(env):
    descriptor = await _pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG2)
    with pytest.raises(IntegrityError) as caught:
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert isinstance(caught.value, RuntimeError)
    stats = env.stats()
    assert stats["integrity_failures"] == 1
    assert stats["image_memory_used"] == 0

    # Asked again soon: refused by the negative cache, no IQ.
    with pytest.raises(ImageUnavailableError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert env.pubsub.get_items_by_id.await_count == 1
    assert env.stats()["negative_cache_hits"] == 1


async def test_mismatching_image_is_retried_without_negative_cache(env):
    env.service.negative_ttl = 0
    descriptor = await _pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG2)
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert env.pubsub.get_items_by_id.await_count == 2
    assert env.stats()["negative_cache_hits"] == 0


async def test_wrong_size_is_an_integrity_error(env):
    env.service.negative_ttl = 0
    descriptor = await _pubsub_descriptor(env, nbytes=len(PNG) + 1)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)


async def test_missing_image_data_is_a_runtime_error(env):
    env.service.negative_ttl = 0
    descriptor = await _pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = items_result(NS_DATA)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)


async def test_image_over_the_limit_is_not_fetched(env):
    env.service.max_image_bytes = len(PNG) - 1
    descriptor = await _pubsub_descriptor(env)
    with pytest.raises(ImageTooLargeError) as caught:
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert isinstance(caught.value, RuntimeError)
    env.pubsub.get_items_by_id.assert_not_called()
    assert env.stats()["iq_data"] == 0


async def test_cancelling_one_image_waiter_does_not_cancel_the_others(env):
    descriptor = await _pubsub_descriptor(env)
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [asyncio.ensure_future(descriptor.get_image_bytes()) for _ in range(3)]
    await gate.wait_started()
    tasks[0].cancel()
    await asyncio.wait([tasks[0]], timeout=TIMEOUT)
    assert tasks[0].cancelled() and not gate.future.cancelled()
    gate.future.set_result(data_result(PNG))
    assert await asyncio.wait_for(asyncio.gather(*tasks[1:]), TIMEOUT) == [PNG] * 2
    assert len(gate.calls) == 1


async def test_http_descriptor_cannot_fetch(env):
    env.notify(ALICE, info(**HTTP_INFO))
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    with pytest.raises(NotImplementedError):
        await descriptor.get_image_bytes()
    env.pubsub.get_items_by_id.assert_not_called()


async def test_image_directory_survives_a_new_service(env, tmp_path):
    env.service.image_directory = tmp_path
    assert str(env.service.image_directory) == str(tmp_path)
    descriptor = await _pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert env.pubsub.get_items_by_id.await_count == 1

    second = Env()
    second.service.image_directory = tmp_path
    other = await _pubsub_descriptor(second)
    assert await asyncio.wait_for(other.get_image_bytes(), TIMEOUT) == PNG
    second.pubsub.get_items_by_id.assert_not_called()
    assert second.stats()["image_disk_hits"] == 1
    assert second.stats()["iq_data"] == 0


async def test_corrupt_file_in_image_directory_is_not_served(env, tmp_path):
    env.service.image_directory = tmp_path
    descriptor = await _pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and PNG_ID in files[0].name
    files[0].write_bytes(PNG2)  # damaged on disk

    second = Env()
    second.service.image_directory = tmp_path
    other = await _pubsub_descriptor(second)
    second.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(other.get_image_bytes(), TIMEOUT) == PNG
    second.pubsub.get_items_by_id.assert_awaited_once()
    assert second.stats()["corrupt_files_removed"] == 1
    assert files[0].read_bytes() == PNG  # rewritten from verified data


# -- connection lifecycle and counters -----------------------------------------


async def test_stream_destroyed_clears_state(env):
    await _known_own_hash(env)
    env.notify(ALICE, info())
    env.service._handle_on_available(BOB, presence(PNG_ID))
    env.service._handle_on_available(ME_OTHER, presence())
    assert env.stats()["cached_jids"] >= 2
    assert env.advertised().photo is None  # interference

    env.service.handle_stream_destroyed(None)
    assert env.stats()["cached_jids"] == 0
    assert env.advertised().photo == PNG_ID  # interference forgotten

    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items.assert_awaited_once_with(ALICE, NS_METADATA, max_items=1)

    # ALICE is no longer remembered as a PEP user ...
    env.service.handle_stream_destroyed(None)
    env.service._handle_on_available(ALICE_FULL, presence(PNG2_ID))
    assert [d.id_ for d in await env.service.get_avatar_metadata(ALICE)] == [PNG2_ID]


async def test_stats_counters(env):
    stats = env.stats()
    assert all(value == 0 for value in stats.values())

    await env.service.get_avatar_metadata(ALICE)  # miss, PEP + vCard IQs
    stats = env.stats()
    assert (stats["cache_misses"], stats["cache_hits"]) == (1, 0)
    assert (stats["iq_metadata"], stats["iq_vcard"]) == (1, 1)
    assert stats["cached_jids"] == 1

    await env.service.get_avatar_metadata(ALICE)  # hit
    await env.service.get_avatar_metadata(ALICE)  # hit
    stats = env.stats()
    assert (stats["cache_misses"], stats["cache_hits"]) == (1, 2)
    assert stats["iq_metadata"] == 1

    await env.service.get_avatar_metadata(ALICE, require_fresh=True)
    stats = env.stats()
    assert stats["cache_misses"] == 2 and stats["iq_metadata"] == 2

    await env.service.get_avatar_metadata(BOB, disable_pep=True)
    stats = env.stats()
    assert stats["iq_metadata"] == 2 and stats["iq_vcard"] == 3
    assert stats["cached_jids"] == 2
    assert stats["requests_coalesced"] == 0


# -- install() / uninstall() -----------------------------------------------------


REPLACED = {
    aioxmpp: ("AvatarService",),
    aioxmpp.avatar: ("AvatarService", "AvatarSet", "normalize_id"),
    aioxmpp.avatar.service: (
        "AvatarService",
        "AvatarSet",
        "normalize_id",
        "AbstractAvatarDescriptor",
        "PubsubAvatarDescriptor",
        "HttpAvatarDescriptor",
        "VCardAvatarDescriptor",
    ),
}


@pytest.fixture
def pristine_aioxmpp():
    """Run with aioxmpp's own names and restore the state found."""
    was_installed = aioxmpp_avatar.installed()
    aioxmpp_avatar.uninstall()
    try:
        yield
    finally:
        aioxmpp_avatar.uninstall()
        if was_installed:
            aioxmpp_avatar.install()


def test_install_and_uninstall(pristine_aioxmpp):
    originals = {
        (module, name): getattr(module, name)
        for module, names in REPLACED.items()
        for name in names
    }
    for (_module, name), obj in originals.items():
        assert obj is not getattr(aioxmpp_avatar, name)

    aioxmpp_avatar.install()
    assert aioxmpp_avatar.installed()
    for module, name in originals:
        assert getattr(module, name) is getattr(aioxmpp_avatar, name), name
    assert aioxmpp.AvatarService is AvatarService
    assert aioxmpp.avatar.service.PubsubAvatarDescriptor is PubsubAvatarDescriptor

    aioxmpp_avatar.install()  # idempotent: the originals are still known
    assert aioxmpp_avatar.installed()

    aioxmpp_avatar.uninstall()
    assert not aioxmpp_avatar.installed()
    for (module, name), obj in originals.items():
        assert getattr(module, name) is obj, name
    aioxmpp_avatar.uninstall()  # no-op
    for (module, name), obj in originals.items():
        assert getattr(module, name) is obj, name


async def test_installed_service_is_what_aioxmpp_code_builds(pristine_aioxmpp):
    aioxmpp_avatar.install()
    cls = aioxmpp.avatar.AvatarService
    assert cls is AvatarService
    environment = Env()
    assert isinstance(environment.service, cls)
    environment.notify(ALICE, info())
    (d,) = await environment.service.get_avatar_metadata(ALICE)
    assert isinstance(d, aioxmpp.avatar.service.PubsubAvatarDescriptor)
