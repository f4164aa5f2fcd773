"""Benchmarks against a real Prosody on 127.0.0.1: fan-out, login, restart.

The orchestrator calls :func:`start_environment` once per bench run: it
starts a throwaway Prosody, registers an observer and the contacts, makes
each contact a mutual (``both``) contact of the observer and publishes a
distinct PNG avatar for it (with aioxmpp's own service, outside any timed
part). The workers then log the observer in, one implementation per
process, against the same server and accounts.

The server is :mod:`aioxmpp_avatar.testing`'s, started by the orchestrator;
the workers build their clients with aioxmpp alone, so a worker measuring
aioxmpp never imports :mod:`aioxmpp_avatar`.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import hashlib
import importlib
import os
import secrets
import tempfile
import time

from common import NS_DATA, NS_METADATA, make_png, service_class

CONNECT_TIMEOUT = 30.0
STEP_TIMEOUT = 120.0


def load_prosody():
    """:mod:`aioxmpp_avatar.testing`, imported only by the orchestrator (this
    module is imported by the workers too)."""
    return importlib.import_module("aioxmpp_avatar.testing")


# -- environment (run once by the orchestrator) -------------------------------


def start_environment(n_contacts: int, log=print):
    """Start Prosody and prepare accounts and avatars.

    Returns ``(server, env)``; `env` is the JSON-able description the
    workers need. The caller stops the server."""
    prosody = load_prosody()
    server = prosody.ProsodyServer("localhost", log_level="warn")
    server.start()
    try:
        t0 = time.monotonic()
        password = secrets.token_hex(8)
        names = ["observer"] + [f"c{i:03d}" for i in range(n_contacts)]
        accounts = server.register_many([(n, password) for n in names])
        observer, contacts = accounts[0], accounts[1:]
        pngs = [make_png(64, 64, seed=1000 + i) for i in range(n_contacts)]
        asyncio.run(_populate(server, prosody, observer, contacts, pngs))
        env = {
            "host": server.host,
            "port": server.port,
            "domain": server.domain,
            "observer": {"jid": observer.jid, "password": observer.password},
            "contacts": [
                {
                    "jid": c.jid,
                    "id": hashlib.sha1(png).hexdigest(),
                    "nbytes": len(png),
                }
                for c, png in zip(contacts, pngs)
            ],
            "setup_s": time.monotonic() - t0,
        }
        log(
            f"prosody on {server.host}:{server.port}: {n_contacts} contacts with "
            f"avatars ready in {env['setup_s']:.1f} s"
        )
        return server, env
    except BaseException:
        server.stop()
        raise


async def _populate(server, prosody, observer, contacts, pngs):
    import aioxmpp
    import aioxmpp.avatar

    timeout = datetime.timedelta(seconds=CONNECT_TIMEOUT)
    obs = server.make_client(observer)
    obs.summon(aioxmpp.RosterClient)
    obs.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))

    async def contact(account, png):
        client = server.make_client(account)
        client.summon(aioxmpp.RosterClient)
        client.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))
        svc = client.summon(aioxmpp.avatar.AvatarService)
        async with client.connected(timeout=timeout):
            await prosody.mutual_subscribe(obs, client, timeout=CONNECT_TIMEOUT)
            avatar_set = aioxmpp.avatar.AvatarSet()
            avatar_set.add_avatar_image("image/png", image_bytes=png)
            await asyncio.wait_for(svc.publish_avatar_set(avatar_set), STEP_TIMEOUT)

    async with obs.connected(timeout=timeout):
        for start in range(0, len(contacts), 10):
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        contact(a, p)
                        for a, p in zip(
                            contacts[start : start + 10], pngs[start : start + 10]
                        )
                    )
                ),
                STEP_TIMEOUT,
            )


# -- worker side ---------------------------------------------------------------


class IqCounter:
    """Counts the avatar IQs a client sends by wrapping the aioxmpp calls
    both implementations use: ``PubSubClient.get_items`` (metadata),
    ``get_items_by_id`` (image data) and ``VCardService.get_vcard``."""

    def __init__(self, client):
        import aioxmpp
        import aioxmpp.vcard

        self.counts = collections.Counter()
        pubsub = client.summon(aioxmpp.PubSubClient)
        vcard = client.summon(aioxmpp.vcard.VCardService)
        self._wrap(pubsub, "get_items", "metadata", node=NS_METADATA)
        self._wrap(pubsub, "get_items_by_id", "data", node=NS_DATA)
        self._wrap(vcard, "get_vcard", "vcard")

    def _wrap(self, obj, name, key, node=None):
        original = getattr(obj, name)
        counts = self.counts

        async def wrapper(*args, **kwargs):
            given = args[1] if len(args) > 1 else kwargs.get("node")
            if node is None or given == node:
                counts[key] += 1
            else:
                counts["other"] += 1
            return await original(*args, **kwargs)

        setattr(obj, name, wrapper)

    def snapshot(self):
        return {k: self.counts[k] for k in ("metadata", "data", "vcard", "other")}


def _delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after}


def _ours_iq_stats(svc):
    s = svc.stats()
    return {"metadata": s["iq_metadata"], "data": s["iq_data"], "vcard": s["iq_vcard"]}


def _pick(metadata):
    for descriptor in metadata:
        if descriptor.can_get_image_bytes_via_xmpp:
            return descriptor
    return None


async def _settle(seen, expected, timeout, quiet):
    """Wait until `expected` JIDs were signalled, or nothing new arrived for
    `quiet` seconds (after `timeout` at most)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_n, last_change = len(seen), loop.time()
    while len(seen) < expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
        if len(seen) != last_n:
            last_n, last_change = len(seen), loop.time()
        elif loop.time() - last_change >= quiet:
            break


