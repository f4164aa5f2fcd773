"""``await descriptor.get_image_bytes()`` on descriptors built by user code.

No AvatarService is involved: the descriptors get a ``pubsub`` or ``vcard``
helper shaped like aioxmpp's ``PubSubClient`` / ``VCardService`` (or none),
exactly as aioxmpp's own tests and third-party code build them. Where the
data is valid, aioxmpp's implementation gets the same fakes and must give the
same answer; aioxmpp does not verify, so the integrity checks are ours only.
"""

from __future__ import annotations

import binascii
import hashlib
import inspect
import types
import unittest.mock

import aioxmpp
import aioxmpp.avatar.service as _aioxmpp_service
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.errors
import aioxmpp.pubsub.xso as pubsub_xso
import aioxmpp.vcard
import aioxmpp.vcard.xso as vcard_xso
import pytest
from aioxmpp.testutils import CoroutineMock, make_connected_client

import aioxmpp_avatar as ours
from aioxmpp_avatar import _core
from support.helpers import NS_DATA


def _original(name):
    """aioxmpp's own class, even while ``aioxmpp_avatar.install()`` is on."""
    obj = getattr(_aioxmpp_service, name)
    return ours._originals.get((_aioxmpp_service, name), obj)


class AX:
    AbstractAvatarDescriptor = _original("AbstractAvatarDescriptor")
    PubsubAvatarDescriptor = _original("PubsubAvatarDescriptor")
    HttpAvatarDescriptor = _original("HttpAvatarDescriptor")
    VCardAvatarDescriptor = _original("VCardAvatarDescriptor")


BOTH = pytest.mark.parametrize("impl", [AX, ours], ids=["aioxmpp", "ours"])

JID = aioxmpp.JID.fromstr("alice@example.org")
OTHER_JID = aioxmpp.JID.fromstr("bob@example.org/desk")
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
OTHER_IMAGE = b"\x89PNG\r\n\x1a\n" + b"something else entirely"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# --------------------------------------------------------------------------
# fakes


def xso_result(*datas):
    """A reply shaped as aioxmpp builds it: Request > Items > Item > Data."""
    items = pubsub_xso.Items(NS_DATA)
    for data in datas:
        item = pubsub_xso.Item(id_=sha1(data))
        item.registered_payload = avatar_xso.Data(data)
        items.items.append(item)
    return pubsub_xso.Request(items)


def duck_result(*datas):
    """A reply with only the attributes the fetch reads."""
    ns = types.SimpleNamespace
    items = [ns(registered_payload=ns(data=data)) for data in datas]
    return ns(payload=ns(items=items))


RESULT_SHAPES = pytest.mark.parametrize(
    "result", [xso_result, duck_result], ids=["xso", "duck"]
)


class FakePubsub:
    """``get_items_by_id`` records its arguments and returns `result`."""

    def __init__(self, result=None, exc=None):
        self.result = result
        self.exc = exc
        self.calls = []

    async def get_items_by_id(self, jid, node, ids):
        self.calls.append((jid, node, ids))
        if self.exc is not None:
            raise self.exc
        return self.result


class FakeCard:
    def __init__(self, photo, mime_type="image/png"):
        self.photo = photo
        self.mime_type = mime_type

    def get_photo_data(self):
        return self.photo

    def get_photo_mime_type(self):
        return self.mime_type if self.photo is not None else None


class FakeVCard:
    """``get_vcard(jid)`` records its argument and returns a card."""

    def __init__(self, card=None, exc=None):
        self.card = card
        self.exc = exc
        self.calls = []

    async def get_vcard(self, jid=None):
        self.calls.append(jid)
        if self.exc is not None:
            raise self.exc
        return self.card


class ExplodingHelper:
    """Fails the test if the descriptor touches it."""

    def __getattr__(self, name):
        raise AssertionError(f"unexpected use of the helper: {name}")


