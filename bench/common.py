"""Helpers shared by the bench orchestrator and its worker processes.

Nothing here imports :mod:`aioxmpp_avatar` at module level: a worker
measuring aioxmpp never loads it (worker.py reports whether it did).
"""

from __future__ import annotations

import hashlib
import io
import os
import random

import aioxmpp.avatar  # registers the XEP-0084 namespaces
from aioxmpp.utils import namespaces
from PIL import Image, PngImagePlugin

IMPLS = ("aioxmpp", "ours")

NS_METADATA = namespaces.xep0084_metadata
NS_DATA = namespaces.xep0084_data


def service_class(impl: str):
    """The AvatarService class of `impl` ("aioxmpp" or "ours")."""
    if impl == "aioxmpp":
        cls = aioxmpp.avatar.AvatarService
        # aioxmpp_avatar.install() would make it ours (the Prosody jobs import
        # the package for aioxmpp_avatar.testing, but never install it).
        assert cls.__module__ == "aioxmpp.avatar.service", cls
        return cls
    if impl == "ours":
        import aioxmpp_avatar

        return aioxmpp_avatar.AvatarService
    raise ValueError(f"unknown implementation {impl!r}")


def avatar_set_class(impl: str):
    """The AvatarSet class of `impl`."""
    if impl == "aioxmpp":
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


def _encode(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def make_png(width: int, height: int, seed: int, *, size: int | None = None) -> bytes:
    """A valid 8-bit RGB PNG of random pixels (so it does not compress and
    every seed gives a different image), drawn with Pillow. With `size`, a
    private ancillary chunk pads the file to exactly `size` bytes."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(3 * width * height))
    png = _encode(image)
    if size is None:
        return png
    pad = size - len(png) - 12  # a chunk: length, type, data, CRC
    if pad < 0:
        raise ValueError(f"image of {width}x{height} is already above {size} bytes")
    padding = PngImagePlugin.PngInfo()
    padding.add(b"bnCh", b"\x00" * pad)
    return _encode(image, pnginfo=padding)


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
