"""In-process benchmarks: notify, lookup, memory and hash.

Each function runs one implementation ("aioxmpp" or "ours") in the current
process and returns a dict of measurements. The services are summoned on an
unconnected :class:`aioxmpp.Client`; nothing touches the network.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import random
import time
import types

from common import (
    NS_METADATA,
    avatar_set_class,
    make_png,
    median,
    rss_bytes,
    service_class,
)

# -- building blocks ----------------------------------------------------------


def _make_client():
    import aioxmpp

    return aioxmpp.Client(
        aioxmpp.JID.fromstr("bench@example.org"),
        aioxmpp.make_security_layer(None),
    )


def _summon(impl, cache_size):
    client = _make_client()
    svc = client.summon(service_class(impl))
    svc.metadata_cache_size = cache_size
    return client, svc


def _hex(*parts) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def build_metadata(jid_index: int, version: int, n_infos: int):
    """aioxmpp's ``Metadata`` XSO for one avatar version: a PNG (fetched over
    pubsub), then up to two URL sources (JPEG, WebP)."""
    import aioxmpp.avatar.xso as avatar_xso

    metadata = avatar_xso.Metadata()
    png_id = _hex("png", jid_index, version)
    metadata.info["image/png"].append(
        avatar_xso.Info(
            id_=png_id,
            mime_type="image/png",
            nbytes=4000 + (version * 7 + jid_index) % 20000,
            width=96,
            height=96,
        )
    )
    for mime, ext in (("image/jpeg", "jpg"), ("image/webp", "webp"))[: n_infos - 1]:
        id_ = _hex(ext, jid_index, version)
        metadata.info[mime].append(
            avatar_xso.Info(
                id_=id_,
                mime_type=mime,
                nbytes=3000 + (version * 13 + jid_index) % 20000,
                width=96,
                height=96,
                url=f"https://avatars.example.org/{id_}.{ext}",
            )
        )
    return png_id, metadata


def build_event_item(jid_index: int, version: int, n_infos: int):
    import aioxmpp.pubsub.xso as pubsub_xso

    png_id, metadata = build_metadata(jid_index, version, n_infos)
    return pubsub_xso.EventItem(metadata, id_=png_id)


def _n_infos(jid_index: int, version: int) -> int:
    """1, 2 or 3 infos, the same for equal (jid, version)."""
    return 1 + (jid_index * 7 + version) % 3


def _jids(prefix: str, n: int, start: int = 0):
    import aioxmpp

    return [
        aioxmpp.JID.fromstr(f"{prefix}{i}@example.org") for i in range(start, start + n)
    ]


# -- notify ---------------------------------------------------------------------


def notify(impl: str, variant: str, quick: bool) -> dict:
    """100k PEP notifications (10k JIDs, 1-3 infos) through
    ``avatar_pep.on_item_publish`` to a connected ``on_metadata_changed``
    callback. `variant` "new": every notification changes the avatar;
    "repeat": 90% repeat the JID's current metadata (new objects with equal
    contents, as a re-parsed stanza would be)."""
    n_jids, n_events = (1000, 5000) if quick else (10_000, 100_000)
    repeat_share = {"new": 0.0, "repeat": 0.9}[variant]
    rng = random.Random(20240501)

    async def main():
        client, svc = _summon(impl, 2 * n_jids)
        fired = 0

        def on_changed(jid, metadata):
            nonlocal fired
            fired += 1

        svc.on_metadata_changed.connect(on_changed)
        fire = svc.avatar_pep.on_item_publish
        jids = _jids("user", n_jids)
        version = [0] * n_jids

        # Untimed: one notification per JID fills the cache.
        for j, jid in enumerate(jids):
            fire(jid, NS_METADATA, build_event_item(j, 0, _n_infos(j, 0)))
        warm_fired, fired = fired, 0

        events = []
        expected_changes = 0
        for _ in range(n_events):
            j = rng.randrange(n_jids)
            if rng.random() >= repeat_share:
                version[j] += 1
                expected_changes += 1
            v = version[j]
            events.append((jids[j], build_event_item(j, v, _n_infos(j, v))))

        gc.collect()
        gc.freeze()  # keep the pre-built items out of the collector's scans
        t0 = time.perf_counter()
        for jid, item in events:
            fire(jid, NS_METADATA, item)
        elapsed = time.perf_counter() - t0
        gc.unfreeze()
        return {
            "us_per_notification": elapsed / n_events * 1e6,
            "notifications": n_events,
            "jids": n_jids,
            "callbacks": fired,
            "expected_callbacks": expected_changes,
            "warmup_callbacks": warm_fired,
            "mean_infos": sum(
                len(list(item.registered_payload.iter_info_nodes()))
                for _, item in events
            )
            / n_events,
        }

    return asyncio.run(main())


# -- lookup ---------------------------------------------------------------------


def parse_size(text: str) -> int:
    """A JID count as the job names write it: ``1k``, ``10k``, ``100k``."""
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


def lookup(impl: str, n_jids: int, quick: bool) -> dict:
    """Cached ``await get_avatar_metadata(jid)`` swept over `n_jids` JIDs
    (2 infos each, cached through notifications), in one coroutine.

    The lookups use JID objects of their own, equal to but distinct from the
    ones the notifications carried, as a roster view holding its own JIDs
    would. Each pass makes about 100,000 calls (whole sweeps over the JIDs);
    5 passes, the median pass counts (one pass is short, so a burst of load
    from a neighbour spoils one pass, not the run)."""
    if quick:
        n_jids = max(100, n_jids // 100)
    calls_target, passes = (4000, 3) if quick else (100_000, 5)
    rounds = max(1, calls_target // n_jids)

    async def main():
        client, svc = _summon(impl, 2 * n_jids)
        for j, jid in enumerate(_jids("user", n_jids)):
            svc.avatar_pep.on_item_publish(jid, NS_METADATA, build_event_item(j, 0, 2))
        jids = _jids("user", n_jids)
        get = svc.get_avatar_metadata
        # Warm-up sweep, also checks that every entry is cached.
        for jid in jids:
            assert len(await get(jid)) == 2

        async def noop(jid):
            return jid

        gc.collect()
        gc.freeze()
        calls = rounds * n_jids
        per_call, floor = [], []
        for _ in range(passes):
            t0 = time.perf_counter()
            for _ in range(rounds):
                for jid in jids:
                    await get(jid)
            per_call.append((time.perf_counter() - t0) / calls * 1e6)
            t0 = time.perf_counter()
            for _ in range(rounds):
                for jid in jids:
                    await noop(jid)
            floor.append((time.perf_counter() - t0) / calls * 1e6)
        gc.unfreeze()
        return {
            "us_per_call": median(per_call),
            "us_per_call_passes": per_call,
            "calls_per_pass": calls,
            "jids": n_jids,
            "us_per_noop_coroutine": median(floor),
        }

    return asyncio.run(main())


# -- memory ---------------------------------------------------------------------


def memory(impl: str, fill: str, n_jids: int, quick: bool) -> dict:
    """RSS growth for `n_jids` cached JIDs x 2 infos (the metadata cache
    holds them all), filled through PEP notifications (`fill` "notify") or through
    ``get_avatar_metadata`` answered by a fake in-process pubsub ("fetch").

    JIDs and items are made chunk by chunk and dropped after use, as a client
    parsing stanzas would; a warm-up chunk (made and dropped before the first
    RSS reading) pre-grows the allocator so that the growth is what the cache
    keeps."""
    import aioxmpp
    import aioxmpp.pubsub.xso as pubsub_xso

    if quick:
        n_jids = max(2000, n_jids // 50)
    chunk = 1000

    async def main():
        client, svc = _summon(impl, n_jids)
        fired = 0

        def on_changed(jid, metadata):
            nonlocal fired
            fired += 1

        svc.on_metadata_changed.connect(on_changed)
        fire = svc.avatar_pep.on_item_publish

        if fill == "fetch":
            pubsub = client.summon(aioxmpp.PubSubClient)

            async def fake_get_items(jid, node, *, max_items=None):
                j = int(jid.localpart[1:])
                _, metadata = build_metadata(j, 0, 2)
                item = pubsub_xso.Item(id_=_hex("png", j, 0))
                item.registered_payload = metadata
                return types.SimpleNamespace(
                    payload=types.SimpleNamespace(items=[item])
                )

            pubsub.get_items = fake_get_items

        def make_chunk(c):
            jids = _jids("m", chunk, c * chunk)
            if fill == "fetch":
                return jids
            return [
                (jid, build_event_item(c * chunk + i, 0, 2))
                for i, jid in enumerate(jids)
            ]

        async def deliver(batch):
            if fill == "fetch":
                for jid in batch:
                    await svc.get_avatar_metadata(jid)
            else:
                for jid, item in batch:
                    fire(jid, NS_METADATA, item)

        # Warm-up: a chunk of the same shape, made and dropped.
        warm = make_chunk(n_jids // chunk + 10)
        if fill == "fetch":
            for jid in warm:
                await fake_get_items(jid, NS_METADATA)
        del warm
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        for c in range(n_jids // chunk):
            await deliver(make_chunk(c))
        elapsed = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_bytes()
        if impl == "ours":
            cached = svc.stats()["cached_jids"]
        else:
            cached = len(svc._metadata_cache)
        # Then the application looks every JID up once (a roster view
        # showing the avatars), with JIDs it made itself; aioxmpp answers
        # with the list it keeps, an implementation may build it now.
        for c in range(n_jids // chunk):
            for jid in _jids("m", chunk, c * chunk):
                assert len(await svc.get_avatar_metadata(jid)) == 2
        gc.collect()
        rss2 = rss_bytes()
        if impl == "ours":
            still = svc.stats()["cached_jids"]
        else:
            still = len(svc._metadata_cache)
        growth = rss1 - rss0
        return {
            "kib_per_jid": growth / 1024 / n_jids,
            "kib_per_jid_after_lookup": (rss2 - rss0) / 1024 / n_jids,
            "cached_after_lookup": still,
            "rss_growth_mib": growth / 2**20,
            "rss_before_mib": rss0 / 2**20,
            "jids": n_jids,
            "cached": cached,
            "callbacks": fired,
            "fill_s": elapsed,
        }

    return asyncio.run(main())


# -- hash -------------------------------------------------------------------------


def _png_of_size(size: int) -> bytes:
    side = int((size / 3) ** 0.5)
    while True:
        try:
            return make_png(side, side, seed=7, size=size)
        except ValueError:
            side -= 4


def hashing(impl: str, quick: bool) -> dict:
    """``AvatarSet().add_avatar_image("image/png", image_bytes=png)`` on a
    1 MiB PNG against bare ``hashlib.sha1(png).hexdigest()``, interleaved in
    this process; speed relative to hashlib (1.0 = as fast)."""
    size, reps = (64 * 1024, 50) if quick else (2**20, 400)
    png = _png_of_size(size)
    assert len(png) == size
    avatar_set = avatar_set_class(impl)
    expected = hashlib.sha1(png).hexdigest()
    s = avatar_set()
    s.add_avatar_image("image/png", image_bytes=png)
    assert s.png_id == expected, (s.png_id, expected)

    perf = time.perf_counter
    t_hashlib, t_add = [], []
    for i in range(reps):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                t0 = perf()
                hashlib.sha1(png).hexdigest()
                t_hashlib.append(perf() - t0)
            else:
                t0 = perf()
                avatar_set().add_avatar_image("image/png", image_bytes=png)
                t_add.append(perf() - t0)
    t_hashlib.sort()
    t_add.sort()
    med_h = t_hashlib[len(t_hashlib) // 2]
    med_a = t_add[len(t_add) // 2]
    return {
        "speed_vs_hashlib": med_h / med_a,
        "add_ms": med_a * 1e3,
        "hashlib_ms": med_h * 1e3,
        "hashlib_gb_s": size / med_h / 1e9,
        "png_bytes": size,
        "reps": reps,
    }
