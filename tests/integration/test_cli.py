"""The command line tool (``python -m aioxmpp_avatar``) run in
subprocesses against the session's throwaway servers."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import sys

import aioxmpp

from aioxmpp_avatar import AvatarService, AvatarSet
from aioxmpp_avatar.cli import errors
from support.cli import (
    RUN_TIMEOUT,
    assert_one_line_error,
    cli_env,
    run_cli,
    server_args,
    stop,
)
from support.helpers import non_contact_error
from support.images import make_png


def write_png(path, *args, **kwargs):
    data = make_png(*args, **kwargs)
    path.write_bytes(data)
    return data


def test_set_then_get(server, make_account, tmp_path):
    account = make_account()
    image = write_png(tmp_path / "in.png", 48, 40, (20, 150, 150))
    image_id = hashlib.sha1(image).hexdigest()

    result = run_cli(*server_args(server), "set", "--as-is", str(tmp_path / "in.png"),
                     env=cli_env(account))
    assert result.returncode == 0, result.stderr
    assert image_id in result.stdout and "48x40" in result.stdout

    # options after the command work too
    out = tmp_path / "out.png"
    result = run_cli("get", "-o", str(out), *server_args(server), env=cli_env(account))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == image
    assert f"chosen: {image_id}" in result.stdout
    assert "verified" in result.stdout
    assert result.stderr == ""

    # without -o: a summary; "-": the image on stdout
    result = run_cli(*server_args(server), "get", account.jid, env=cli_env(account))
    assert result.returncode == 0, result.stderr
    assert "PNG 48x40" in result.stdout and "SHA-1 verified" in result.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "aioxmpp_avatar", *server_args(server), "get",
         "-o", "-"],
        env=cli_env(account), capture_output=True, timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    assert raw.returncode == 0 and raw.stdout == image
    assert b"verified" in raw.stderr


def test_access_model_for_non_contacts(server, make_account, tmp_path):
    owner, stranger = make_account.many(2)
    write_png(tmp_path / "a.png", 16, 16, (130, 60, 190))
    args = server_args(server)
    assert run_cli(*args, "set", str(tmp_path / "a.png"),
                   env=cli_env(owner)).returncode == 0
    result = run_cli(*args, "get", owner.jid, env=cli_env(stranger))
    condition = non_contact_error(server, published=True).value[1]
    assert_one_line_error(result, errors.EXIT_REFUSED, condition, owner.jid)

    result = run_cli(*args, "set", str(tmp_path / "a.png"), "--access-model", "open",
                     env=cli_env(owner))
    assert result.returncode == 0, result.stderr
    assert "access model open" in result.stdout
    result = run_cli(*args, "get", owner.jid, env=cli_env(stranger))
    assert result.returncode == 0, result.stderr
    assert "SHA-1 verified" in result.stdout


def test_get_without_avatar(server, make_account):
    account = make_account()
    result = run_cli(*server_args(server), "get", env=cli_env(account))
    assert_one_line_error(result, errors.EXIT_NO_AVATAR, account.jid, "no avatar")


def test_wrong_password(server, make_account):
    account = make_account()
    result = run_cli(*server_args(server), "get",
                     env=cli_env(account, password="not-" + account.password))
    assert_one_line_error(
        result, errors.EXIT_AUTH, "authentication failed", account.jid
    )


def test_tls_required_without_allow_plaintext(server, make_account):
    account = make_account()
    result = run_cli("--host", "127.0.0.1", "--port", str(server.port), "get",
                     env=cli_env(account))
    assert_one_line_error(result, errors.EXIT_CONNECT, "TLS", "--allow-plaintext")


def test_disable_and_wipe(server, make_account, tmp_path):
    account = make_account()
    write_png(tmp_path / "a.png", 8, 8, (40, 160, 70))
    args = server_args(server)
    env = cli_env(account)
    for command, says in (("disable", "disabled"), ("wipe", "wiped")):
        assert run_cli(*args, "set", str(tmp_path / "a.png"), env=env).returncode == 0
        result = run_cli(*args, command, env=env)
        assert result.returncode == 0, result.stderr
        assert says in result.stdout
        assert_one_line_error(run_cli(*args, "get", env=env), errors.EXIT_NO_AVATAR)


def test_set_normalises_any_photo_by_default(server, make_account, tmp_path):
    from PIL import Image

    account = make_account()
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = Image.new("RGB", (400, 300), (200, 30, 30))
    photo.save(tmp_path / "me.jpg", "JPEG", exif=exif.tobytes())
    result = run_cli(*server_args(server), "set", str(tmp_path / "me.jpg"),
                     "--max-size", "64", env=cli_env(account))
    assert result.returncode == 0, result.stderr
    assert "JPEG 400x300" in result.stdout and "-> PNG 64x64" in result.stdout
    assert "rotated upright; removed EXIF" in result.stdout
    out = tmp_path / "out.png"
    result = run_cli(*server_args(server), "get", "-o", str(out), env=cli_env(account))
    assert result.returncode == 0, result.stderr
    published = Image.open(out)
    assert (published.format, published.size) == ("PNG", (64, 64))
    assert not published.getexif()


async def _read_until(stream, needle, timeout):
    seen = []

    async def scan():
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"EOF before {needle!r}: {seen}")
            seen.append(line.decode())
            if needle in seen[-1]:
                return seen

    return await asyncio.wait_for(scan(), timeout)


async def test_watch_prints_changes(server, make_account, mutual_pair):
    alice, bob = make_account.many(2)
    publisher, _ = await mutual_pair(accounts=(alice, bob), services=[AvatarService])
    image = make_png(24, 24, (240, 130, 30))
    image_id = hashlib.sha1(image).hexdigest()
    args = server_args(server)

    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aioxmpp_avatar", *args, "watch", alice.jid,
        "--count", "3", "--duration", "20",
        env=cli_env(bob), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        err = await _read_until(watcher.stderr, "watching", RUN_TIMEOUT)
        assert any("fetching current avatars: 1/1" in line for line in err)
        # Published by a session that has seen the watcher's presence, not by
        # a fresh `set`: ejabberd sends PEP notifications from the publishing
        # session to the contacts whose +notify caps that session has seen
        # (XEP-0163 §4.3.2 via XEP-0115), so a session that publishes right
        # after logging in may notify nobody. Prosody notifies regardless.
        await _wait_for_resources(publisher, aioxmpp.JID.fromstr(bob.jid), 2)
        avatar = publisher.summon(AvatarService)
        avatar_set = AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=image)
        await asyncio.wait_for(avatar.publish_avatar_set(avatar_set), RUN_TIMEOUT)
        await asyncio.wait_for(avatar.disable_avatar(), RUN_TIMEOUT)
        out, err = await asyncio.wait_for(watcher.communicate(), RUN_TIMEOUT)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    assert watcher.returncode == 0, err
    lines = out.decode().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].endswith(f"{alice.jid} no avatar")
    assert re.search(
        rf" {re.escape(alice.jid)} ids={image_id} types=image/png sizes={len(image)}"
        r" dims=24x24 via=pep$",
        lines[1],
    ), lines[1]
    assert lines[2].endswith(f"{alice.jid} no avatar")
    assert "Traceback" not in err.decode()


async def _wait_for_resources(client, bare_jid, count):
    """Wait until `client` has seen `count` available resources of
    `bare_jid`."""
    presence = client.summon(aioxmpp.PresenceClient)
    deadline = asyncio.get_running_loop().time() + RUN_TIMEOUT
    while len(presence.get_peer_resources(bare_jid)) < count:
        assert asyncio.get_running_loop().time() < deadline, "no presence"
        await asyncio.sleep(0.02)


def test_watch_stops_on_sigint(server, make_account):
    account = make_account()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioxmpp_avatar", *server_args(server), "watch"],
        env=cli_env(account), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        line = ""
        while "watching" not in line:  # bounded by the CLI's own --timeout
            line = proc.stderr.readline()
            assert line, "watch ended early"
        proc.send_signal(2)  # SIGINT
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert "stopped" in err and "Traceback" not in err
