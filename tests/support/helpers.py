"""Small helpers shared by the test modules: the XEP-0084 node names, and
waits and raw publishing for the integration tests."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List

import aioxmpp
import aioxmpp.pubsub.xso as pubsub_xso
from aioxmpp.utils import namespaces
from lxml import etree  # type: ignore[import-untyped]

WAIT = 10.0  # seconds; generous upper bound for every single wait

NS_DATA = namespaces.xep0084_data
NS_METADATA = namespaces.xep0084_metadata


def wait_metadata(
    service: Any,
    jid: Any,
    predicate: Callable[[List[Any]], bool] = lambda metadata: bool(metadata),
) -> asyncio.Future[List[Any]]:
    """Future resolved with the first ``on_metadata_changed`` metadata for
    `jid` that satisfies `predicate`."""
    fut: asyncio.Future[List[Any]] = asyncio.get_running_loop().create_future()

    def handler(changed_jid: Any, metadata: List[Any]) -> None:
        if changed_jid == jid and predicate(metadata) and not fut.done():
            fut.set_result(list(metadata))

    token = service.on_metadata_changed.connect(handler)
    fut.add_done_callback(lambda _: service.on_metadata_changed.disconnect(token))
    return fut


async def publish_raw(client: Any, node: str, xml: str, item_id: str) -> None:
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


def non_contact_error(server: Any, *, published: bool) -> Any:
    """The error condition a non-contact gets from `server` when reading
    the avatar metadata of an account (that `published` one, with the
    default ``presence`` access model, or not) or of no account at all.

    The servers differ, and both are allowed: XEP-0060 §6.5.9 names
    ``not-authorized`` with ``<presence-subscription-required/>`` for a
    presence-access node and ``item-not-found`` for a missing one
    (ejabberd); Prosody answers ``forbidden`` (RFC 6120 §8.3.3.4) to every
    non-contact, revealing neither whether the account exists nor whether it
    has an avatar (XEP-0163 §4: PEP access follows the presence
    subscription).
    """
    if server.kind == "prosody":
        return aioxmpp.ErrorCondition.FORBIDDEN
    if published:
        return aioxmpp.ErrorCondition.NOT_AUTHORIZED
    return aioxmpp.ErrorCondition.ITEM_NOT_FOUND


async def publish_hostile(
    client: Any, data_xml: str, metadata_xml: str, item_id: str
) -> None:
    """Publish an avatar whose metadata need not match its data, as item
    `item_id` of both nodes (see :func:`publish_raw`): the metadata first.

    XEP-0398 has a converting server read the data item when metadata is
    published; ejabberd's mod_avatar then republishes data and metadata
    under the image's real SHA-1, which would undo the lie. Data published
    after the metadata is left alone (Prosody converts nothing here).
    """
    await publish_raw(client, NS_METADATA, metadata_xml, item_id)
    await publish_raw(client, NS_DATA, data_xml, item_id)
