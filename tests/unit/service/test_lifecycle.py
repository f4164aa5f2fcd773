"""The connection lifecycle and the counters of stats()."""

from __future__ import annotations

from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    ALICE_FULL,
    BOB,
    ME_OTHER,
    PNG2_ID,
    PNG_ID,
    info,
    known_own_hash,
    metadata_result,
    presence,
)


async def test_stream_destroyed_clears_state(env):
    await known_own_hash(env)
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
