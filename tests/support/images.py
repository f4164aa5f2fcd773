"""PNG images for the tests, drawn with Pillow (a test-only dependency):
distinct colours give distinct images, so distinct ids."""

from __future__ import annotations

import io
from typing import Tuple

from PIL import Image

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_png(
    width: int = 4, height: int = 3, rgb: Tuple[int, int, int] = (200, 30, 90)
) -> bytes:
    """A valid 8-bit RGB PNG of `width` x `height` pixels of colour `rgb`."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, "PNG")
    return out.getvalue()
