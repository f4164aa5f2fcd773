"""The command line tool without a server: choosing and describing
avatars, the options and usage errors (in subprocesses), the PNG checks of
``set``, and connecting to an explicit host without ever falling back to
the servers in DNS."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
import struct
import unittest.mock as um
from pathlib import Path
from typing import Any

import aioxmpp
import aioxmpp.connector
import dns.resolver
import pytest

from aioxmpp_avatar import HttpAvatarDescriptor, PubsubAvatarDescriptor
from aioxmpp_avatar.cli import commands, connection, errors, output
from support.cli import RUN_TIMEOUT, assert_one_line_error, cli_env, run_cli
from support.images import PNG_SIGNATURE, make_png


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- choosing and describing avatars -------------------------------------------


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
    chosen, why = output.choose_descriptor([small_png, big_jpeg, http_png, big_png])
    assert chosen is big_png
    assert "PNG" in why and "largest" in why
    assert output.choose_descriptor([big_jpeg])[0] is big_jpeg
    assert output.choose_descriptor([http_png, big_jpeg])[0] is big_jpeg
    none, why = output.choose_descriptor([http_png])
    assert none is None and "HTTP" in why
    assert output.choose_descriptor([]) == (None, "no avatar")

    line = output.metadata_line(jid, [big_png, http_png])
    assert "a@example.org" in line and "b" * 40 in line and "d" * 40 in line
    assert "image/png,image/png" in line and "900,9000" in line
    assert "via=pep,http" in line
    assert output.metadata_line(jid, []).endswith("a@example.org no avatar")


def test_is_loopback():
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert connection.is_loopback(host), host
    for host in ("192.0.2.1", "example.org", "localhost.example.org", "0.0.0.0"):
        assert not connection.is_loopback(host), host


def test_help_lists_commands():
    result = run_cli("--help", timeout=RUN_TIMEOUT)
    assert result.returncode == 0
    for command in ("get", "set", "disable", "wipe", "watch"):
        assert command in result.stdout
    assert "exit codes" in result.stdout
    for code, meaning in errors.EXIT_CODES.items():
        assert f"  {code:<5}{meaning[:40]}" in result.stdout
    # The demo is a program of its own (examples/demo.py), not a command.
    assert run_cli("demo", timeout=RUN_TIMEOUT).returncode == errors.EXIT_USAGE


# -- usage errors (no server needed) ---------------------------------------------


def test_plaintext_refused_for_non_loopback_host(tmp_path):
    env = cli_env(XMPP_JID="a@example.org", XMPP_PASSWORD="pw")
    result = run_cli("--host", "192.0.2.1", "--allow-plaintext", "disable", env=env)
    assert_one_line_error(result, errors.EXIT_USAGE, "non-loopback", "192.0.2.1")
    result = run_cli("--allow-plaintext", "disable", env=env)
    assert_one_line_error(result, errors.EXIT_USAGE, "--allow-plaintext", "--host")


def test_missing_jid():
    result = run_cli("--host", "127.0.0.1", "--allow-plaintext", "disable")
    assert_one_line_error(result, errors.EXIT_USAGE, "XMPP_JID")


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_missing_password_without_tty(stdin):
    env = cli_env(XMPP_JID="a@localhost")
    kwargs = {}
    if stdin == "closed":
        kwargs = {"stdin": None, "pass_fds": (), "preexec_fn": lambda: os.close(0)}
    result = run_cli(
        "--host", "127.0.0.1", "--allow-plaintext", "disable", env=env, **kwargs
    )
    assert_one_line_error(result, errors.EXIT_USAGE, "no password", "XMPP_PASSWORD")


def test_set_refuses_non_png_and_unreadable_files(tmp_path):
    env = cli_env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    args = ["--host", "127.0.0.1", "--port", str(closed_port()), "--allow-plaintext"]
    text = tmp_path / "avatar.png"
    text.write_bytes(b"GIF89a not really an image")
    result = run_cli(*args, "set", "--as-is", str(text), env=env)
    assert_one_line_error(result, errors.EXIT_FILE, "not a PNG", str(text))

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(PNG_SIGNATURE + b"\0\0")
    assert_one_line_error(
        run_cli(*args, "set", "--as-is", str(truncated), env=env), errors.EXIT_FILE,
        "IHDR"
    )

    missing = tmp_path / "missing.png"
    result = run_cli(*args, "set", str(missing), env=env)
    assert_one_line_error(result, errors.EXIT_FILE, "cannot read", str(missing))

    result = run_cli(*args, "set", str(tmp_path), env=env)  # a directory
    assert_one_line_error(result, errors.EXIT_FILE, "cannot read")


def test_set_says_why_an_image_cannot_be_normalised(tmp_path):
    env = cli_env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    args = ["--host", "127.0.0.1", "--port", str(closed_port()), "--allow-plaintext"]
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a\x0a\x00\x0a\x00")  # a header, then nothing
    assert_one_line_error(run_cli(*args, "set", str(broken), env=env),
                          errors.EXIT_FILE, "broken or truncated GIF", str(broken))
    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello")
    assert_one_line_error(run_cli(*args, "set", str(text), env=env),
                          errors.EXIT_FILE, "expected PNG, JPEG, WebP or GIF")
    assert_one_line_error(
        run_cli(*args, "set", str(text), "--max-size", "8", env=env),
        errors.EXIT_FILE, "max_size must be from 32")
    assert_one_line_error(
        run_cli(*args, "set", "--as-is", "--max-bytes", "10", str(text), env=env),
        errors.EXIT_USAGE, "--max-bytes cannot be used with --as-is")


def test_get_output_into_missing_directory(tmp_path):
    env = cli_env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    out = tmp_path / "nope" / "a.png"
    result = run_cli(
        "--host", "127.0.0.1", "--allow-plaintext", "get", "-o", str(out), env=env
    )
    assert_one_line_error(result, errors.EXIT_FILE, "not a directory")


def test_unreachable_server():
    env = cli_env(XMPP_JID="a@localhost", XMPP_PASSWORD="pw")
    port = closed_port()
    result = run_cli(
        "--host", "127.0.0.1", "--port", str(port), "--allow-plaintext", "get", env=env
    )
    assert_one_line_error(
        result, errors.EXIT_CONNECT, "cannot connect", f"127.0.0.1:{port}", "refused"
    )
    # Only the given address was tried, not the domain's own (localhost:5222).
    assert "5222" not in result.stderr


# -- the PNG checks of `set` --------------------------------------------------------


def _ihdr(kind: bytes, width: int, height: int) -> bytes:
    return PNG_SIGNATURE + b"\0\0\0\x0d" + kind + struct.pack(">II", width, height)


@pytest.mark.parametrize(
    "data,says",
    [
        (b"GIF89a not really an image", "is not a PNG image"),
        (PNG_SIGNATURE + b"\0\0", "truncated PNG: no complete IHDR chunk"),
        (
            _ihdr(b"IHDX", 4, 3) + b"\x08\x02\0\0\0",
            "malformed PNG: the first chunk is not a 13-byte IHDR",
        ),
        (
            _ihdr(b"IHDR", 0, 3) + b"\x08\x02\0\0\0",
            "malformed PNG: zero width or height in IHDR",
        ),
    ],
)
def test_load_png_says_what_is_wrong(tmp_path: Path, data: bytes, says: str) -> None:
    path = tmp_path / "avatar.png"
    path.write_bytes(data)
    with pytest.raises(errors.CliError) as info:
        commands.load_png(str(path))
    assert info.value.code == errors.EXIT_FILE
    assert str(path) in info.value.message and says in info.value.message


def test_load_png_reads_the_size(tmp_path: Path) -> None:
    path = tmp_path / "avatar.png"
    data = make_png(48, 40)
    path.write_bytes(data)
    assert commands.load_png(str(path)) == (data, 48, 40)


# -- an explicit host, and never the servers in DNS ---------------------------------


def _explicit(port: int, **kwargs: Any) -> connection.ConnectionSettings:
    return connection.ConnectionSettings(
        aioxmpp.JID.fromstr("a@example.org"),
        "pw",
        host="127.0.0.1",
        port=port,
        allow_plaintext=True,
        timeout=5.0,
        **kwargs,
    )


async def test_explicit_host_is_retried_but_never_replaced_by_dns() -> None:
    """A failure at the given host is retried as aioxmpp retries an
    OSError, and DNS discovery of the JID's domain never happens."""
    template = connection.build_client(_explicit(closed_port()))
    original = connection.ExplicitHostConnector.connect
    with um.patch.object(
        connection.ExplicitHostConnector, "connect", autospec=True, side_effect=original
    ) as connect, um.patch("aioxmpp.node.discover_connectors") as discover:
        client = aioxmpp.Client(
            template.local_jid,
            connection.password_security_layer("pw", require_tls=False),
            override_peer=template.override_peer,
            max_initial_attempts=3,
        )
        client.backoff_start = datetime.timedelta(milliseconds=10)
        with pytest.raises(errors.NoFallback) as info:
            async with client.connected(timeout=datetime.timedelta(seconds=10)):
                pass
    assert connect.await_count == 3
    discover.assert_not_called()
    assert isinstance(info.value, dns.resolver.NoNameservers)  # retried
    assert not isinstance(info.value, OSError)  # not passed over
    cli_error = errors.connect_error(info.value, _explicit(1234))
    assert cli_error.code == errors.EXIT_CONNECT
    assert "127.0.0.1:1234" in cli_error.message and "refused" in cli_error.message