def pubsub_descriptor(impl, pubsub, id_=None, **kwargs):
    kwargs.setdefault("mime_type", "image/png")
    kwargs.setdefault("nbytes", len(IMAGE))
    return impl.PubsubAvatarDescriptor(
        JID, sha1(IMAGE) if id_ is None else id_, pubsub=pubsub, **kwargs
    )


def vcard_descriptor(impl, vcard, id_=None, **kwargs):
    return impl.VCardAvatarDescriptor(
        JID, sha1(IMAGE) if id_ is None else id_, vcard=vcard, **kwargs
    )


# --------------------------------------------------------------------------
# kinds that cannot fetch


@BOTH
@pytest.mark.parametrize(
    "url", [None, "https://example.org/a.png"], ids=["no-url", "url"]
)
async def test_http_descriptor_raises_not_implemented(impl, url):
    d = impl.HttpAvatarDescriptor(
        JID, sha1(IMAGE), mime_type="image/png", nbytes=len(IMAGE), url=url
    )
    assert d.can_get_image_bytes_via_xmpp is False
    with pytest.raises(NotImplementedError):
        await d.get_image_bytes()


@BOTH
async def test_abstract_descriptor_raises_not_implemented(impl):
    d = impl.AbstractAvatarDescriptor(JID, sha1(IMAGE), nbytes=len(IMAGE))
    assert d.can_get_image_bytes_via_xmpp is False
    with pytest.raises(NotImplementedError):
        await d.get_image_bytes()


@BOTH
@pytest.mark.parametrize("kind", ["abstract", "pubsub", "http", "vcard"])
async def test_get_image_bytes_returns_a_coroutine(impl, kind):
    cls = {
        "abstract": impl.AbstractAvatarDescriptor,
        "pubsub": impl.PubsubAvatarDescriptor,
        "http": impl.HttpAvatarDescriptor,
        "vcard": impl.VCardAvatarDescriptor,
    }[kind]
    coro = cls(JID, "ab").get_image_bytes()
    assert inspect.iscoroutine(coro)
    coro.close()


# --------------------------------------------------------------------------
# PubsubAvatarDescriptor


@BOTH
@RESULT_SHAPES
@pytest.mark.parametrize("case", ["lower", "upper"])
async def test_pubsub_fetch_returns_the_data(impl, result, case):
    id_ = sha1(IMAGE).upper() if case == "upper" else sha1(IMAGE)
    pubsub = FakePubsub(result(IMAGE))
    d = pubsub_descriptor(impl, pubsub, id_)
    assert await d.get_image_bytes() == IMAGE
    # the id is used on the wire exactly as received, in a list
    assert pubsub.calls == [(JID, NS_DATA, [id_])]
    assert type(pubsub.calls[0][2]) is list


@BOTH
async def test_pubsub_fetch_uses_the_descriptors_jid(impl):
    pubsub = FakePubsub(xso_result(IMAGE))
    d = impl.PubsubAvatarDescriptor(OTHER_JID, sha1(IMAGE), pubsub=pubsub)
    assert await d.get_image_bytes() == IMAGE
    assert pubsub.calls == [(OTHER_JID, NS_DATA, [sha1(IMAGE)])]


@BOTH
async def test_pubsub_fetch_without_advertised_size(impl):
    pubsub = FakePubsub(xso_result(IMAGE))
    d = pubsub_descriptor(impl, pubsub, nbytes=None)
    assert await d.get_image_bytes() == IMAGE


@BOTH
async def test_pubsub_every_call_fetches_again(impl):
    # Descriptors built by user code have no image store: like aioxmpp's,
    # each call sends its own request.
    pubsub = FakePubsub(xso_result(IMAGE))
    d = pubsub_descriptor(impl, pubsub)
    assert await d.get_image_bytes() == IMAGE
    assert await d.get_image_bytes() == IMAGE
    assert len(pubsub.calls) == 2


