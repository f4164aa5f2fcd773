"""Smoke test of an installed wheel (dev/build-wheels.sh runs it in a fresh
virtualenv, from outside the checkout): the package and its Rust module
import from site-packages, and the core does real work."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import aioxmpp

import aioxmpp_avatar
from aioxmpp_avatar import AvatarSet, _core, normalize_id


def tiny_png(side: int) -> bytes:
    """A grey `side` x `side` PNG, made without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\x80" * side for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    site = Path(aioxmpp_avatar.__file__).resolve().parent
    assert "site-packages" in site.parts, f"imported from {site}, not the wheel"
    assert Path(_core.__file__).parent == site, _core.__file__
    avatar = AvatarSet.from_image(tiny_png(300))
    assert avatar.conversion is not None and avatar.conversion.size == 192
    assert avatar.png_id == normalize_id(avatar.png_id.upper())
    aioxmpp_avatar.install()
    assert aioxmpp.avatar.AvatarSet is AvatarSet
    aioxmpp_avatar.uninstall()
    print(f"wheel smoke test passed: aioxmpp_avatar {aioxmpp_avatar.__version__}"
          f" on Python {sys.version.split()[0]}, {avatar.conversion}")


if __name__ == "__main__":
    main()
