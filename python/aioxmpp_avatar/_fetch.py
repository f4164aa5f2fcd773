"""How ``get_image_bytes()`` reaches the image data.

Descriptors built by an :class:`~aioxmpp_avatar.AvatarService` fetch through
the service (image store, single-flight, limits); descriptors built by user
code fetch directly, as aioxmpp's do. Either way the bytes are verified
against the SHA-1 id and advertised size by the core before they are
returned.
"""

from __future__ import annotations

import binascii

from . import _core
from ._core import ImageUnavailableError

#: XEP-0084 data node.
NS_DATA = "urn:xmpp:avatar:data"
#: XEP-0084 metadata node.
NS_METADATA = "urn:xmpp:avatar:metadata"


async def get_image_bytes(descriptor):
    """The coroutine behind every descriptor's ``get_image_bytes()``."""
    kind = descriptor._kind
    if kind == "vcard" and descriptor._image_bytes is not None:
        # Bytes handed to the constructor by the caller are returned as given.
        return descriptor._image_bytes
    if kind not in ("pubsub", "vcard"):
        raise NotImplementedError(
            f"{type(descriptor).__name__} cannot fetch image data over XMPP"
            + (f"; download it from {descriptor.url}" if descriptor.url else "")
        )
    service = descriptor._service
    if service is not None:
        return await service._get_image_bytes(descriptor)
    data = await request_image_data(
        kind, descriptor.remote_jid, descriptor.id_,
        pubsub=descriptor._pubsub, vcard=descriptor._vcard,
    )
    return _core.verify_image(descriptor.id_, descriptor.nbytes, data)


async def request_image_data(kind, jid, id_, *, pubsub, vcard):
    """Send the IQ that fetches the data of avatar `id_` of `jid`, unverified."""
    if kind == "pubsub":
        if pubsub is None:
            raise ValueError("this PubsubAvatarDescriptor was built without pubsub=")
        return await request_pubsub_data(pubsub, jid, id_)
    if vcard is None:
        raise ValueError("this VCardAvatarDescriptor was built without vcard=")
    photo = photo_of(await vcard.get_vcard(jid))
    if photo is None:
        raise ImageUnavailableError(f"the vCard of {jid} has no photo")
    return photo


async def request_pubsub_data(pubsub, jid, id_):
    """The image data of item `id_` in the XEP-0084 data node of `jid`."""
    result = await pubsub.get_items_by_id(jid, NS_DATA, [id_])
    for item in result.payload.items:
        payload = item.registered_payload
        data = getattr(payload, "data", None)
        if data is not None:
            return data
    raise ImageUnavailableError(
        f"{jid} has no image data for avatar {id_} in its PEP data node"
    )


def photo_of(card):
    """The PHOTO data of an aioxmpp vCard, or None; a PHOTO that is not
    valid base64 counts as none."""
    try:
        return card.get_photo_data()
    except (binascii.Error, ValueError):
        return None
