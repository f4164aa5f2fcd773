"""A tiny PNG writer and header reader (zlib + struct only, no Pillow).

Used by the demo to generate avatars and by the CLI to check that a file is
a PNG before publishing it::

    data = make_png(64, 64, "#3366cc")
    assert is_png(data)
    assert png_dimensions(data) == (64, 64)

The images are 8-bit RGB, non-interlaced: a diagonal gradient from the given
colour to a lighter tint of it, with a soft checker pattern so that two
avatars of similar colour still look different.
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional, Tuple, Union

__all__ = [
    "NAMED_COLORS",
    "PNG_SIGNATURE",
    "PngError",
    "is_png",
    "make_png",
    "parse_color",
    "png_dimensions",
]

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Largest side :func:`make_png` accepts (keeps memory use reasonable).
MAX_SIDE = 4096

#: Colour names understood by :func:`parse_color`.
NAMED_COLORS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (220, 40, 40),
    "green": (40, 160, 70),
    "blue": (50, 90, 210),
    "yellow": (235, 200, 40),
    "orange": (240, 130, 30),
    "purple": (130, 60, 190),
    "teal": (20, 150, 150),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
}

Color = Tuple[int, int, int]


class PngError(ValueError):
    """The data is not a PNG, or its header is malformed."""


def parse_color(value: Union[str, Color]) -> Color:
    """An ``(r, g, b)`` tuple from a colour name, ``#rgb``, ``#rrggbb`` or a
    3-tuple of ints in 0..255.

    :raises ValueError: for anything else.
    """
    if isinstance(value, tuple):
        if len(value) != 3 or not all(
            isinstance(c, int) and 0 <= c <= 255 for c in value
        ):
            raise ValueError(f"invalid colour {value!r}: need three ints in 0..255")
        return value
    text = value.strip().lower()
    if text in NAMED_COLORS:
        return NAMED_COLORS[text]
    digits = text[1:] if text.startswith("#") else text
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6:
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            pass
        else:
            return (raw[0], raw[1], raw[2])
    raise ValueError(
        f"invalid colour {value!r}: use a name ({', '.join(sorted(NAMED_COLORS))})"
        " or #rrggbb"
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _raw_rows(width: int, height: int, color: Color) -> bytes:
    """The filtered scanlines (filter type 0 per row) of the image."""
    r0, g0, b0 = color
    # The gradient goes from the colour to halfway towards white.
    r1, g1, b1 = (c + (255 - c) // 2 for c in color)
    span = max(1, width + height - 2)
    cell = max(1, min(width, height) // 8)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            t = (x + y) / span
            checker = 12 if ((x // cell) + (y // cell)) % 2 else 0
            rows.append(max(0, min(255, round(r0 + (r1 - r0) * t) - checker)))
            rows.append(max(0, min(255, round(g0 + (g1 - g0) * t) - checker)))
            rows.append(max(0, min(255, round(b0 + (b1 - b0) * t) - checker)))
    return bytes(rows)


def make_png(
    width: int = 64,
    height: int = 64,
    color: Union[str, Color] = "#3366cc",
    *,
    text: Optional[str] = None,
) -> bytes:
    """A PNG image (8-bit RGB) of `width` × `height` pixels: a diagonal
    gradient of `color` with a soft checker pattern.

    `text`, if given, is stored in a ``tEXt`` chunk (``Comment``), which
    makes otherwise identical images differ (and so have different ids).

    :raises ValueError: for sizes outside 1..:data:`MAX_SIDE` or a bad colour.
    """
    for name, side in (("width", width), ("height", height)):
        if not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
            raise ValueError(f"{name} must be an int in 1..{MAX_SIDE}, got {side!r}")
    rgb = parse_color(color)
    # bit depth 8, colour type 2 (RGB), compression 0, filter 0, no interlace
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    parts = [PNG_SIGNATURE, _chunk(b"IHDR", ihdr)]
    if text is not None:
        parts.append(_chunk(b"tEXt", b"Comment\0" + text.encode("latin-1", "replace")))
    parts.append(_chunk(b"IDAT", zlib.compress(_raw_rows(width, height, rgb), 9)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def is_png(data: bytes) -> bool:
    """Whether `data` starts with the PNG signature."""
    return bytes(data[: len(PNG_SIGNATURE)]) == PNG_SIGNATURE


def png_dimensions(data: bytes) -> Tuple[int, int]:
    """``(width, height)`` from the IHDR chunk of a PNG.

    :raises PngError: if `data` does not start with the PNG signature
        followed by a well-formed IHDR chunk.
    """
    if not is_png(data):
        raise PngError("not a PNG image (the PNG signature is missing)")
    header = bytes(data[8:33])
    if len(header) < 25:
        raise PngError("truncated PNG: no complete IHDR chunk")
    length, kind = struct.unpack(">I4s", header[:8])
    if kind != b"IHDR" or length != 13:
        raise PngError("malformed PNG: the first chunk is not a 13-byte IHDR")
    crc = struct.unpack(">I", header[21:25])[0]
    if zlib.crc32(header[4:21]) & 0xFFFFFFFF != crc:
        raise PngError("malformed PNG: IHDR checksum mismatch")
    width, height = struct.unpack(">II", header[8:16])
    if width == 0 or height == 0:
        raise PngError("malformed PNG: zero width or height")
    return width, height
