"""Image bytes: fetched once however many ask, verified against id and
size, the size limit, the image directory."""

from __future__ import annotations

import asyncio

import pytest

from aioxmpp_avatar import (
    ImageTooLargeError,
    ImageUnavailableError,
    IntegrityError,
)
from support.helpers import NS_DATA
from support.service_env import (
    ALICE,
    BOB,
    CAROL,
    HTTP_INFO,
    PNG,
    PNG2,
    PNG_ID,
    TIMEOUT,
    Env,
    Gate,
    data_result,
    info,
    items_result,
    pubsub_descriptor,
)


async def test_image_fetched_once_for_concurrent_askers(env):
    descriptor = await pubsub_descriptor(env)
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [asyncio.ensure_future(descriptor.get_image_bytes()) for _ in range(10)]
    await gate.wait_started()
    gate.future.set_result(data_result(PNG))
    results = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert results == [PNG] * 10
    assert gate.calls == [((ALICE, NS_DATA, [PNG_ID]), {})]
    stats = env.stats()
    assert stats["iq_data"] == 1
    assert stats["bytes_verified"] == len(PNG)

    hits = stats["image_memory_hits"]
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert len(gate.calls) == 1
    assert env.stats()["image_memory_hits"] == hits + 1


async def test_same_image_of_two_jids_is_fetched_once(env):
    alice = await pubsub_descriptor(env, ALICE)
    bob = await pubsub_descriptor(env, BOB)
    assert alice != bob
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [
        asyncio.ensure_future(d.get_image_bytes()) for d in (alice, bob, alice, bob)
    ]
    await gate.wait_started()
    gate.future.set_result(data_result(PNG))
    assert await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT) == [PNG] * 4
    assert len(gate.calls) == 1

    carol = await pubsub_descriptor(env, CAROL)
    assert await asyncio.wait_for(carol.get_image_bytes(), TIMEOUT) == PNG
    assert len(gate.calls) == 1


async def test_mismatching_image_is_rejected_and_not_stored(env):
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG2)
    with pytest.raises(IntegrityError) as caught:
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert isinstance(caught.value, RuntimeError)
    stats = env.stats()
    assert stats["integrity_failures"] == 1
    assert stats["image_memory_used"] == 0

    # Asked again soon: refused by the negative cache, no IQ.
    with pytest.raises(ImageUnavailableError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert env.pubsub.get_items_by_id.await_count == 1
    assert env.stats()["negative_cache_hits"] == 1


async def test_mismatching_image_is_retried_without_negative_cache(env):
    env.service.negative_ttl = 0
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG2)
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert env.pubsub.get_items_by_id.await_count == 2
    assert env.stats()["negative_cache_hits"] == 0


async def test_wrong_size_is_an_integrity_error(env):
    env.service.negative_ttl = 0
    descriptor = await pubsub_descriptor(env, nbytes=len(PNG) + 1)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)


async def test_missing_image_data_is_a_runtime_error(env):
    env.service.negative_ttl = 0
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = items_result(NS_DATA)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)


async def test_image_over_the_limit_is_not_fetched(env):
    env.service.max_image_bytes = len(PNG) - 1
    descriptor = await pubsub_descriptor(env)
    with pytest.raises(ImageTooLargeError) as caught:
        await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT)
    assert isinstance(caught.value, RuntimeError)
    env.pubsub.get_items_by_id.assert_not_called()
    assert env.stats()["iq_data"] == 0


async def test_cancelling_one_image_waiter_does_not_cancel_the_others(env):
    descriptor = await pubsub_descriptor(env)
    gate = Gate()
    env.pubsub.get_items_by_id.side_effect = gate.request
    tasks = [asyncio.ensure_future(descriptor.get_image_bytes()) for _ in range(3)]
    await gate.wait_started()
    tasks[0].cancel()
    await asyncio.wait([tasks[0]], timeout=TIMEOUT)
    assert tasks[0].cancelled() and not gate.future.cancelled()
    gate.future.set_result(data_result(PNG))
    assert await asyncio.wait_for(asyncio.gather(*tasks[1:]), TIMEOUT) == [PNG] * 2
    assert len(gate.calls) == 1


async def test_http_descriptor_cannot_fetch(env):
    env.notify(ALICE, info(**HTTP_INFO))
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    with pytest.raises(NotImplementedError):
        await descriptor.get_image_bytes()
    env.pubsub.get_items_by_id.assert_not_called()


async def test_image_directory_survives_a_new_service(env, tmp_path):
    env.service.image_directory = tmp_path
    assert str(env.service.image_directory) == str(tmp_path)
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert env.pubsub.get_items_by_id.await_count == 1

    second = Env()
    second.service.image_directory = tmp_path
    other = await pubsub_descriptor(second)
    assert await asyncio.wait_for(other.get_image_bytes(), TIMEOUT) == PNG
    second.pubsub.get_items_by_id.assert_not_called()
    assert second.stats()["image_disk_hits"] == 1
    assert second.stats()["iq_data"] == 0


async def test_corrupt_file_in_image_directory_is_not_served(env, tmp_path):
    env.service.image_directory = tmp_path
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and PNG_ID in files[0].name
    files[0].write_bytes(PNG2)  # damaged on disk

    second = Env()
    second.service.image_directory = tmp_path
    other = await pubsub_descriptor(second)
    second.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(other.get_image_bytes(), TIMEOUT) == PNG
    second.pubsub.get_items_by_id.assert_awaited_once()
    assert second.stats()["corrupt_files_removed"] == 1
    assert files[0].read_bytes() == PNG  # rewritten from verified data
