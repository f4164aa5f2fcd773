"""No peer's failure, lie or silence reaches another peer's result; every
wait is bounded; failures heal; settings and handlers never let an error
escape where it does harm. Unit tests over mocked dependencies."""

from __future__ import annotations

import asyncio
import logging
import math

import aioxmpp
import pytest

from aioxmpp_avatar import ImageTooLargeError, ImageUnavailableError, IntegrityError
from support.service_env import (
    ALICE,
    BOB,
    PNG,
    PNG_ID,
    TIMEOUT,
    Gate,
    data_result,
    event_item,
    info,
    metadata_result,
    presence,
    pubsub_descriptor,
    until,
    vcard_with_photo,
    xmpp_cancel,
)

SILENT_DOMAIN = "silent.example"


async def _never_answer(*args, **kwargs):
    await asyncio.get_running_loop().create_future()


# -- settings --------------------------------------------------------------


@pytest.mark.parametrize(
    "name, bad",
    [
        ("negative_ttl", 1e19),
        ("negative_ttl", -1),
        ("negative_ttl", math.nan),
        ("negative_ttl", "5"),
        ("request_timeout", 0),
        ("request_timeout", math.inf),
        ("request_timeout", -3),
        ("request_timeout", True),
        ("metadata_cache_size", -1),
        ("metadata_cache_size", 2**70),
        ("metadata_cache_size", 1.5),
        ("max_infos", 0),
        ("image_memory_budget", -5),
        ("max_image_bytes", 0),
        ("max_image_bytes", 2**40),
    ],
)
async def test_numeric_settings_refuse_bad_values_precisely(env, name, bad):
    before = getattr(env.service, name)
    with pytest.raises(ValueError) as caught:
        setattr(env.service, name, bad)
    assert str(caught.value).startswith(f"{name} must be")
    assert getattr(env.service, name) == before


async def test_request_timeout_defaults_to_30_seconds(env):
    assert env.service.request_timeout == 30
    env.service.request_timeout = 0.25
    assert env.service.request_timeout == 0.25


# -- time-outs and fair slots ------------------------------------------------


async def test_a_silent_peer_times_out_and_frees_its_slot(env):
    env.service.request_timeout = 0.05
    env.service.max_concurrent_requests = 1
    env.pubsub.get_items.side_effect = _never_answer
    waiters = [asyncio.ensure_future(env.service.get_avatar_metadata(ALICE))
               for _ in range(3)]
    for waiter in waiters:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(waiter, TIMEOUT)
    assert env.stats()["cached_jids"] == 0
    # The slot is free again and nothing was cached: an answer now goes through.
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    got = await asyncio.wait_for(env.service.get_avatar_metadata(ALICE), TIMEOUT)
    assert [d.id_ for d in got] == [PNG_ID]


async def test_silent_peers_of_one_domain_leave_slots_for_other_domains(env):
    env.service.max_concurrent_requests = 32
    silent = [aioxmpp.JID(f"p{i}", SILENT_DOMAIN, None) for i in range(40)]

    async def get_items(jid, node, *, max_items=None):
        if jid.domain == SILENT_DOMAIN:
            await _never_answer()
        return metadata_result(info())

    env.pubsub.get_items.side_effect = get_items
    stuck = [asyncio.ensure_future(env.service.get_avatar_metadata(j))
             for j in silent]
    await until(lambda: env.pubsub.get_items.call_count >= 1, "silent IQs")
    got = await asyncio.wait_for(env.service.get_avatar_metadata(ALICE), TIMEOUT)
    assert [d.id_ for d in got] == [PNG_ID]
    # One domain holds at most its share (24 of 32): 40 silent peers never
    # had more IQs out at once.
    assert env.stats()["iq_metadata"] == 24 + 1
    for task in stuck:
        task.cancel()


# -- isolated fetches --------------------------------------------------------


async def test_another_jids_failing_fetch_of_the_same_id_is_not_the_victims(env):
    liar = await pubsub_descriptor(env, BOB)  # advertises ALICE's image id
    victim = await pubsub_descriptor(env, ALICE)
    gate = Gate()

    async def get_items_by_id(jid, node, ids):
        if jid == BOB:
            return await gate.request(jid, node, ids)
        return data_result(PNG)

    env.pubsub.get_items_by_id.side_effect = get_items_by_id
    liar_task = asyncio.ensure_future(liar.get_image_bytes())
    await gate.wait_started()
    victim_task = asyncio.ensure_future(victim.get_image_bytes())
    await until(lambda: env.stats()["iq_data"] == 1, "the victim joins")
    gate.future.set_result(data_result(b"not the image"))
    assert await asyncio.wait_for(victim_task, TIMEOUT) == PNG
    with pytest.raises(IntegrityError):
        await liar_task
    calls = [c.args[0] for c in env.pubsub.get_items_by_id.await_args_list]
    assert calls == [BOB, ALICE]