@BOTH
@RESULT_SHAPES
async def test_pubsub_no_items_is_a_runtime_error(impl, result):
    pubsub = FakePubsub(result())
    d = pubsub_descriptor(impl, pubsub)
    with pytest.raises(RuntimeError) as info:
        await d.get_image_bytes()
    if impl is ours:
        assert isinstance(info.value, ours.ImageUnavailableError)
        assert isinstance(info.value, ours.AvatarError)
    assert pubsub.calls == [(JID, NS_DATA, [sha1(IMAGE)])]


@BOTH
async def test_pubsub_xmpp_errors_propagate_unchanged(impl):
    error = aioxmpp.errors.XMPPCancelError(aioxmpp.ErrorCondition.ITEM_NOT_FOUND)
    d = pubsub_descriptor(impl, FakePubsub(exc=error))
    with pytest.raises(aioxmpp.errors.XMPPCancelError) as info:
        await d.get_image_bytes()
    assert info.value is error


@RESULT_SHAPES
async def test_pubsub_data_not_matching_the_id_is_an_integrity_error(result):
    # aioxmpp returns whatever the peer sent ...
    theirs = pubsub_descriptor(AX, FakePubsub(result(OTHER_IMAGE)), nbytes=None)
    assert await theirs.get_image_bytes() == OTHER_IMAGE
    # ... ours verifies it against the SHA-1 id
    pubsub = FakePubsub(result(OTHER_IMAGE))
    d = pubsub_descriptor(ours, pubsub, nbytes=None)
    with pytest.raises(ours.IntegrityError) as info:
        await d.get_image_bytes()
    assert isinstance(info.value, RuntimeError)
    assert sha1(IMAGE) in str(info.value)
    assert len(pubsub.calls) == 1


async def test_pubsub_data_of_the_wrong_size_is_an_integrity_error():
    pubsub = FakePubsub(xso_result(IMAGE))
    d = pubsub_descriptor(ours, pubsub, nbytes=len(IMAGE) + 1)
    with pytest.raises(ours.IntegrityError) as info:
        await d.get_image_bytes()
    assert isinstance(info.value, RuntimeError)
    assert str(len(IMAGE)) in str(info.value)


async def test_pubsub_mismatch_is_not_cached():
    pubsub = FakePubsub(xso_result(OTHER_IMAGE))
    d = pubsub_descriptor(ours, pubsub)
    with pytest.raises(ours.IntegrityError):
        await d.get_image_bytes()
    pubsub.result = xso_result(IMAGE)
    assert await d.get_image_bytes() == IMAGE
    assert len(pubsub.calls) == 2


async def test_pubsub_id_that_is_not_a_sha1_cannot_be_verified():
    pubsub = FakePubsub(xso_result(IMAGE))
    d = pubsub_descriptor(ours, pubsub, id_="not-a-sha1", nbytes=None)
    with pytest.raises(ours.IntegrityError):
        await d.get_image_bytes()


async def test_pubsub_image_over_the_limit_is_refused():
    big = b"\0" * (_core.DEFAULT_MAX_IMAGE_BYTES + 1)
    d = ours.PubsubAvatarDescriptor(JID, sha1(big), pubsub=FakePubsub(xso_result(big)))
    with pytest.raises(ours.ImageTooLargeError) as info:
        await d.get_image_bytes()
    assert isinstance(info.value, RuntimeError)


async def test_pubsub_image_at_the_limit_is_accepted():
    big = b"\1" * _core.DEFAULT_MAX_IMAGE_BYTES
    d = ours.PubsubAvatarDescriptor(
        JID, sha1(big), nbytes=len(big), pubsub=FakePubsub(xso_result(big))
    )
    assert await d.get_image_bytes() == big


async def test_pubsub_without_helper_fails_clearly():
    d = ours.PubsubAvatarDescriptor(JID, sha1(IMAGE))
    with pytest.raises(Exception, match="pubsub"):
        await d.get_image_bytes()


async def test_pubsub_empty_data_like_aioxmpp():
    for impl in (AX, ours):
        d = impl.PubsubAvatarDescriptor(
            JID, sha1(b""), nbytes=0, pubsub=FakePubsub(duck_result(b""))
        )
        assert await d.get_image_bytes() == b""


