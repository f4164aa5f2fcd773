"""Small helpers shared by the test modules (tests/ is on sys.path)."""

from __future__ import annotations

import asyncio

import aioxmpp
import aioxmpp.pubsub.xso as pubsub_xso
from lxml import etree

from aioxmpp_avatar import _png

WAIT = 10.0  # seconds; generous upper bound for every single wait

NS_DATA = "urn:xmpp:avatar:data"
NS_METADATA = "urn:xmpp:avatar:metadata"


def make_png(width: int = 4, height: int = 3, rgba=(200, 30, 90, 255)) -> bytes:
    """A valid PNG of the given size; `rgba` (alpha ignored) makes distinct
    images."""
    return _png.make_png(width, height, tuple(rgba[:3]))


def wait_metadata(service, jid, predicate=lambda metadata: bool(metadata)):
    """Future resolved with the first ``on_metadata_changed`` metadata for
    `jid` that satisfies `predicate`."""
    fut = asyncio.get_running_loop().create_future()

    def handler(changed_jid, metadata):
        if changed_jid == jid and predicate(metadata) and not fut.done():
            fut.set_result(list(metadata))

    token = service.on_metadata_changed.connect(handler)
    fut.add_done_callback(lambda _: service.on_metadata_changed.disconnect(token))
    return fut


async def publish_raw(client, node: str, xml: str, item_id: str) -> None:
    """Publish `xml` (one element, as text) as the payload of item `item_id`
    in our own PEP `node`, bypassing aioxmpp's XSO classes: how a broken or
    hostile peer could publish anything."""
    item = pubsub_xso.Item(id_=item_id)
    item.unregistered_payload.append(etree.fromstring(xml))
    publish = pubsub_xso.Publish()
    publish.node = node
    publish.item = item
    iq = aioxmpp.IQ(type_=aioxmpp.IQType.SET, payload=pubsub_xso.Request(publish))
    await asyncio.wait_for(client.send(iq), WAIT)