async def test_another_jids_silence_delays_the_victim_by_one_timeout_at_most(env):
    env.service.request_timeout = 0.05
    liar = await pubsub_descriptor(env, BOB)
    victim = await pubsub_descriptor(env, ALICE)

    async def get_items_by_id(jid, node, ids):
        if jid == BOB:
            await _never_answer()
        return data_result(PNG)

    env.pubsub.get_items_by_id.side_effect = get_items_by_id
    liar_task = asyncio.ensure_future(liar.get_image_bytes())
    await until(lambda: env.stats()["iq_data"] == 1, "the liar's IQ")
    assert await asyncio.wait_for(victim.get_image_bytes(), TIMEOUT) == PNG
    with pytest.raises(asyncio.TimeoutError):
        await liar_task


# -- failures heal -------------------------------------------------------------


async def test_metadata_before_data_heals_on_reannouncement(env):
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(b"")
    env.pubsub.get_items_by_id.side_effect = xmpp_cancel(
        aioxmpp.ErrorCondition.ITEM_NOT_FOUND)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await descriptor.get_image_bytes()
    with pytest.raises(ImageUnavailableError):
        await descriptor.get_image_bytes()
    # The data exists now and the metadata is announced again.
    env.pubsub.get_items_by_id.side_effect = None
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    env.service._handle_pubsub_publish(
        ALICE, "urn:xmpp:avatar:metadata",
        event_item(metadata_result(info()).payload.items[0].registered_payload))
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG


async def test_a_fresh_answer_naming_the_id_retries(env):
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.side_effect = xmpp_cancel(
        aioxmpp.ErrorCondition.ITEM_NOT_FOUND)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await descriptor.get_image_bytes()
    env.pubsub.get_items.side_effect = None
    env.pubsub.get_items.return_value = metadata_result(info())
    await env.service.get_avatar_metadata(ALICE, require_fresh=True)
    env.pubsub.get_items_by_id.side_effect = None
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG


async def test_a_failure_after_the_stream_died_is_forgotten(env):
    descriptor = await pubsub_descriptor(env)
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    task = asyncio.ensure_future(descriptor.get_image_bytes())
    await gate.wait_started()
    # aioxmpp fires on_stream_destroyed before the failed IQ resumes.
    env.service.handle_stream_destroyed(ConnectionError("gone"))
    gate.future.set_exception(ConnectionError("gone"))
    with pytest.raises(ConnectionError):
        await task
    env.pubsub.get_items_by_id.side_effect = None
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG


# -- the vCard path obeys the limits -------------------------------------------


async def test_an_oversized_vcard_photo_is_kept_nowhere(env):
    env.service.max_image_bytes = len(PNG) - 1
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(PNG)
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    assert env.stats()["image_memory_used"] == 0
    with pytest.raises(ImageTooLargeError):
        await descriptor.get_image_bytes()


async def test_a_vcard_type_follows_the_info_rules(env):
    env.vcard.get_vcard.side_effect = lambda jid=None: vcard_with_photo(
        PNG, mime_type="image/png \n" * 1000)
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    assert descriptor.mime_type is None


# -- nothing escapes -----------------------------------------------------------


async def test_signal_handlers_log_instead_of_raising(env, caplog):
    with caplog.at_level(logging.ERROR, logger="aioxmpp_avatar.service"):
        env.service._handle_pubsub_publish("not a jid", "node", event_item(
            metadata_result(info()).payload.items[0].registered_payload))
        env.service._handle_on_available(object(), presence(PNG_ID))
        env.service._handle_on_unavailable(object(), presence())
    assert len(caplog.records) == 3
    # Still connected and working.
    env.notify(ALICE, info())
    assert len(env.changes) == 1


@pytest.mark.parametrize("failure", [asyncio.TimeoutError(), ConnectionError("lost")])
async def test_any_disco_failure_means_no_server_side_conversion(env, failure):
    env.disco.query_info.side_effect = failure
    env.service.synchronize_vcard = True
    await env.service.disable_avatar()
    env.vcard.set_vcard.assert_awaited_once()
