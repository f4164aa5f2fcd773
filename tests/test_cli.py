"""Tests of the command-line tool (``python -m aioxmpp_avatar``) run in
subprocesses against the session's throwaway Prosody, of the demo, and of
the tiny PNG writer (:mod:`aioxmpp_avatar._png`).

Every subprocess has a timeout, runs without a controlling terminal
(``start_new_session``) and with stdin from ``/dev/null`` unless a test says
otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import zlib

import aioxmpp
import pytest

from aioxmpp_avatar import HttpAvatarDescriptor, PubsubAvatarDescriptor, cli
from aioxmpp_avatar._png import (
    PNG_SIGNATURE,
    PngError,
    is_png,
    make_png,
    parse_color,
    png_dimensions,
)

#: Seconds one CLI run may take (the CLI's own --timeout is shorter).
RUN_TIMEOUT = 30.0
#: --timeout passed to the CLI.
CLI_TIMEOUT = "10"


# -- helpers -------------------------------------------------------------------


def _env(account=None, *, password=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPP_")}
    if account is not None:
        env["XMPP_JID"] = account.jid
        env["XMPP_PASSWORD"] = account.password if password is None else password
    env.update(extra)
    return env


def run_cli(*args, env=None, timeout=RUN_TIMEOUT, **kwargs):
    """Run the CLI; returns the CompletedProcess (text output)."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", "aioxmpp_avatar", *args],
        env=_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        **kwargs,
    )


def server_args(prosody):
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(prosody.port),
        "--allow-plaintext",
        "--timeout",
        CLI_TIMEOUT,
    ]


