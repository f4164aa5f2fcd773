"""The bots in examples/ run as subprocesses against the session's
throwaway servers (Prosody, ejabberd), as a user would run them: each test
checks what the example did on the server or wrote, not only its exit
code."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import aioxmpp

from aioxmpp_avatar import AvatarService, AvatarSet
from aioxmpp_avatar.cli import errors
from support.cli import CLI_TIMEOUT, RUN_TIMEOUT, cli_env
from support.helpers import non_contact_error
from support.images import PNG_SIGNATURE, make_png

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_args(server, name: str, *args: str) -> List[str]:
    return [
        sys.executable, str(EXAMPLES / name), "--host", "127.0.0.1",
        "--port", str(server.port), "--allow-plaintext",
        "--timeout", CLI_TIMEOUT, *args,
    ]


def run_example(server, account, name: str, *args: str):
    return subprocess.run(
        example_args(server, name, *args), env=cli_env(account),
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )


async def publish_png(client, rgb: Tuple[int, int, int], size: int = 20) -> bytes:
    image = make_png(size, size, rgb)
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=image)
    await asyncio.wait_for(
        client.summon(AvatarService).publish_avatar_set(avatar_set), RUN_TIMEOUT)
    return image


async def test_show_avatar_saves_the_published_bytes(
    server, make_account, mutual_pair, tmp_path,
):
    alice, bob = make_account.many(2)
    client_a, _ = await mutual_pair(accounts=(alice, bob), services=[AvatarService])
    image = await publish_png(client_a, (10, 120, 200), 24)
    image_id = hashlib.sha1(image).hexdigest()
    out = tmp_path / "alice.png"

    result = await asyncio.to_thread(
        run_example, server, bob, "show_avatar.py", alice.jid, str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_bytes() == image
    assert f"offered: {image_id} image/png 24x24 {len(image)} bytes" in result.stdout
    assert f"saved {image_id} ({len(image)} bytes, verified)" in result.stdout
    assert result.stderr == ""


async def test_show_avatar_without_avatar(
    server, make_account, mutual_pair, tmp_path,
):
    alice, bob = make_account.many(2)
    await mutual_pair(accounts=(alice, bob))
    out = tmp_path / "none.png"
    result = await asyncio.to_thread(
        run_example, server, bob, "show_avatar.py", alice.jid, str(out))
    assert result.returncode == errors.EXIT_NO_AVATAR, result.stdout + result.stderr
    assert result.stderr.strip() == f"show_avatar: error: {alice.jid}: no avatar"
    assert not out.exists()


async def test_show_avatar_of_a_stranger_is_refused(
    server, make_account, connect, tmp_path,
):
    """Not a contact, and the avatar is for contacts only (the default
    access model): one line saying so, exit code 7, no file."""
    alice, stranger = make_account.many(2)
    client_a = await connect(alice, services=[AvatarService])
    await publish_png(client_a, (90, 90, 220))
    out = tmp_path / "alice.png"
    result = await asyncio.to_thread(
        run_example, server, stranger, "show_avatar.py", alice.jid, str(out))
    assert result.returncode == errors.EXIT_REFUSED, result.stdout + result.stderr
    assert result.stderr.startswith("show_avatar: error: ")
    condition = non_contact_error(server, published=True).value[1]
    assert condition in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()


async def test_set_avatar_publishes_a_clean_square_png(
    server, make_account, mutual_pair, tmp_path,
):
    from PIL import Image

    alice, bob = make_account.many(2)
    _, client_b = await mutual_pair(accounts=(alice, bob), services=[AvatarService])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the conversion turns it upright
    Image.new("RGB", (300, 200), (220, 40, 40)).save(
        tmp_path / "photo.jpg", "JPEG", exif=exif.tobytes())

    result = await asyncio.to_thread(
        run_example, server, alice, "set_avatar.py", str(tmp_path / "photo.jpg"),
        "--max-size", "48")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "JPEG 300x200" in result.stdout and "PNG 48x48" in result.stdout
    assert "removed EXIF" in result.stdout
    match = re.search(r"^published ([0-9a-f]{40})$", result.stdout, re.M)
    assert match, result.stdout
    metadata = await asyncio.wait_for(
        client_b.summon(AvatarService).get_avatar_metadata(
            aioxmpp.JID.fromstr(alice.jid), require_fresh=True),
        RUN_TIMEOUT)
    assert [d.normalized_id for d in metadata] == [match.group(1)]
    data = await asyncio.wait_for(metadata[0].get_image_bytes(), RUN_TIMEOUT)
    assert data.startswith(PNG_SIGNATURE)
    assert hashlib.sha1(data).hexdigest() == match.group(1)
    published = Image.open(io.BytesIO(data))
    assert (published.format, published.size) == ("PNG", (48, 48))
    assert not published.getexif()


def test_set_avatar_refuses_what_is_not_an_image(server, make_account, tmp_path):
    alice = make_account()
    (tmp_path / "notes.txt").write_text("not an image\n")
    result = run_example(server, alice, "set_avatar.py", str(tmp_path / "notes.txt"))
    assert result.returncode == errors.EXIT_FILE, result.stdout + result.stderr
    assert result.stderr.startswith("set_avatar: error: ")
    assert "published" not in result.stdout


async def _readline(stream, timeout: float) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    if not line:
        raise AssertionError("the watcher ended early")
    return line.decode()


async def test_watch_avatars_prints_each_change(
    server, make_account, mutual_pair,
):
    alice, bob = make_account.many(2)
    client_a, _ = await mutual_pair(accounts=(alice, bob), services=[AvatarService])
    watcher = await asyncio.create_subprocess_exec(
        *example_args(server, "watch_avatars.py", "--duration", "60"),
        env=cli_env(bob), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    lines: List[str] = []

    async def wait_for_line(expected: str) -> None:
        """Read lines until one (printed from now on) is `expected`."""
        while True:
            lines.append((await _readline(watcher.stdout, RUN_TIMEOUT)).rstrip("\n"))
            if lines[-1] == expected:
                return

    try:
        ready = await _readline(watcher.stderr, RUN_TIMEOUT)
        assert ready.startswith("watching"), ready
        first = await publish_png(client_a, (30, 200, 90), 16)
        await wait_for_line(
            f"{alice.jid}: {hashlib.sha1(first).hexdigest()} image/png 16x16")
        second = await publish_png(client_a, (200, 30, 90), 32)
        await wait_for_line(
            f"{alice.jid}: {hashlib.sha1(second).hexdigest()} image/png 32x32")
        await asyncio.wait_for(
            client_a.summon(AvatarService).disable_avatar(), RUN_TIMEOUT)
        await wait_for_line(f"{alice.jid}: no avatar")
        watcher.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(watcher.communicate(), RUN_TIMEOUT)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    assert watcher.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    # the three changes in order, each once
    changes = [line for line in lines if line.startswith(f"{alice.jid}: ")]
    assert changes[-3:] == [
        f"{alice.jid}: {hashlib.sha1(first).hexdigest()} image/png 16x16",
        f"{alice.jid}: {hashlib.sha1(second).hexdigest()} image/png 32x32",
        f"{alice.jid}: no avatar",
    ], lines
