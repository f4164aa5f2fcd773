"""Single-flight requests: concurrent askers share one IQ, cancelling one
waiter spares the others, failures reach all, notifications win races."""

from __future__ import annotations

import asyncio

import aioxmpp
import aioxmpp.errors
import pytest

from support.helpers import NS_METADATA
from support.service_env import (
    ALICE,
    ALICE_FULL,
    BOB_ELSEWHERE,
    CAROL_ELSEWHERE,
    PNG,
    PNG2,
    PNG2_ID,
    PNG_ID,
    TIMEOUT,
    Gate,
    info,
    metadata_result,
    presence,
    vcard_with_photo,
    xmpp_cancel,
)


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
