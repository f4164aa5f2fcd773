"""Where the time of one PEP notification goes (a diagnostic, not a row).

    python bench/breakdown.py {aioxmpp|ours} [--events N] [--passes P]

Replays the same all-new notification sequence as the notify row (10k JIDs,
1-3 infos) several times and times, per notification:

- ``loop``: the bare loop calling a no-op function with the same arguments;
- ``two signal hops``: an aioxmpp ``Signal`` whose handler fires a second
  ``Signal`` with a no-op callback (the floor under any aioxmpp service's handler);
- ``service handler``: the service's ``_handle_pubsub_publish`` called
  directly (no incoming signal hop);
- ``core call`` (ours only): ``AvatarSession.pep_notification`` alone;
- ``full``: ``avatar_pep.on_item_publish`` to a connected callback.

Prints the median over the passes of each, in µs per notification.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import micro  # noqa: E402
from common import NS_METADATA, median  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("impl", choices=("aioxmpp", "ours"))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(_run(args))


async def _run(args):
    import aioxmpp.callbacks

    n_jids = 10_000
    client, svc = micro._summon(args.impl, 2 * n_jids)
    svc.on_metadata_changed.connect(lambda jid, metadata: None)
    jids = micro._jids("user", n_jids)
    # JID j gets versions 0, 1, 2 ... in order, so replaying the sequence
    # changes every avatar again (the last version differs from the first).
    events = []
    for k in range(args.events):
        j, v = k % n_jids, k // n_jids
        events.append((jids[j], micro.build_event_item(j, v, micro._n_infos(j, v))))

    def noop(jid, node, item, **kwargs):
        return None

    first, second = aioxmpp.callbacks.Signal(), aioxmpp.callbacks.Signal()

    class Holder:
        a = first
        b = second

    h = Holder()
    h.b.connect(lambda jid, md: None)
    h.a.connect(lambda jid, node, item: h.b(jid, item) and None)

    cases = {
        "loop": noop,
        "two signal hops": h.a,
        "service handler": svc._handle_pubsub_publish,
        "full": svc.avatar_pep.on_item_publish,
    }
    if args.impl == "ours":
        state = svc._session
        cases["core call"] = lambda jid, node, item: state.pep_notification(jid, item)
    gc.collect()
    gc.freeze()
    times = {name: [] for name in cases}
    for _ in range(args.passes):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            for jid, item in events:
                fn(jid, NS_METADATA, item)
            times[name].append((time.perf_counter() - t0) / len(events) * 1e6)
    print(f"{args.impl}: µs per notification (median of {args.passes} passes)")
    for name, values in times.items():
        print(f"  {name:16s} {median(values):6.2f}")


if __name__ == "__main__":
    main()
