"""Watch our contacts' avatars change, one line per change::

    XMPP_JID=me@example.org XMPP_PASSWORD=... python examples/watch_avatars.py

Prints ``watching ...`` on stderr once connected, then for each change that
:meth:`AvatarService.on_metadata_changed` reports a line on stdout::

    alice@example.org: 3f786850e387550fdab836ed7e6dc881de23001b image/png 96x96
    alice@example.org: no avatar

until Ctrl-C (exit code 0) or ``--duration`` seconds. The server sends the
changes only to clients that ask for them, which aioxmpp does through entity
capabilities: :func:`~aioxmpp_avatar.cli.connection.session` with
``available=True`` summons :class:`aioxmpp.EntityCapsService` and sets an
available presence before connecting. The connection options are listed in
``common.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Dict, Sequence, Tuple

import common

from aioxmpp_avatar import AbstractAvatarDescriptor, AvatarService
from aioxmpp_avatar.cli.connection import ConnectionSettings, session
from aioxmpp_avatar.cli.errors import EXIT_OK


def describe(metadata: Sequence[AbstractAvatarDescriptor]) -> str:
    """``<id> <type> <w>x<h>`` per version, or ``no avatar``."""
    if not metadata:
        return "no avatar"
    return ", ".join(
        f"{d.normalized_id} {d.mime_type} {d.width or '?'}x{d.height or '?'}"
        for d in metadata
    )


async def watch(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    last: Dict[Any, Tuple[str, ...]] = {}

    def changed(jid: Any, metadata: Sequence[AbstractAvatarDescriptor]) -> None:
        # A handler must not raise: aioxmpp would disconnect it for good.
        key = tuple(d.normalized_id for d in metadata)
        if last.get(jid) != key:  # the same list again is no change
            last[jid] = key
            print(f"{jid}: {describe(metadata)}", flush=True)

    def configure(client: Any) -> None:
        # Before connecting, so that the avatars the server sends right after
        # our first presence are seen too.
        client.summon(AvatarService).on_metadata_changed.connect(changed)

    async with session(settings, available=True, configure=configure):
        print("watching avatar changes; Ctrl-C to stop", file=sys.stderr, flush=True)
        if args.duration is None:
            await asyncio.Event().wait()  # until Ctrl-C
        else:
            await asyncio.sleep(args.duration)
    return EXIT_OK


def main() -> int:
    parser = common.parser("Print our contacts' avatar changes as they happen.")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after SECONDS"
    )
    return common.run("watch_avatars", watch, parser.parse_args(), ctrl_c_ok=True)


if __name__ == "__main__":
    sys.exit(main())