async def test_aioxmpp_alone_would_ask_dns() -> None:
    """What the connector prevents: aioxmpp's own connector hands over to
    DNS discovery when the override fails."""
    with um.patch("aioxmpp.node.discover_connectors", return_value=[]) as discover:
        client = aioxmpp.Client(
            aioxmpp.JID.fromstr("a@example.org"),
            connection.password_security_layer("pw", require_tls=False),
            override_peer=[
                ("127.0.0.1", closed_port(), aioxmpp.connector.STARTTLSConnector())
            ],
            max_initial_attempts=1,
        )
        with pytest.raises(OSError):
            async with client.connected(timeout=datetime.timedelta(seconds=10)):
                pass
    discover.assert_awaited_once()


async def test_no_common_sasl_mechanism_ends_the_attempt_too() -> None:
    """The option after the explicit host, reached only when aioxmpp passed
    over a server without a SASL mechanism in common, ends the attempt."""
    settings = _explicit(1234)
    *_, (host, port, last) = connection.build_client(settings).override_peer
    assert (host, port) == ("127.0.0.1", 1234)
    with pytest.raises(errors.NoFallback) as info:
        await last.connect(None, None, "example.org", host, port, 5.0)
    cli_error = errors.connect_error(info.value, settings)
    assert cli_error.code == errors.EXIT_CONNECT
    assert "SASL" in cli_error.message


