"""The IQs behind ``get_image_bytes()``.

A descriptor's ``get_image_bytes()`` awaits its fetcher: the service's, for
descriptors an :class:`~aioxmpp_avatar.AvatarService` built (image store,
shared requests, limits), else :func:`fetch_directly`, as aioxmpp's
descriptors do. Either way the core verifies the bytes against the SHA-1
id and the advertised size before they are returned.
"""

from __future__ import annotations

import binascii
from typing import Any, Optional

from aioxmpp.utils import namespaces

from . import _core
from ._core import (
    AbstractAvatarDescriptor,
    ImageUnavailableError,
    PubsubAvatarDescriptor,
)


def given_bytes(descriptor: AbstractAvatarDescriptor) -> Optional[bytes]:
    """Bytes the descriptor already holds (a vCard photo), returned as
    given; raises ``NotImplementedError`` for a kind that cannot be fetched
    over XMPP; None when an IQ is needed."""
    if descriptor._image_bytes is not None:
        return descriptor._image_bytes
    if not descriptor.can_get_image_bytes_via_xmpp:
        url = descriptor.url
        raise NotImplementedError(
            f"{type(descriptor).__name__} cannot fetch image data over XMPP"
            + (f"; download it from {url}" if url else "")
        )
    return None


async def fetch_directly(descriptor: AbstractAvatarDescriptor) -> bytes:
    """The fetcher of descriptors built by user code: one IQ, verified."""
    given = given_bytes(descriptor)
    if given is not None:
        return given
    data = await request_image_data(
        descriptor, pubsub=descriptor._pubsub, vcard=descriptor._vcard)
    return _core.verify_image(descriptor.id_, descriptor.nbytes, data)


async def request_image_data(
    descriptor: AbstractAvatarDescriptor, *, pubsub: Any, vcard: Any,
) -> bytes:
    """Send the IQ that fetches the image of `descriptor`, unverified:
    the XEP-0084 data item of a PEP avatar, the vCard photo otherwise."""
    jid = descriptor.remote_jid
    if isinstance(descriptor, PubsubAvatarDescriptor):
        if pubsub is None:
            raise ValueError("this PubsubAvatarDescriptor was built without pubsub=")
        return await request_pubsub_data(pubsub, jid, descriptor.id_)
    if vcard is None:
        raise ValueError("this VCardAvatarDescriptor was built without vcard=")
    photo = photo_of(await vcard.get_vcard(jid))
    if photo is None:
        raise ImageUnavailableError(f"the vCard of {jid} has no photo")
    return photo


async def request_pubsub_data(pubsub: Any, jid: Any, id_: str) -> bytes:
    """The image data of item `id_` in the XEP-0084 data node of `jid`."""
    result = await pubsub.get_items_by_id(jid, namespaces.xep0084_data, [id_])
    for item in result.payload.items:
        payload = item.registered_payload
        data = getattr(payload, "data", None)
        if data is not None:
            return bytes(data)
    raise ImageUnavailableError(
        f"{jid} has no image data for avatar {id_} in its PEP data node"
    )


def photo_of(card: Any) -> Optional[bytes]:
    """The PHOTO data of an aioxmpp vCard, or None; a PHOTO that is not
    valid base64 counts as none."""
    try:
        data = card.get_photo_data()
    except (binascii.Error, ValueError):
        return None
    return None if data is None else bytes(data)
