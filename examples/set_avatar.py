"""Set our avatar from any image (PNG, JPEG, WebP or GIF)::

    XMPP_JID=me@example.org XMPP_PASSWORD=... \\
        python examples/set_avatar.py holiday.jpg [--max-size 128] [--open]

:meth:`AvatarSet.from_image` makes it a square PNG of at most `--max-size`
pixels (default 192) without any metadata (EXIF and GPS positions
included); the conversion runs in a thread so the event loop goes on.
``--open`` lets everybody see the avatar, not only contacts. Prints what
the conversion did and the id published. The connection options are listed
in ``common.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import common

from aioxmpp_avatar import AvatarImageError, AvatarSet
from aioxmpp_avatar.cli.connection import ConnectionSettings, session
from aioxmpp_avatar.cli.errors import EXIT_FILE, EXIT_OK, CliError, guarded


async def set_avatar(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    try:
        with open(args.image, "rb") as f:
            data = f.read()
        avatar_set = await asyncio.to_thread(
            AvatarSet.from_image, data, max_size=args.max_size
        )
    except (OSError, AvatarImageError) as exc:
        raise CliError(EXIT_FILE, f"{args.image}: {exc}") from None
    print(f"converted: {avatar_set.conversion}")
    async with session(settings) as (_client, avatars):
        await guarded(
            avatars.publish_avatar_set(
                avatar_set, access_model="open" if args.open else None
            ),
            "publishing the avatar",
            settings.timeout,
        )
    print(f"published {avatar_set.png_id}")
    return EXIT_OK


def main() -> int:
    parser = common.parser("Publish any image as our avatar.")
    parser.add_argument("image", metavar="FILE", help="PNG, JPEG, WebP or GIF")
    parser.add_argument(
        "--max-size", type=int, default=192, metavar="PIXELS",
        help="largest side of the published PNG (default 192)",
    )
    parser.add_argument(
        "--open", action="store_true", help="visible to everybody, not only contacts"
    )
    return common.run("set_avatar", set_avatar, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