async def test_stream_closed_on_starttls_is_reported_as_tls() -> None:
    """A server that offers no STARTTLS and closes the stream when asked
    for it (ejabberd may close before its <failure/> is read) gives the TLS
    error with the --allow-plaintext hint, not "cannot connect"."""

    async def serve(reader: Any, writer: Any) -> None:
        await reader.readuntil(b">")  # the XML declaration
        await reader.readuntil(b">")  # the stream header
        writer.write(
            b"<?xml version='1.0'?><stream:stream from='example.org' id='x'"
            b" version='1.0' xmlns='jabber:client'"
            b" xmlns:stream='http://etherx.jabber.org/streams'><stream:features>"
            b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        )
        await reader.readuntil(b"starttls")
        writer.write(b"</stream:stream>")
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    settings = connection.ConnectionSettings(
        aioxmpp.JID.fromstr("a@example.org"), "pw", host="127.0.0.1", port=port,
        timeout=5.0,
    )
    (host, _, connector), *_ = connection.build_client(settings).override_peer
    async with listener:
        with pytest.raises(errors.NoFallbackTLS) as info:
            await asyncio.wait_for(connector.connect(
                asyncio.get_running_loop(),
                connection.password_security_layer("pw", require_tls=True),
                "example.org", host, port, 5.0,
                base_logger=logging.getLogger("test"),
            ), 10)
    cli_error = errors.connect_error(info.value, settings)
    assert cli_error.code == errors.EXIT_CONNECT
    assert "TLS failed" in cli_error.message, cli_error.message
    assert "--allow-plaintext" in cli_error.message


async def test_without_host_aioxmpp_discovers_as_usual() -> None:
    settings = connection.ConnectionSettings(aioxmpp.JID.fromstr("a@example.org"), "pw")
    assert connection.build_client(settings).override_peer == []
    assert settings.address == "the servers of example.org"