# --------------------------------------------------------------------------
# VCardAvatarDescriptor


@BOTH
async def test_vcard_preloaded_bytes_are_returned_without_a_request(impl):
    d = vcard_descriptor(impl, ExplodingHelper(), image_bytes=IMAGE)
    assert await d.get_image_bytes() == IMAGE
    assert await d.get_image_bytes() == IMAGE


@BOTH
async def test_vcard_preloaded_bytes_are_returned_as_given(impl):
    # Bytes the caller handed over are the caller's responsibility, in both.
    d = vcard_descriptor(impl, None, image_bytes=OTHER_IMAGE)
    assert await d.get_image_bytes() == OTHER_IMAGE


@BOTH
@pytest.mark.parametrize("case", ["lower", "upper"])
async def test_vcard_fetch_returns_the_photo(impl, case):
    id_ = sha1(IMAGE).upper() if case == "upper" else sha1(IMAGE)
    vcard = FakeVCard(FakeCard(IMAGE))
    d = vcard_descriptor(impl, vcard, id_, nbytes=len(IMAGE))
    assert await d.get_image_bytes() == IMAGE
    assert vcard.calls == [JID]


@BOTH
async def test_vcard_fetch_with_a_real_vcard_xso(impl):
    card = vcard_xso.VCard()
    card.set_photo_data("image/png", IMAGE)
    vcard = FakeVCard(card)
    d = vcard_descriptor(impl, vcard)
    assert await d.get_image_bytes() == IMAGE
    assert await d.get_image_bytes() == IMAGE
    assert vcard.calls == [JID, JID]


@BOTH
async def test_vcard_without_photo_is_a_runtime_error(impl):
    vcard = FakeVCard(FakeCard(None))
    d = vcard_descriptor(impl, vcard)
    with pytest.raises(RuntimeError) as info:
        await d.get_image_bytes()
    if impl is ours:
        assert isinstance(info.value, ours.ImageUnavailableError)
    assert vcard.calls == [JID]


@BOTH
async def test_vcard_empty_vcard_xso_is_a_runtime_error(impl):
    d = vcard_descriptor(impl, FakeVCard(vcard_xso.VCard()))
    with pytest.raises(RuntimeError):
        await d.get_image_bytes()


@BOTH
async def test_vcard_xmpp_errors_propagate_unchanged(impl):
    error = aioxmpp.errors.XMPPCancelError(aioxmpp.ErrorCondition.SERVICE_UNAVAILABLE)
    d = vcard_descriptor(impl, FakeVCard(exc=error))
    with pytest.raises(aioxmpp.errors.XMPPCancelError) as info:
        await d.get_image_bytes()
    assert info.value is error


async def test_vcard_photo_not_matching_the_id_is_an_integrity_error():
    theirs = vcard_descriptor(AX, FakeVCard(FakeCard(OTHER_IMAGE)))
    assert await theirs.get_image_bytes() == OTHER_IMAGE  # aioxmpp: unverified
    d = vcard_descriptor(ours, FakeVCard(FakeCard(OTHER_IMAGE)))
    with pytest.raises(ours.IntegrityError) as info:
        await d.get_image_bytes()
    assert isinstance(info.value, RuntimeError)


async def test_vcard_photo_of_the_wrong_size_is_an_integrity_error():
    d = vcard_descriptor(ours, FakeVCard(FakeCard(IMAGE)), nbytes=3)
    with pytest.raises(ours.IntegrityError):
        await d.get_image_bytes()


async def test_vcard_undecodable_photo_is_unavailable():
    class BrokenCard(FakeCard):
        def get_photo_data(self):
            raise binascii.Error("Incorrect padding")

    d = vcard_descriptor(ours, FakeVCard(BrokenCard(None)))
    with pytest.raises(ours.ImageUnavailableError):
        await d.get_image_bytes()


async def test_vcard_without_helper_fails_clearly():
    d = ours.VCardAvatarDescriptor(JID, sha1(IMAGE))
    with pytest.raises(Exception, match="vcard"):
        await d.get_image_bytes()


