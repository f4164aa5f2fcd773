"""An :class:`aioxmpp_avatar.AvatarService` without a network, for the unit
tests (and ``bench/disk.py``): :class:`Env` and the builders of what the
service's dependencies hand it.

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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import aioxmpp
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.disco.xso as disco_xso
import aioxmpp.errors
import aioxmpp.muc  # registers Presence.xep0045_muc_user
import aioxmpp.pubsub.xso as pubsub_xso
import aioxmpp.vcard
import aioxmpp.vcard.xso as vcard_xso
from aioxmpp.testutils import make_connected_client

from aioxmpp_avatar import (
    AvatarService,
    HttpAvatarDescriptor,
    PubsubAvatarDescriptor,
)

from .helpers import NS_DATA, NS_METADATA
from .images import make_png

#: Seconds any single wait in these tests may take.
TIMEOUT = 5.0

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


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


PNG = make_png(2, 3, (10, 10, 10))
PNG_ID = sha1(PNG)
PNG2 = make_png(4, 5, (200, 200, 200))
PNG2_ID = sha1(PNG2)
OTHER_ID = sha1(b"some other image")


def info(
    id_: str = PNG_ID,
    *,
    mime_type: str = "image/png",
    nbytes: int = len(PNG),
    width: Optional[int] = None,
    height: Optional[int] = None,
    url: Optional[str] = None,
) -> Any:  # an aioxmpp.avatar.xso.Info
    return avatar_xso.Info(id_, mime_type, nbytes, width=width, height=height, url=url)


def metadata(*infos: Any) -> Any:
    result = avatar_xso.Metadata()
    for entry in infos:
        result.info[entry.mime_type].append(entry)
    return result


def event_item(payload: Any, id_: str = PNG_ID) -> Any:
    """What `avatar_pep.on_item_publish` hands over for a notification."""
    return pubsub_xso.EventItem(payload, id_=id_)


def items_result(
    node: str, *payloads: Any, ids: Optional[Sequence[str]] = None
) -> Any:
    """The answer of `PubSubClient.get_items`/`get_items_by_id`."""
    items = pubsub_xso.Items(node)
    for n, payload in enumerate(payloads):
        item = pubsub_xso.Item(id_=(ids[n] if ids else PNG_ID))
        item.registered_payload = payload
        items.items.append(item)
    return pubsub_xso.Request(items)


def metadata_result(*infos: Any) -> Any:
    return items_result(NS_METADATA, metadata(*infos))


def data_result(data: bytes) -> Any:
    return items_result(NS_DATA, avatar_xso.Data(data))


def vcard_with_photo(data: Optional[bytes] = None, mime_type: str = "image/png") -> Any:
    card = vcard_xso.VCard()
    if data is not None:
        card.set_photo_data(mime_type, data)
    return card


def presence(photo: Any = ..., *, muc: bool = False, type_: Any = None) -> Any:
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


def unavailable(*, muc: bool = False) -> Any:
    return presence(muc=muc, type_=aioxmpp.PresenceType.UNAVAILABLE)


def xmpp_cancel(condition: Any) -> Any:
    return aioxmpp.errors.XMPPCancelError(condition)


async def until(predicate: Callable[[], Any], what: str, *, rounds: int = 200) -> None:
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
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.started = asyncio.Event()
        self.calls: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = []

    async def request(self, *args: Any, **kwargs: Any) -> Any:
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
        self.changes: List[Tuple[Any, List[Any]]] = []
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

    def advertised(self) -> Any:
        """The vcard-temp:x:update our next presence carries (None: none)."""
        stanza = self.service._attach_vcard_notify_to_presence(aioxmpp.Presence())
        return stanza.xep0153_x

    def notify(self, jid: Any, *infos: Any, payload: Any = None) -> None:
        """A PEP metadata notification from `jid`."""
        item = event_item(metadata(*infos) if payload is None else payload)
        self.service._handle_pubsub_publish(jid, NS_METADATA, item)

    def stats(self) -> Dict[str, int]:
        return self.service.stats()


# -- checks and steps shared by several test modules ------------------------


def check_png_and_url_descriptors(descriptors: Sequence[Any], jid: Any) -> None:
    """`descriptors` are those of :data:`PNG_INFO` and :data:`HTTP_INFO`."""
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


PNG_INFO: Dict[str, Any] = dict(id_=PNG_ID, nbytes=len(PNG), width=2, height=3)
HTTP_INFO: Dict[str, Any] = dict(
    id_=PNG2_ID.upper(),
    mime_type="image/jpeg",
    nbytes=1234,
    width=64,
    height=48,
    url="https://example.org/avatar.jpg",
)


async def known_own_hash(env: Env, data: bytes = PNG) -> None:
    """Make the service learn our own vCard hash through a rehash."""
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(data)
    env.service.advertise_vcard = True
    await until(lambda: env.advertised().photo is not None, "the rehash")
    env.vcard.get_vcard.reset_mock()
    env.presence_server.resend_presence.reset_mock()


async def pubsub_descriptor(env: Env, jid: Any = ALICE, **kwargs: Any) -> Any:
    """The descriptor of a PNG that `jid` notified (:data:`PNG_INFO`)."""
    env.notify(jid, info(**{**PNG_INFO, **kwargs}))
    (descriptor,) = await env.service.get_avatar_metadata(jid)
    return descriptor
