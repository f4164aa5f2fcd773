"""PEP metadata notifications: descriptors built, malformed entries
dropped, unchanged metadata not signalled."""

from __future__ import annotations

import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.pubsub.xso as pubsub_xso

from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    ALICE_FULL,
    HTTP_INFO,
    OTHER_ID,
    PNG,
    PNG2_ID,
    PNG_ID,
    PNG_INFO,
    check_png_and_url_descriptors,
    event_item,
    info,
    presence,
)


async def test_notification_builds_pubsub_and_http_descriptors(env):
    env.notify(ALICE, info(**PNG_INFO), info(**HTTP_INFO))
    assert len(env.changes) == 1
    jid, descriptors = env.changes[0]
    assert jid == ALICE
    check_png_and_url_descriptors(descriptors, ALICE)
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