# --------------------------------------------------------------------------
# aioxmpp's own descriptor tests (tests/avatar/test_service.py,
# TestAvatarDescriptors), run against both implementations


@pytest.fixture
def services():
    cc = make_connected_client()
    cc.local_jid = aioxmpp.JID.fromstr("me@example.org/res")
    disco = aioxmpp.DiscoClient(cc)
    pubsub = aioxmpp.PubSubClient(cc, dependencies={aioxmpp.DiscoClient: disco})
    vcard = aioxmpp.vcard.VCardService(cc)
    return types.SimpleNamespace(pubsub=pubsub, vcard=vcard)


@BOTH
async def test_aioxmpp_pep_get_image_bytes(impl, services):
    d = impl.PubsubAvatarDescriptor(
        JID,
        sha1(IMAGE).upper(),
        mime_type="image/png",
        nbytes=len(IMAGE),
        pubsub=services.pubsub,
    )
    with pytest.warns(DeprecationWarning):
        assert d.has_image_data_in_pubsub
    assert d.normalized_id == sha1(IMAGE)

    items = pubsub_xso.Items(NS_DATA)
    reply = pubsub_xso.Request(items)
    with unittest.mock.patch.object(
        services.pubsub, "get_items_by_id", new=CoroutineMock()
    ):
        services.pubsub.get_items_by_id.return_value = reply
        with pytest.raises(RuntimeError):
            await d.get_image_bytes()

        item = pubsub_xso.Item(id_=sha1(IMAGE))
        item.registered_payload = avatar_xso.Data(IMAGE)
        items.items.append(item)
        assert await d.get_image_bytes() == IMAGE

        expected = unittest.mock.call(JID, NS_DATA, [sha1(IMAGE).upper()])
        assert services.pubsub.get_items_by_id.mock_calls == [expected, expected]


@BOTH
async def test_aioxmpp_vcard_get_image_bytes(impl, services):
    d = impl.VCardAvatarDescriptor(
        JID,
        sha1(IMAGE).upper(),
        nbytes=len(IMAGE),
        vcard=services.vcard,
        image_bytes=IMAGE,
    )
    with pytest.warns(DeprecationWarning):
        assert d.has_image_data_in_pubsub
    assert d.can_get_image_bytes_via_xmpp

    with unittest.mock.patch.object(services.vcard, "get_vcard", new=CoroutineMock()):
        assert await d.get_image_bytes() == IMAGE
        assert services.vcard.get_vcard.mock_calls == []

    d = impl.VCardAvatarDescriptor(
        JID, sha1(IMAGE).upper(), nbytes=len(IMAGE), vcard=services.vcard
    )
    with unittest.mock.patch.object(services.vcard, "get_vcard", new=CoroutineMock()):
        card = unittest.mock.Mock()
        card.get_photo_data.return_value = IMAGE
        services.vcard.get_vcard.return_value = card
        assert await d.get_image_bytes() == IMAGE

        card.get_photo_data.return_value = None
        with pytest.raises(RuntimeError):
            await d.get_image_bytes()

        fetches = [
            c
            for c in services.vcard.get_vcard.mock_calls
            if c == unittest.mock.call(JID)
        ]
        assert len(fetches) == 2


async def test_aioxmpp_vcard_get_image_bytes_exact_calls(services):
    d = ours.VCardAvatarDescriptor(
        JID, sha1(IMAGE).upper(), nbytes=len(IMAGE), vcard=services.vcard
    )
    with unittest.mock.patch.object(services.vcard, "get_vcard", new=CoroutineMock()):
        card = unittest.mock.Mock()
        card.get_photo_data.return_value = IMAGE
        services.vcard.get_vcard.return_value = card
        assert await d.get_image_bytes() == IMAGE
        assert services.vcard.get_vcard.mock_calls == [
            unittest.mock.call(JID),
            unittest.mock.call().get_photo_data(),
        ]
