"""AvatarSet.from_image: any photo becomes a small, square, clean PNG.

Inputs are made here with Pillow (a test-only dependency); outputs are read
back with Pillow, so the checks do not trust our own decoder."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image, PngImagePlugin

from aioxmpp_avatar import AvatarImageError, AvatarSet, AvatarSetError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, format_: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format_, **options)
    return out.getvalue()


def halves(width: int = 300, height: int = 200, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new(mode, (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def read(avatar_set: AvatarSet) -> Image.Image:
    data = avatar_set.image_bytes
    assert data is not None
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def close(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def png_chunks(data: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        kinds.append(kind)
        at += 12 + length
    return kinds


@pytest.mark.parametrize("format_, options", [
    ("PNG", {}),
    ("JPEG", {"quality": 95}),
    ("WEBP", {"lossless": True}),
    ("GIF", {}),
])
def test_each_input_format_becomes_a_square_png(format_, options):
    data = encode(halves(), format_, **options)
    avatar_set = AvatarSet.from_image(data, max_size=64)
    image = read(avatar_set).convert("RGB")
    assert image.size == (64, 64)
    assert close(image.getpixel((2, 32)), RED) and close(image.getpixel((61, 32)), BLUE)
    # one image/png source with its id, size and dimensions
    (info,) = avatar_set.metadata.info["image/png"]
    assert info.id_ == hashlib.sha1(avatar_set.image_bytes).hexdigest()
    assert (info.nbytes, info.width, info.height) == (
        len(avatar_set.image_bytes), 64, 64)
    conversion = avatar_set.conversion
    assert conversion.input_format == {"WEBP": "WebP"}.get(format_, format_)
    assert conversion.input_size == (300, 200)
    assert (conversion.size, conversion.output_bytes) == (
        64, len(avatar_set.image_bytes))
    assert str(conversion).startswith(
        f"{conversion.input_format} 300x200, {len(data)} bytes")


def test_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (50, 50), colour) for colour in (RED, BLUE)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = read(AvatarSet.from_image(out.getvalue())).convert("RGB")
    assert image.size == (50, 50), "never scaled up"
    assert close(image.getpixel((25, 25)), RED)


def test_exif_orientation_is_applied_and_exif_with_gps_is_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turned 90° clockwise
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    data = encode(halves(120, 80), "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "GPS in the input"
    avatar_set = AvatarSet.from_image(data)
    image = read(avatar_set)
    # upright: what was the left (red) half is now on top
    rgb = image.convert("RGB")
    assert image.size == (80, 80)
    assert close(rgb.getpixel((40, 3)), RED) and close(rgb.getpixel((40, 76)), BLUE)
    assert not image.getexif()
    assert b"Exif" not in avatar_set.image_bytes
    assert png_chunks(avatar_set.image_bytes)[0] == b"IHDR"
    assert not {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"iCCP"} & set(
        png_chunks(avatar_set.image_bytes))
    assert avatar_set.conversion.rotated
    assert "EXIF" in avatar_set.conversion.removed


def test_text_chunks_and_icc_profile_are_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location")
    info.add_itxt("Description", "more secrets", zip=True)
    icc = b"\0" * 128 + b"not really a profile"
    data = encode(halves(), "PNG", pnginfo=info, icc_profile=icc)
    avatar_set = AvatarSet.from_image(data)
    out = avatar_set.image_bytes
    assert b"secret" not in out
    assert set(png_chunks(out)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert set(avatar_set.conversion.removed) == {"ICC profile", "text chunks"}


def test_transparency_is_kept_and_opaque_images_lose_the_alpha_channel():
    image = halves(100, 100, "RGBA")
    image.putpixel((50, 50), (0, 0, 0, 0))
    out = read(AvatarSet.from_image(encode(image, "PNG")))
    assert out.mode == "RGBA" and out.getpixel((50, 50))[3] == 0
    assert read(AvatarSet.from_image(encode(halves(), "PNG"))).mode == "RGB"


def noise(side: int) -> Image.Image:
    return Image.frombytes("RGB", (side, side), bytes(
        (i * 2654435761 >> 13) & 0xFF for i in range(side * side * 3)))


def test_size_budget_shrinks_the_image_until_it_fits():
    data = encode(noise(400), "PNG")
    avatar_set = AvatarSet.from_image(data, max_bytes=30_000)
    assert len(avatar_set.image_bytes) <= 30_000
    assert 32 <= read(avatar_set).size[0] < 192
    with pytest.raises(AvatarImageError) as raised:
        AvatarSet.from_image(data, max_bytes=200)
    message = str(raised.value)
    assert "max_bytes=200" in message and "32x32" in message


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_from_its_header_with_bounded_memory():
    bomb = _png_declaring(60000, 60000)
    assert len(bomb) < 200
    script = (
        "import json, resource, sys\n"
        "from aioxmpp_avatar import AvatarSet, AvatarImageError\n"
        "bomb = sys.stdin.buffer.read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    AvatarSet.from_image(bomb)\n"
        "    error = None\n"
        "except AvatarImageError as exc:\n"
        "    error = str(exc)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'error': error, 'grown_kib': after - before}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], input=bomb,
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    result = json.loads(run.stdout)
    assert "declares 60000x60000 pixels" in result["error"]
    assert "refused before decoding" in result["error"]
    assert result["grown_kib"] < 16 * 1024, result


@pytest.mark.parametrize("data, says", [
    (b"", "expected PNG, JPEG, WebP or GIF"),
    (b"GIF87a", "GIF"),
    (b"%PDF-1.7 not an image", "expected PNG, JPEG, WebP or GIF"),
    (encode(halves(), "JPEG")[:300], "broken or truncated JPEG"),
    (encode(halves(), "PNG")[:100], "broken or truncated PNG"),
    (_png_declaring(0, 10), "PNG"),
])
def test_broken_input_gets_a_precise_error(data, says):
    with pytest.raises(AvatarImageError) as raised:
        AvatarSet.from_image(data)
    assert says in str(raised.value)
    assert isinstance(raised.value, AvatarSetError)
    assert isinstance(raised.value, RuntimeError)


@pytest.mark.parametrize("kwargs, says", [
    ({"max_size": 31}, "max_size must be from 32"),
    ({"max_size": -5}, "max_size must be from 32"),
    ({"max_size": 70000}, "max_size must be from 32"),
    ({"max_bytes": 0}, "max_bytes must be a positive"),
    ({"max_bytes": -1}, "max_bytes must be a positive"),
])
def test_bad_arguments_are_refused(kwargs, says):
    with pytest.raises(AvatarImageError, match=says):
        AvatarSet.from_image(encode(halves(), "PNG"), **kwargs)


def test_input_types():
    data = encode(halves(), "PNG")
    assert AvatarSet.from_image(bytearray(data)).png_id == AvatarSet.from_image(
        memoryview(data)).png_id
    with pytest.raises(TypeError):
        AvatarSet.from_image("not bytes")