def assert_one_line_error(result, code, *needles):
    """Exit `code`, exactly one line on stderr containing `needles`, no
    traceback anywhere."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aioxmpp-avatar: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def write_png(path, *args, **kwargs):
    data = make_png(*args, **kwargs)
    path.write_bytes(data)
    return data


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- _png ------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(1, 1), (4, 3), (64, 64), (33, 17)])
def test_png_is_valid(width, height):
    data = make_png(width, height, "#102030")
    assert data.startswith(PNG_SIGNATURE) and is_png(data)
    chunks = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) & 0xFFFFFFFF == crc
        chunks.append((kind, payload))
        pos += 12 + length
    assert pos == len(data)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    ihdr = chunks[0][1]
    assert struct.unpack(">IIBBBBB", ihdr) == (width, height, 8, 2, 0, 0, 0)
    assert png_dimensions(data) == (width, height)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == height * (1 + 3 * width)
    assert all(raw[y * (1 + 3 * width)] == 0 for y in range(height))


def test_png_colour_text_and_errors():
    assert make_png(8, 8, "red") != make_png(8, 8, "blue")
    assert make_png(8, 8, "red") == make_png(8, 8, (220, 40, 40))
    with_text = make_png(8, 8, "red", text="x")
    assert b"tEXtComment\x00x" in with_text and with_text != make_png(8, 8, "red")
    assert parse_color("#fff") == (255, 255, 255)
    assert parse_color("0a0B0c") == (10, 11, 12)
    for bad in ("nocolour", "#12345", (1, 2), (1, 2, 300)):
        with pytest.raises(ValueError):
            parse_color(bad)
    for side in (0, -1, 5000):
        with pytest.raises(ValueError):
            make_png(side, 1)
    assert not is_png(b"GIF89a") and not is_png(b"")
    with pytest.raises(PngError):
        png_dimensions(b"GIF89a....")
    with pytest.raises(PngError):
        png_dimensions(PNG_SIGNATURE + b"\0\0\0\x0dIHDR")
    broken = bytearray(make_png(4, 4))
    broken[20] ^= 0xFF  # inside IHDR: checksum no longer matches
    with pytest.raises(PngError):
        png_dimensions(bytes(broken))


# -- pure CLI helpers ------------------------------------------------------------


def test_choose_descriptor_prefers_fetchable_png_then_largest():
    jid = aioxmpp.JID.fromstr("a@example.org")

    def pubsub(id_, mime, side, nbytes):
        return PubsubAvatarDescriptor(
            jid, id_, mime_type=mime, width=side, height=side, nbytes=nbytes
        )

    small_png = pubsub("a" * 40, "image/png", 32, 100)
    big_png = pubsub("b" * 40, "image/png", 96, 900)
    big_jpeg = pubsub("c" * 40, "image/jpeg", 256, 5000)
    http_png = HttpAvatarDescriptor(
        jid, "d" * 40, mime_type="image/png", width=512, height=512, nbytes=9000,
        url="https://example.org/a.png",
    )
    chosen, why = cli.choose_descriptor([small_png, big_jpeg, http_png, big_png])
    assert chosen is big_png
    assert "PNG" in why and "largest" in why
    assert cli.choose_descriptor([big_jpeg])[0] is big_jpeg
    assert cli.choose_descriptor([http_png, big_jpeg])[0] is big_jpeg
    none, why = cli.choose_descriptor([http_png])
    assert none is None and "HTTP" in why
    assert cli.choose_descriptor([]) == (None, "no avatar")

    line = cli.metadata_line(jid, [big_png, http_png])
    assert "a@example.org" in line and "b" * 40 in line and "d" * 40 in line
    assert "image/png,image/png" in line and "900,9000" in line
    assert "via=pep,http" in line
    assert cli.metadata_line(jid, []).endswith("a@example.org no avatar")


def test_is_loopback():
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert cli.is_loopback(host), host
    for host in ("192.0.2.1", "example.org", "localhost.example.org", "0.0.0.0"):
        assert not cli.is_loopback(host), host


def test_help_lists_commands():
    result = run_cli("--help", timeout=RUN_TIMEOUT)
    assert result.returncode == 0
    for command in ("get", "set", "disable", "wipe", "watch", "demo"):
        assert command in result.stdout
    assert "exit codes" in result.stdout


# -- usage errors (no server needed) ---------------------------------------------


def test_plaintext_refused_for_non_loopback_host(tmp_path):
    env = _env(XMPP_JID="a@example.org", XMPP_PASSWORD="pw")
    result = run_cli("--host", "192.0.2.1", "--allow-plaintext", "disable", env=env)
    assert_one_line_error(result, cli.EXIT_USAGE, "non-loopback", "192.0.2.1")
    result = run_cli("--allow-plaintext", "disable", env=env)
    assert_one_line_error(result, cli.EXIT_USAGE, "--allow-plaintext", "--host")


def test_missing_jid():
    result = run_cli("--host", "127.0.0.1", "--allow-plaintext", "disable")
    assert_one_line_error(result, cli.EXIT_USAGE, "XMPP_JID")


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_missing_password_without_tty(stdin):
    env = _env(XMPP_JID="a@localhost")
    kwargs = {}
    if stdin == "closed":
        kwargs = {"stdin": None, "pass_fds": (), "preexec_fn": lambda: os.close(0)}
    result = run_cli(
        "--host", "127.0.0.1", "--allow-plaintext", "disable", env=env, **kwargs
    )
    assert_one_line_error(result, cli.EXIT_USAGE, "no password", "XMPP_PASSWORD")


def test_set_refuses_non_png_and_unreadable_files(tmp_path):
    env = _env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    args = ["--host", "127.0.0.1", "--port", str(closed_port()), "--allow-plaintext"]
    text = tmp_path / "avatar.png"
    text.write_bytes(b"GIF89a not really an image")
    result = run_cli(*args, "set", str(text), env=env)
    assert_one_line_error(result, cli.EXIT_FILE, "not a PNG", str(text))

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(PNG_SIGNATURE + b"\0\0")
    assert_one_line_error(
        run_cli(*args, "set", str(truncated), env=env), cli.EXIT_FILE, "IHDR"
    )

    missing = tmp_path / "missing.png"
    result = run_cli(*args, "set", str(missing), env=env)
    assert_one_line_error(result, cli.EXIT_FILE, "cannot read", str(missing))

    result = run_cli(*args, "set", str(tmp_path), env=env)  # a directory
    assert_one_line_error(result, cli.EXIT_FILE, "cannot read")


def test_get_output_into_missing_directory(tmp_path):
    env = _env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    out = tmp_path / "nope" / "a.png"
    result = run_cli(
        "--host", "127.0.0.1", "--allow-plaintext", "get", "-o", str(out), env=env
    )
    assert_one_line_error(result, cli.EXIT_FILE, "not a directory")


def test_unreachable_server():
    env = _env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    port = closed_port()
    result = run_cli(
        "--host", "127.0.0.1", "--port", str(port), "--allow-plaintext", "get", env=env
    )
    assert_one_line_error(
        result, cli.EXIT_CONNECT, "cannot connect", f"127.0.0.1:{port}", "refused"
    )
    # Only the given address was tried, not the domain's own (localhost:5222).
    assert "5222" not in result.stderr


# -- against the test server ---------------------------------------------------------


def test_set_then_get(prosody, make_account, tmp_path):
    account = make_account()
    image = write_png(tmp_path / "in.png", 48, 40, "teal")
    image_id = hashlib.sha1(image).hexdigest()

    result = run_cli(*server_args(prosody), "set", str(tmp_path / "in.png"),
                     env=_env(account))
    assert result.returncode == 0, result.stderr
    assert image_id in result.stdout and "48x40" in result.stdout

    # options after the command work too
    out = tmp_path / "out.png"
    result = run_cli("get", "-o", str(out), *server_args(prosody), env=_env(account))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == image
    assert f"chosen: {image_id}" in result.stdout
    assert "verified" in result.stdout
    assert result.stderr == ""

    # without -o: a summary; "-": the image on stdout
    result = run_cli(*server_args(prosody), "get", account.jid, env=_env(account))
    assert result.returncode == 0, result.stderr
    assert "PNG 48x40" in result.stdout and "SHA-1 verified" in result.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "aioxmpp_avatar", *server_args(prosody), "get",
         "-o", "-"],
        env=_env(account), capture_output=True, timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    assert raw.returncode == 0 and raw.stdout == image
    assert b"verified" in raw.stderr


def test_access_model_for_non_contacts(prosody, make_account, tmp_path):
    owner, stranger = make_account.many(2)
    write_png(tmp_path / "a.png", 16, 16, "purple")
    args = server_args(prosody)
    assert run_cli(*args, "set", str(tmp_path / "a.png"),
                   env=_env(owner)).returncode == 0
    result = run_cli(*args, "get", owner.jid, env=_env(stranger))
    assert_one_line_error(result, cli.EXIT_REFUSED, "forbidden", owner.jid)

    result = run_cli(*args, "set", str(tmp_path / "a.png"), "--access-model", "open",
                     env=_env(owner))
    assert result.returncode == 0, result.stderr
    assert "access model open" in result.stdout
    result = run_cli(*args, "get", owner.jid, env=_env(stranger))
    assert result.returncode == 0, result.stderr
    assert "SHA-1 verified" in result.stdout


def test_get_without_avatar(prosody, make_account):
    account = make_account()
    result = run_cli(*server_args(prosody), "get", env=_env(account))
    assert_one_line_error(result, cli.EXIT_NO_AVATAR, account.jid, "no avatar")


def test_wrong_password(prosody, make_account):
    account = make_account()
    result = run_cli(*server_args(prosody), "get",
                     env=_env(account, password="not-" + account.password))
    assert_one_line_error(result, cli.EXIT_AUTH, "authentication failed", account.jid)


def test_tls_required_without_allow_plaintext(prosody, make_account):
    account = make_account()
    result = run_cli("--host", "127.0.0.1", "--port", str(prosody.port), "get",
                     env=_env(account))
    assert_one_line_error(result, cli.EXIT_CONNECT, "TLS", "--allow-plaintext")


def test_disable_and_wipe(prosody, make_account, tmp_path):
    account = make_account()
    write_png(tmp_path / "a.png", 8, 8, "green")
    args = server_args(prosody)
    env = _env(account)
    for command, says in (("disable", "disabled"), ("wipe", "wiped")):
        assert run_cli(*args, "set", str(tmp_path / "a.png"), env=env).returncode == 0
        result = run_cli(*args, command, env=env)
        assert result.returncode == 0, result.stderr
        assert says in result.stdout
        assert_one_line_error(run_cli(*args, "get", env=env), cli.EXIT_NO_AVATAR)


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


async def _run_async(*args, env):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aioxmpp_avatar", *args, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


async def test_watch_prints_changes(prosody, make_account, mutual_pair, tmp_path):
    alice, bob = make_account.many(2)
    await mutual_pair(accounts=(alice, bob))
    image = write_png(tmp_path / "a.png", 24, 24, "orange")
    image_id = hashlib.sha1(image).hexdigest()
    args = server_args(prosody)

    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aioxmpp_avatar", *args, "watch", alice.jid,
        "--count", "3", "--duration", "20",
        env=_env(bob), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        err = await _read_until(watcher.stderr, "watching", RUN_TIMEOUT)
        assert any("fetching current avatars: 1/1" in line for line in err)
        rc, out, err = await _run_async(*args, "set", str(tmp_path / "a.png"),
                                        env=_env(alice))
        assert rc == 0, err
        rc, out, err = await _run_async(*args, "disable", env=_env(alice))
        assert rc == 0, err
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


def test_watch_stops_on_sigint(prosody, make_account):
    account = make_account()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioxmpp_avatar", *server_args(prosody), "watch"],
        env=_env(account), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "stopped" in err and "Traceback" not in err


def test_demo(tmp_path):
    result = run_cli("demo", "--out", str(tmp_path), "--timeout", "20", timeout=60)
    if result.returncode == cli.EXIT_NO_PROSODY:
        pytest.skip("Prosody is not installed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    assert "stats()" in result.stdout and "empty metadata" in result.stdout
    images = sorted(tmp_path.glob("*.png"))
    assert len(images) == 2
    for path in images:
        data = path.read_bytes()
        assert is_png(data)
        assert hashlib.sha1(data).hexdigest()[:8] in path.name
    assert "Traceback" not in result.stderr


def test_demo_interrupted_cleans_up(tmp_path):
    """Ctrl-C in the middle of the demo: exit 130, server stopped, its
    temporary directory removed."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioxmpp_avatar", "demo", "--out", str(tmp_path)],
        env=_env(TMPDIR=str(tmp)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        seen = []
        while not any("registered" in line for line in seen):  # bounded: the
            line = proc.stdout.readline()  # demo ends within its --timeout
            if not line:
                break
            seen.append(line)
        proc.send_signal(2)  # SIGINT
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == cli.EXIT_NO_PROSODY:
        pytest.skip("Prosody is not installed")
    # Either interrupted, or (on a very fast machine) finished before the signal.
    assert proc.returncode in (cli.EXIT_INTERRUPTED, 0), err
    assert "Traceback" not in err
    assert not list(tmp.glob("prosody-test-*"))