def _observer_client(env, impl, *, image_directory=None, cache_size=1000):
    import aioxmpp.connector

    # As aioxmpp_avatar.testing.make_client, which the worker must not import:
    # the password offered once, TLS not required, only the test server.
    client = aioxmpp.Client(
        aioxmpp.JID.fromstr(env["observer"]["jid"]),
        aioxmpp.make_security_layer(env["observer"]["password"])._replace(
            tls_required=False
        ),
        override_peer=[
            (env["host"], env["port"], aioxmpp.connector.STARTTLSConnector())
        ],
    )
    svc = client.summon(service_class(impl))
    svc.metadata_cache_size = cache_size
    if image_directory is not None and impl == "ours":
        svc.image_directory = image_directory
    counter = IqCounter(client)
    client.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))
    return client, svc, counter


def _jid(s):
    import aioxmpp

    return aioxmpp.JID.fromstr(s)


def fanout(impl: str, env: dict, quick: bool) -> dict:
    """50 contacts x 20 concurrent askers, each asking for the metadata with
    ``require_fresh=True`` (so a request really is made) and then for the
    image bytes of the PNG descriptor. The initial PEP notifications are
    allowed to settle before the timed part."""
    n_contacts, askers = (5, 4) if quick else (50, 20)
    contacts = env["contacts"][:n_contacts]
    expected = {_jid(c["jid"]): c["id"] for c in contacts}

    async def main():
        client, svc, counter = _observer_client(env, impl)
        seen = set()
        svc.on_metadata_changed.connect(lambda jid, md: seen.add(jid))
        timeout = datetime.timedelta(seconds=CONNECT_TIMEOUT)
        async with client.connected(timeout=timeout):
            await _settle(seen, len(env["contacts"]), timeout=5.0, quiet=0.5)
            settled = len(seen)
            iq0 = counter.snapshot()
            stats0 = _ours_iq_stats(svc) if impl == "ours" else None

            async def ask(jid):
                metadata = await svc.get_avatar_metadata(jid, require_fresh=True)
                descriptor = _pick(metadata)
                data = await descriptor.get_image_bytes()
                return jid, hashlib.sha1(data).hexdigest()

            t0 = time.perf_counter()
            results = await asyncio.wait_for(
                asyncio.gather(*(ask(j) for j in expected for _ in range(askers))),
                STEP_TIMEOUT,
            )
            wall = time.perf_counter() - t0
            iqs = _delta(counter.snapshot(), iq0)
            stats = _delta(_ours_iq_stats(svc), stats0) if impl == "ours" else None
        bad = [str(j) for j, h in results if h != expected[j]]
        if bad:
            raise AssertionError(f"wrong image data for {bad[:5]}")
        out = {
            "wall_s": wall,
            "iq_total": iqs["metadata"] + iqs["data"] + iqs["vcard"],
            "iq_metadata": iqs["metadata"],
            "iq_data": iqs["data"],
            "iq_vcard": iqs["vcard"],
            "iq_other": iqs["other"],
            "contacts": n_contacts,
            "askers_per_contact": askers,
            "requests": len(results),
            "notified_before_start": settled,
        }
        if stats is not None:
            out["stats_iqs"] = stats
            out["stats_match"] = all(stats[k] == iqs[k] for k in stats)
        return out

    return asyncio.run(main())


