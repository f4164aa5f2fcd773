"""Show a contact's avatar: fetch it, verify it and save it to a file::

    XMPP_JID=me@example.org XMPP_PASSWORD=... \\
        python examples/show_avatar.py friend@example.org friend.png

Prints what the contact offers, then writes the chosen image (a PNG over
XMPP when there is one, else the largest that can be fetched over XMPP) to
the file. The bytes written are the ones :meth:`get_image_bytes` returned,
checked against the SHA-1 id and size the contact advertised. Exit code 5
when the contact has no avatar that can be fetched over XMPP. The
connection options are listed in ``common.py``.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import common

from aioxmpp_avatar import AbstractAvatarDescriptor
from aioxmpp_avatar.cli.connection import ConnectionSettings, parse_jid, session
from aioxmpp_avatar.cli.errors import EXIT_NO_AVATAR, EXIT_OK, CliError, guarded


def choose(
    metadata: List[AbstractAvatarDescriptor],
) -> Optional[AbstractAvatarDescriptor]:
    """The version to fetch: over XMPP only, a PNG first, then the largest."""
    fetchable = [d for d in metadata if d.can_get_image_bytes_via_xmpp]
    if not fetchable:
        return None

    def preference(d: AbstractAvatarDescriptor) -> tuple[bool, int]:
        return d.mime_type == "image/png", (d.width or 0) * (d.height or 0)

    return max(fetchable, key=preference)


async def show(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    contact = parse_jid(args.contact)
    async with session(settings) as (_client, avatars):
        # guarded(): a time-out or an error answer becomes a CliError that
        # says what failed (e.g. "forbidden": not a contact), exit code 7 or 8.
        metadata = await guarded(
            avatars.get_avatar_metadata(contact),
            f"getting the avatar of {contact}", settings.timeout,
        )
        for d in metadata:
            size = f"{d.width}x{d.height}" if d.width and d.height else "size unknown"
            print(f"offered: {d.normalized_id} {d.mime_type} {size} {d.nbytes} bytes")
        chosen = choose(metadata)
        if chosen is None:
            why = "no avatar" if not metadata else "none fetchable over XMPP"
            raise CliError(EXIT_NO_AVATAR, f"{contact}: {why}")
        data = await guarded(
            chosen.get_image_bytes(), "fetching the image", settings.timeout
        )
    with open(args.output, "wb") as out:
        out.write(data)
    print(f"saved {chosen.normalized_id} ({len(data)} bytes, verified)"
          f" to {args.output}")
    return EXIT_OK


def main() -> int:
    parser = common.parser("Fetch a contact's avatar and save it to a file.")
    parser.add_argument("contact", metavar="JID", help="whose avatar")
    parser.add_argument("output", metavar="FILE", help="where to write the image")
    return common.run("show_avatar", show, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
