"""What AvatarSet.from_image costs: a 12-megapixel JPEG photo and a
decompression bomb, each in a fresh process for an honest peak RSS.

    python bench/avatar_image.py

The photo is synthetic (Pillow: gradients and noise, 4000x3000, quality 90,
with EXIF); aioxmpp has no conversion, so there is nothing to compare with.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

CHILD = r"""
import json, resource, sys, time
from aioxmpp_avatar import AvatarSet, AvatarImageError
data = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    result = str(AvatarSet.from_image(data).conversion)
except AvatarImageError as exc:
    result = f"refused: {exc}"
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"result": result, "ms": elapsed * 1000, "peak_mib": peak / 1024}))
"""


def photo() -> bytes:
    from PIL import Image

    width, height = 4000, 3000
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    turned = gradient.rotate(90).resize((width, height))
    image = Image.merge("RGB", (gradient, noise, turned))
    exif = Image.Exif()
    exif[0x0112] = 1
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def measure(name: str, data: bytes) -> None:
    run = subprocess.run([sys.executable, "-c", CHILD], input=data,
                         capture_output=True, check=True)
    r = json.loads(run.stdout)
    print(f"{name} ({len(data)} bytes): {r['result']}; "
          f"{r['ms']:.0f} ms, peak RSS +{r['peak_mib']:.1f} MiB")


if __name__ == "__main__":
    measure("12 MP JPEG photo", photo())
    measure("PNG bomb declaring 60000x60000", bomb())
