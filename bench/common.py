"""Helpers shared by the bench orchestrator and its worker processes.

Nothing here imports :mod:`aioxmpp_avatar` at module level, so the
orchestrator never loads our implementation into its own process.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib

IMPLS = ("aioxmpp", "ours")

NS_METADATA = "urn:xmpp:avatar:metadata"
NS_DATA = "urn:xmpp:avatar:data"


def service_class(impl: str):
    """The AvatarService class of `impl` ("aioxmpp" or "ours")."""
    if impl == "aioxmpp":
        import aioxmpp.avatar

        return aioxmpp.avatar.AvatarService
    if impl == "ours":
        import aioxmpp_avatar

        return aioxmpp_avatar.AvatarService
    raise ValueError(f"unknown implementation {impl!r}")


def avatar_set_class(impl: str):
    """The AvatarSet class of `impl`."""
    if impl == "aioxmpp":
        import aioxmpp.avatar

        return aioxmpp.avatar.AvatarSet
    import aioxmpp_avatar

    return aioxmpp_avatar.AvatarSet


# -- memory -------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE


# -- PNG images ---------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def make_png(width: int, height: int, seed: int, *, size: int | None = None) -> bytes:
    """A valid 8-bit RGB PNG of random pixels (so it does not compress and
    every seed gives a different image). With `size`, a private ancillary
    chunk pads the file to exactly `size` bytes."""
    rng = random.Random(seed)
    row = 3 * width
    raw = b"".join(b"\x00" + rng.randbytes(row) for _ in range(height))
    head = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw, 1))
    )
    tail = _chunk(b"IEND", b"")
    if size is None:
        return head + tail
    pad = size - len(head) - len(tail) - 12
    if pad < 0:
        raise ValueError(f"image of {width}x{height} is already above {size} bytes")
    return head + _chunk(b"bnCh", b"\x00" * pad) + tail


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# -- statistics ---------------------------------------------------------------


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