async def _login(impl, env, contacts, image_directory):
    """One login of a fresh client and service that shows every contact's
    avatar, as a roster view with live updates would:

    - ``on_metadata_changed`` handler: when the avatar of a contact changes
      to one that is not shown yet, fetch its image bytes;
    - roster view: for each contact (all at once), ``get_avatar_metadata``
      then the image bytes, unless that avatar is shown already.

    Done when every contact's avatar is shown and every fetch finished.
    The wall time counts from the start of the connection."""
    client, svc, counter = _observer_client(env, impl, image_directory=image_directory)
    expected = {_jid(c["jid"]): c["id"] for c in contacts}
    shown = {}
    fetches = []
    signals = 0
    wrong = []

    async def fetch(jid, descriptor):
        data = await descriptor.get_image_bytes()
        if hashlib.sha1(data).hexdigest() != expected.get(jid):
            wrong.append(str(jid))
        shown[jid] = descriptor.normalized_id

    def on_changed(jid, metadata):
        nonlocal signals
        signals += 1
        descriptor = _pick(metadata)
        if descriptor is not None and shown.get(jid) != descriptor.normalized_id:
            fetches.append(asyncio.ensure_future(fetch(jid, descriptor)))

    async def view(jid):
        descriptor = _pick(await svc.get_avatar_metadata(jid))
        if descriptor is not None and shown.get(jid) != descriptor.normalized_id:
            await fetch(jid, descriptor)

    svc.on_metadata_changed.connect(on_changed)
    timeout = datetime.timedelta(seconds=CONNECT_TIMEOUT)
    t0 = time.perf_counter()
    async with client.connected(timeout=timeout):
        t_connected = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(view(j) for j in expected)), STEP_TIMEOUT
        )
        while True:
            pending = [f for f in fetches if not f.done()]
            if not pending:
                break
            await asyncio.wait_for(asyncio.gather(*pending), STEP_TIMEOUT)
        wall = time.perf_counter() - t0
        iqs = counter.snapshot()
        stats = _ours_iq_stats(svc) if impl == "ours" else None
    for f in fetches:
        f.result()
    if wrong or len(shown) != len(expected):
        raise AssertionError(
            f"avatars wrong or missing: {wrong[:5]}, {len(shown)} shown"
        )
    out = {
        "wall_s": wall,
        "connect_s": t_connected - t0,
        "iq_total": iqs["metadata"] + iqs["data"] + iqs["vcard"],
        "iq_metadata": iqs["metadata"],
        "iq_data": iqs["data"],
        "iq_vcard": iqs["vcard"],
        "iq_other": iqs["other"],
        "signals": signals,
        "contacts": len(expected),
    }
    if stats is not None:
        out["stats_iqs"] = stats
        out["stats_match"] = all(stats[k] == iqs[k] for k in stats)
        out["image_disk_hits"] = svc.stats()["image_disk_hits"]
    return out


def login(impl: str, env: dict, quick: bool) -> dict:
    """A fresh observer (new client, new service, empty image directory for
    ours) shows the avatars of all contacts."""
    contacts = env["contacts"][: 10 if quick else 100]
    with tempfile.TemporaryDirectory(prefix="bench-images-") as directory:
        return asyncio.run(_login(impl, env, contacts, directory))


def restart(impl: str, env: dict, quick: bool) -> dict:
    """The observer logs in once (untimed; ours fills its image directory),
    logs out, and logs in again with a new client and service using the same
    image directory; the second login is measured."""
    contacts = env["contacts"][: 10 if quick else 100]
    with tempfile.TemporaryDirectory(prefix="bench-images-") as directory:
        first = asyncio.run(_login(impl, env, contacts, directory))
        files = len(os.listdir(directory))
        second = asyncio.run(_login(impl, env, contacts, directory))
    second["first_login_iq_data"] = first["iq_data"]
    second["files_in_directory"] = files if impl == "ours" else None
    return second
