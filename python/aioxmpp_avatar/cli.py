"""Command-line tool for User Avatars (XEP-0084, with the XEP-0153 vCard
fallback), built on :class:`aioxmpp_avatar.AvatarService`.

Usage (``aioxmpp-avatar`` or ``python -m aioxmpp_avatar``)::

    aioxmpp-avatar [options] get [JID] [-o FILE]
        Show the avatar of JID (default: your own account), choose the best
        version that can be fetched (a PNG over XMPP first, then the largest),
        fetch it, verify it against its SHA-1 id, and write it to FILE
        ("-": standard output) or print a summary.
    aioxmpp-avatar [options] set FILE [--access-model open|presence]
        Publish the PNG image FILE as your avatar ("open": visible to
        everybody, e.g. MUC members who are not contacts; "presence":
        contacts only; default: leave the node's setting as it is, which
        for a new node is the server's default, "presence" on Prosody).
    aioxmpp-avatar [options] disable
        Publish empty metadata: contacts see "no avatar"; the image data
        stays on the server.
    aioxmpp-avatar [options] wipe
        As disable, and delete the image data from the server.
    aioxmpp-avatar [options] watch [JID ...] [--count N] [--duration S]
        Print one line per avatar change (time, JID, ids, types, sizes,
        dimensions) until Ctrl-C. With JIDs, only those are shown and their
        current avatars are fetched first (progress on stderr).
    aioxmpp-avatar demo [--out DIR]
        Start a throwaway Prosody on 127.0.0.1 with two accounts and show
        one publishing, changing and disabling an avatar while the other
        sees each change and fetches and verifies the image.

Options (before or after the command):
    --jid JID          your account (default: $XMPP_JID)
    --host HOST        connect to HOST instead of the servers found via DNS
    --port PORT        port to connect to (default 5222; alone: the JID's
                       domain at PORT)
    --allow-plaintext  allow a connection without TLS; only with a loopback
                       --host (127.0.0.1, ::1, localhost)
    --timeout SECONDS  limit of every wait (connect, each request; default 30)
    -v, --verbose      log what happens (twice: debug), show tracebacks

The password is taken from $XMPP_PASSWORD, otherwise asked for on the
terminal; it is never accepted as an argument. Without --host the connection
is made as aioxmpp does by default: servers from DNS SRV records, TLS
required, certificates verified. With --host, only that address is tried
(no DNS fallback).

Exit codes:
    0    success (also: watch stopped with Ctrl-C, --count or --duration)
    1    unexpected error (a bug; run with --verbose for the traceback)
    2    usage error: bad arguments, no JID, no password,
         --allow-plaintext with a non-loopback host
    3    authentication failed (wrong password or unknown account)
    4    cannot connect: server unreachable, TLS failure, connection
         timeout, connection lost
    5    no avatar (or none that can be fetched over XMPP)
    6    file problem: unreadable or unwritable file, not a PNG image
    7    the server refused a request (e.g. forbidden: not a contact; an
         image too large for the server), or the image failed verification
    8    a request timed out (--timeout)
    9    demo: Prosody is not installed
    130  interrupted (Ctrl-C), except for watch
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import getpass
import hashlib
import ipaddress
import logging
import os
import signal
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CONNECT = 4
EXIT_NO_AVATAR = 5
EXIT_FILE = 6
EXIT_REFUSED = 7
EXIT_TIMEOUT = 8
EXIT_NO_PROSODY = 9
EXIT_INTERRUPTED = 130

DEFAULT_TIMEOUT = 30.0
DEFAULT_PORT = 5222
#: Concurrent metadata requests of ``watch`` when fetching many JIDs.
WATCH_CONCURRENCY = 8

PROG = "aioxmpp-avatar"
logger = logging.getLogger(__name__)


class CliError(Exception):
    """An error reported as one line on stderr with exit code `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while a command was running."""


# -- output ----------------------------------------------------------------


class Output:
    """Where human-readable lines go: stdout normally, stderr when stdout
    carries data (``get -o -``)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream

    def __call__(self, *parts: Any) -> None:
        stream = self.stream or sys.stdout
        print(*parts, file=stream, flush=True)


def note(message: str) -> None:
    """A progress or status line on stderr."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """``label: done/total`` on stderr: updated in place on a terminal,
    otherwise printed about ten times (and at the end)."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.failed = 0
        self._tty = sys.stderr.isatty()
        self._step = max(1, total // 10)

    def advance(self, ok: bool = True) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        last = self.done == self.total
        if self._tty:
            end = "\n" if last else ""
            sys.stderr.write(f"\r{self._text()}{end}")
            sys.stderr.flush()
        elif last or self.done % self._step == 0:
            note(self._text())

    def _text(self) -> str:
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"{self.label}: {self.done}/{self.total}{failed}"


# -- account and connection --------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether `host` names the local machine (``localhost`` or a loopback
    IP address literal)."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConnectionSettings:
    """How to reach the server: account, password and transport options."""

    def __init__(
        self,
        jid: Any,
        password: str,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        allow_plaintext: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.jid = jid
        self.password = password
        self.host = host
        self.port = port
        self.allow_plaintext = allow_plaintext
        self.timeout = timeout

    @property
    def address(self) -> str:
        if self.host is None:
            return f"the servers of {self.jid.domain}"
        return f"{self.host}:{self.port}"


def parse_jid(text: str, what: str = "JID") -> Any:
    import aioxmpp

    try:
        jid = aioxmpp.JID.fromstr(text.strip())
    except ValueError as exc:
        raise CliError(EXIT_USAGE, f"invalid {what} {text!r}: {exc}") from None
    return jid


def account_jid(args: argparse.Namespace) -> Any:
    text = args.jid or os.environ.get("XMPP_JID", "")
    if not text.strip():
        raise CliError(EXIT_USAGE, "no account: pass --jid JID or set XMPP_JID")
    jid = parse_jid(text, "account JID")
    if not jid.localpart:
        raise CliError(
            EXIT_USAGE, f"account JID {text!r} has no user part (user@domain)"
        )
    return jid


def transport_options(
    args: argparse.Namespace, jid: Any
) -> Tuple[Optional[str], Optional[int]]:
    """``(host, port)`` to connect to (``(None, None)``: DNS discovery),
    after checking the plaintext rule."""
    host = args.host
    port = args.port
    if port is not None and not 0 < port < 65536:
        raise CliError(EXIT_USAGE, f"invalid port {port}")
    if host is None and port is not None:
        host = jid.domain
    if host is not None and port is None:
        port = DEFAULT_PORT
    if args.allow_plaintext:
        if host is None:
            raise CliError(
                EXIT_USAGE,
                "--allow-plaintext needs --host with a loopback address"
                " (127.0.0.1, ::1 or localhost)",
            )
        if not is_loopback(host):
            raise CliError(
                EXIT_USAGE,
                f"refusing --allow-plaintext to non-loopback host {host!r}:"
                " a connection without TLS is only allowed to this machine",
            )
    return host, port


def read_password(jid: Any) -> str:
    password = os.environ.get("XMPP_PASSWORD")
    if password:
        return password
    stdin = sys.stdin
    if stdin is None or stdin.closed or not stdin.isatty():
        raise CliError(
            EXIT_USAGE,
            "no password: set XMPP_PASSWORD or run in a terminal to be asked",
        )
    try:
        password = getpass.getpass(f"Password for {jid}: ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        raise CliError(EXIT_USAGE, "no password given") from None
    if not password:
        raise CliError(EXIT_USAGE, "no password given")
    return password


def connection_settings(args: argparse.Namespace) -> ConnectionSettings:
    jid = account_jid(args)
    host, port = transport_options(args, jid)
    password = read_password(jid)
    return ConnectionSettings(
        jid,
        password,
        host=host,
        port=port,
        allow_plaintext=args.allow_plaintext,
        timeout=args.timeout,
    )


def build_client(settings: ConnectionSettings) -> Any:
    """An unconnected :class:`aioxmpp.Client` for `settings`: one
    connection attempt, the password offered once, TLS required unless
    plaintext is allowed (loopback only)."""
    import aioxmpp
    import aioxmpp.connector
    import aioxmpp.security_layer as sl

    password = settings.password

    async def password_provider(_jid: Any, attempt: int) -> Optional[str]:
        # Once only: retrying a wrong password only invites rate limits.
        return password if attempt == 0 else None

    if settings.allow_plaintext and (
        settings.host is None or not is_loopback(settings.host)
    ):
        raise CliError(EXIT_USAGE, "plaintext is only allowed to a loopback host")
    security_layer = sl.SecurityLayer(
        sl.default_ssl_context,
        sl.PKIXCertificateVerifier,
        not settings.allow_plaintext,
        (sl.PasswordSASLProvider(password_provider),),
    )
    override_peer = []
    if settings.host is not None:
        override_peer.append(
            (settings.host, settings.port, aioxmpp.connector.STARTTLSConnector())
        )
    return aioxmpp.Client(
        settings.jid,
        security_layer,
        override_peer=override_peer,
        max_initial_attempts=1,
        negotiation_timeout=datetime.timedelta(seconds=settings.timeout),
    )


@contextlib.contextmanager
def only_given_host(settings: ConnectionSettings):
    """With an explicit host, stop aioxmpp from falling back to DNS
    discovery of the JID's domain when that host fails (aioxmpp tries
    ``override_peer`` first, then the discovered servers — with plaintext
    allowed, a failed loopback connection must not end up at a remote
    server)."""
    if settings.host is None:
        yield
        return
    import aioxmpp.node

    original = aioxmpp.node.discover_connectors

    async def no_discovery(*_args: Any, **_kwargs: Any) -> list:
        return []

    aioxmpp.node.discover_connectors = no_discovery
    try:
        yield
    finally:
        aioxmpp.node.discover_connectors = original


def _first_os_error(exc: BaseException) -> BaseException:
    import aioxmpp.errors

    if isinstance(exc, aioxmpp.errors.MultiOSError) and exc.exceptions:
        return exc.exceptions[0]
    return exc


def connect_error(exc: BaseException, settings: ConnectionSettings) -> CliError:
    """The one-line error for a failed connection attempt."""
    import aiosasl
    import aioxmpp.errors

    jid = settings.jid
    if isinstance(exc, aiosasl.AuthenticationFailure):
        return CliError(
            EXIT_AUTH,
            f"authentication failed for {jid}: wrong password or unknown account",
        )
    if isinstance(exc, (aiosasl.SASLError, aioxmpp.errors.SASLUnavailable)):
        return CliError(EXIT_AUTH, f"cannot authenticate {jid}: {exc}")
    if isinstance(exc, aioxmpp.errors.TLSFailure):
        hint = ""
        if settings.host is not None and is_loopback(settings.host):
            hint = " (add --allow-plaintext for a local test server without TLS)"
        return CliError(
            EXIT_CONNECT, f"TLS failed with {settings.address}: {exc}{hint}"
        )
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return CliError(
            EXIT_CONNECT,
            f"no connection to {settings.address} within {settings.timeout:g} s",
        )
    if isinstance(exc, aioxmpp.errors.StreamError):
        return CliError(EXIT_CONNECT, f"the server closed the stream: {exc}")
    if isinstance(exc, OSError):
        first = _first_os_error(exc)
        errno_ = getattr(first, "errno", None)
        if isinstance(errno_, int) and errno_ > 0:
            reason = os.strerror(errno_)
        else:
            reason = (
                getattr(first, "strerror", None) or str(first) or type(first).__name__
            )
        return CliError(EXIT_CONNECT, f"cannot connect to {settings.address}: {reason}")
    return CliError(EXIT_CONNECT, f"cannot connect to {settings.address}: {exc}")


@contextlib.asynccontextmanager
async def session(
    settings: ConnectionSettings,
    *,
    available: bool = False,
    configure: Optional[Callable[[Any], None]] = None,
):
    """Connect and yield ``(client, avatar_service)``; disconnect on exit.

    With `available`, :class:`aioxmpp.EntityCapsService` is summoned and an
    available presence set before connecting, so that the server sends PEP
    avatar notifications (they need ``+notify`` advertised in caps).
    `configure(client)` runs before connecting (e.g. to connect signals).
    """
    import aioxmpp

    from .service import AvatarService

    client = build_client(settings)
    if available:
        client.summon(aioxmpp.EntityCapsService)
    avatar = client.summon(AvatarService)
    if available:
        client.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))
    if configure is not None:
        configure(client)
    # The DNS fallback stays off for the whole session: aioxmpp reconnects
    # on its own after a lost connection.
    with only_given_host(settings):
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(
                client.connected(timeout=datetime.timedelta(seconds=settings.timeout))
            )
        except asyncio.CancelledError:
            raise
        except CliError:
            raise
        except Exception as exc:
            logger.debug("connection failed", exc_info=True)
            raise connect_error(exc, settings) from exc
        logger.info("connected as %s", client.local_jid)
        try:
            yield client, avatar
        finally:
            try:
                await asyncio.wait_for(stack.aclose(), settings.timeout)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort
                logger.debug("disconnect did not finish cleanly", exc_info=True)


def request_error(exc: BaseException, doing: str, timeout: float) -> CliError:
    """The one-line error for a failed request (after connecting)."""
    import aioxmpp.errors

    from . import _core

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return CliError(EXIT_TIMEOUT, f"{doing}: no answer within {timeout:g} s")
    if isinstance(exc, aioxmpp.errors.XMPPError):
        condition = exc.condition.value[1] if exc.condition is not None else "error"
        text = f" ({exc.text})" if getattr(exc, "text", None) else ""
        hint = ""
        if condition == "forbidden":
            hint = "; the avatar may be visible to contacts only"
        return CliError(
            EXIT_REFUSED, f"{doing}: the server refused: {condition}{text}{hint}"
        )
    if isinstance(exc, aioxmpp.errors.GatherError):
        parts = "; ".join(
            request_error(e, doing, timeout).message for e in exc.exceptions
        )
        return CliError(EXIT_REFUSED, parts or f"{doing}: {exc}")
    if isinstance(exc, _core.IntegrityError):
        return CliError(EXIT_REFUSED, f"{doing}: the image failed verification: {exc}")
    if isinstance(exc, _core.ImageUnavailableError):
        return CliError(EXIT_NO_AVATAR, f"{doing}: {exc}")
    if isinstance(exc, _core.AvatarSetError):
        return CliError(EXIT_FILE, f"{doing}: {exc}")
    if isinstance(exc, aioxmpp.errors.StreamError):
        condition = exc.condition.value[1] if exc.condition is not None else "error"
        text = f" ({exc.text})" if exc.text else ""
        hint = ""
        if "too big" in (exc.text or "") or "too large" in (exc.text or ""):
            hint = "; try a smaller image"
        return CliError(
            EXIT_REFUSED,
            f"{doing}: the server closed the connection: {condition}{text}{hint}",
        )
    if isinstance(exc, ConnectionError):
        return CliError(EXIT_CONNECT, f"{doing}: connection lost: {exc}")
    if isinstance(exc, _core.AvatarError):
        return CliError(EXIT_REFUSED, f"{doing}: {exc}")
    return CliError(EXIT_ERROR, f"{doing}: unexpected {type(exc).__name__}: {exc}")


async def guarded(awaitable: Awaitable[Any], doing: str, timeout: float) -> Any:
    """Await `awaitable` within `timeout` seconds, turning failures into
    :class:`CliError` described as `doing`."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.debug("%s failed", doing, exc_info=True)
        raise request_error(exc, doing, timeout) from exc


# -- descriptors -------------------------------------------------------------


def descriptor_source(descriptor: Any) -> str:
    """``"pep"``, ``"vcard"`` or ``"http"``."""
    from ._core import HttpAvatarDescriptor, VCardAvatarDescriptor

    if isinstance(descriptor, VCardAvatarDescriptor):
        return "vcard"
    if isinstance(descriptor, HttpAvatarDescriptor):
        return "http"
    return "pep"


def describe_descriptor(descriptor: Any) -> str:
    """``<id> <type> <w>x<h> <n> bytes via <source>`` (unknowns left out)."""
    parts = [descriptor.normalized_id, descriptor.mime_type or "unknown type"]
    if descriptor.width and descriptor.height:
        parts.append(f"{descriptor.width}x{descriptor.height}")
    if descriptor.nbytes is not None:
        parts.append(f"{descriptor.nbytes} bytes")
    source = descriptor_source(descriptor)
    parts.append(f"via {source}")
    if source == "http" and descriptor.url:
        parts.append(descriptor.url)
    return " ".join(parts)


def _size_key(descriptor: Any) -> Tuple[int, int]:
    area = (descriptor.width or 0) * (descriptor.height or 0)
    return area, descriptor.nbytes or 0


def choose_descriptor(metadata: Sequence[Any]) -> Tuple[Optional[Any], str]:
    """The descriptor to fetch and why: fetchable over XMPP first, then
    ``image/png``, then the largest (pixels, then bytes). ``(None, why)``
    when none can be fetched over XMPP."""
    if not metadata:
        return None, "no avatar"
    fetchable = [d for d in metadata if d.can_get_image_bytes_via_xmpp]
    if not fetchable:
        return None, (
            f"none of the {len(metadata)} offered version(s) can be fetched"
            " over XMPP (HTTP only)"
        )
    pngs = [d for d in fetchable if (d.mime_type or "").lower() == "image/png"]
    pool = pngs or fetchable
    best = max(pool, key=_size_key)
    if len(metadata) == 1:
        return best, "the only version offered"
    reasons = []
    if len(fetchable) < len(metadata):
        reasons.append("fetchable over XMPP")
    reasons.append("PNG" if pngs else "no PNG fetchable over XMPP")
    if len(pool) > 1:
        same_kind = "PNG versions" if pngs else "versions fetchable over XMPP"
        reasons.append(f"largest of {len(pool)} {same_kind}")
    return best, ", ".join(reasons)


def metadata_line(jid: Any, metadata: Sequence[Any]) -> str:
    """One ``watch`` line: time, JID, ids, types, sizes, dimensions."""
    stamp = time.strftime("%H:%M:%S")
    if not metadata:
        return f"{stamp} {jid} no avatar"
    ids = ",".join(d.normalized_id for d in metadata)
    types = ",".join(d.mime_type or "?" for d in metadata)
    sizes = ",".join("?" if d.nbytes is None else str(d.nbytes) for d in metadata)
    dims = ",".join(
        f"{d.width}x{d.height}" if d.width and d.height else "?" for d in metadata
    )
    via = ",".join(descriptor_source(d) for d in metadata)
    return f"{stamp} {jid} ids={ids} types={types} sizes={sizes} dims={dims} via={via}"


# -- commands ----------------------------------------------------------------


def _check_output_path(path: str) -> None:
    if path == "-":
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(EXIT_FILE, f"cannot write {path}: {parent} is not a directory")
    if os.path.isdir(path):
        raise CliError(EXIT_FILE, f"cannot write {path}: it is a directory")


def _write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise CliError(
            EXIT_FILE, f"cannot write {path}: {exc.strerror or exc}"
        ) from None


async def cmd_get(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    out = Output(sys.stderr if args.output == "-" else None)
    async with session(settings) as (client, avatar):
        target = args.target_jid or client.local_jid.bare()
        metadata = await guarded(
            avatar.get_avatar_metadata(target),
            f"getting the avatar of {target}",
            settings.timeout,
        )
        if not metadata:
            raise CliError(EXIT_NO_AVATAR, f"{target} has no avatar")
        out(f"{target} offers {len(metadata)} avatar version(s):")
        chosen, why = choose_descriptor(metadata)
        for d in metadata:
            mark = "*" if d is chosen else " "
            out(f"  {mark} {describe_descriptor(d)}")
        if chosen is None:
            raise CliError(EXIT_NO_AVATAR, f"{target}: {why}")
        out(f"chosen: {chosen.normalized_id} ({why})")
        data = await guarded(
            chosen.get_image_bytes(),
            f"fetching avatar {chosen.normalized_id} of {target}",
            settings.timeout,
        )
    digest = hashlib.sha1(data).hexdigest()
    if digest != chosen.normalized_id:  # get_image_bytes verifies; belt and braces
        raise CliError(
            EXIT_REFUSED,
            f"avatar of {target}: SHA-1 {digest} does not match id"
            f" {chosen.normalized_id}",
        )
    summary = f"{len(data)} bytes, SHA-1 verified"
    from ._png import PngError, is_png, png_dimensions

    if is_png(data):
        try:
            width, height = png_dimensions(data)
            summary = f"PNG {width}x{height}, {summary}"
        except PngError as exc:
            summary = f"{summary} (PNG header: {exc})"
    if args.output is not None:
        _write_output(args.output, data)
        where = "standard output" if args.output == "-" else args.output
        out(f"wrote {where}: {summary}")
    else:
        out(f"avatar {chosen.normalized_id} of {target}: {summary}")
    return EXIT_OK


def load_png(path: str) -> Tuple[bytes, int, int]:
    """The bytes and size of the PNG file at `path` (checked before any
    connection is made)."""
    from ._png import PngError, is_png, png_dimensions

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CliError(
            EXIT_FILE, f"cannot read {path}: {exc.strerror or exc}"
        ) from None
    if not is_png(data):
        raise CliError(
            EXIT_FILE,
            f"{path} is not a PNG image (it does not start with the PNG"
            " signature); only PNG avatars can be published",
        )
    try:
        width, height = png_dimensions(data)
    except PngError as exc:
        raise CliError(EXIT_FILE, f"{path}: {exc}") from None
    return data, width, height


async def cmd_set(
    args: argparse.Namespace, settings: ConnectionSettings, png: Tuple[bytes, int, int]
) -> int:
    from ._core import AvatarSet, AvatarSetError

    data, width, height = png
    avatar_set = AvatarSet()
    try:
        avatar_set.add_avatar_image(
            "image/png", image_bytes=data, width=width, height=height
        )
    except AvatarSetError as exc:
        raise CliError(EXIT_FILE, f"{args.file}: {exc}") from None
    async with session(settings) as (client, avatar):
        await guarded(
            avatar.publish_avatar_set(avatar_set, access_model=args.access_model),
            "publishing the avatar",
            settings.timeout,
        )
        who = client.local_jid.bare()
    access = args.access_model or "unchanged (server default for a new node)"
    print(
        f"published avatar {avatar_set.png_id} for {who}: PNG {width}x{height},"
        f" {len(data)} bytes, access model {access}",
        flush=True,
    )
    return EXIT_OK


async def cmd_disable(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    async with session(settings) as (client, avatar):
        await guarded(avatar.disable_avatar(), "disabling the avatar", settings.timeout)
        who = client.local_jid.bare()
    print(
        f"avatar disabled for {who} (the image data stays on the server;"
        " `wipe` removes it)",
        flush=True,
    )
    return EXIT_OK


async def cmd_wipe(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    async with session(settings) as (client, avatar):
        await guarded(avatar.wipe_avatar(), "wiping the avatar", settings.timeout)
        who = client.local_jid.bare()
    print(f"avatar wiped for {who} (metadata emptied, image data deleted)", flush=True)
    return EXIT_OK


async def _fetch_current(
    avatar: Any,
    targets: Sequence[Any],
    report: Callable[[Any, Sequence[Any]], None],
    timeout: float,
) -> None:
    """Get the current avatar metadata of `targets` (a few at a time, each
    within `timeout`), reporting each; progress and failures on stderr."""
    progress = Progress("fetching current avatars", len(targets))
    slots = asyncio.Semaphore(WATCH_CONCURRENCY)

    async def fetch(jid: Any) -> None:
        async with slots:
            try:
                metadata = await guarded(
                    avatar.get_avatar_metadata(jid),
                    f"getting the avatar of {jid}",
                    timeout,
                )
            except CliError as exc:
                note(exc.message)
                progress.advance(ok=False)
                return
        report(jid, metadata)
        progress.advance()

    await asyncio.gather(*(fetch(jid) for jid in targets))


async def cmd_watch(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    from .service import AvatarService

    targets: List[Any] = []
    for text in args.jids:
        jid = parse_jid(text).bare()
        if jid not in targets:
            targets.append(jid)
    wanted = set(targets)
    last: Dict[Any, Tuple[str, ...]] = {}
    printed = 0
    enough = asyncio.Event()
    failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def report(jid: Any, metadata: Sequence[Any]) -> None:
        nonlocal printed
        bare = jid.bare() if hasattr(jid, "bare") else jid
        if wanted and bare not in wanted:
            return
        key = tuple(d.normalized_id for d in metadata)
        if last.get(jid) == key:
            return
        last[jid] = key
        print(metadata_line(jid, metadata), flush=True)
        printed += 1
        if args.count is not None and printed >= args.count:
            enough.set()

    def configure(client: Any) -> None:
        # Before connecting: the server sends the contacts' current avatars
        # right after our initial presence.
        client.summon(AvatarService).on_metadata_changed.connect(report)

    async with session(settings, available=True, configure=configure) as (
        client,
        avatar,
    ):
        with contextlib.ExitStack() as stack:

            def on_failure(exc: BaseException) -> None:
                if not failed.done():
                    failed.set_result(exc)

            stack.enter_context(client.on_failure.context_connect(on_failure))
            stack.enter_context(
                client.on_stream_destroyed.context_connect(
                    lambda *_: note("connection lost; reconnecting")
                )
            )
            stack.enter_context(
                client.on_stream_established.context_connect(
                    lambda *_: note("reconnected")
                )
            )
            if targets:
                await _fetch_current(avatar, targets, report, settings.timeout)
            if not targets:
                whom = "all contacts"
            elif len(targets) <= 3:
                whom = ", ".join(str(j) for j in targets)
            else:
                whom = f"{len(targets)} JIDs"
            note(f"watching {whom} for avatar changes; Ctrl-C to stop")
            waiter = asyncio.ensure_future(enough.wait())
            try:
                await asyncio.wait(
                    [waiter, failed],
                    timeout=args.duration,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
        if failed.done():
            raise connect_error(failed.result(), settings)
    return EXIT_OK


# -- argument parsing ------------------------------------------------------------


def _positive(kind: type, what: str) -> Any:
    """An argparse type: `kind` parsed from text, greater than zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


_positive_float = _positive(float, "a number")
_positive_int = _positive(int, "an integer")


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection options")
    group.add_argument(
        "--jid", default=default(None), help="your account (default: $XMPP_JID)"
    )
    group.add_argument(
        "--host",
        default=default(None),
        help="connect to HOST instead of the servers found via DNS",
    )
    group.add_argument(
        "--port",
        type=int,
        default=default(None),
        help=f"port to connect to (default {DEFAULT_PORT})",
    )
    group.add_argument(
        "--allow-plaintext",
        action="store_true",
        default=default(False),
        help="allow a connection without TLS (only to a loopback --host)",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=default(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"limit of every wait (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log what happens (twice: debug) and show tracebacks",
    )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    description = (
        "Get, set, disable, wipe and watch XMPP User Avatars (XEP-0084 with"
        " the XEP-0153 vCard fallback). The password comes from"
        " $XMPP_PASSWORD or a prompt."
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=description,
        epilog="exit codes: 0 ok, 1 unexpected error, 2 usage, 3 authentication,"
        " 4 connection, 5 no avatar, 6 file, 7 refused/verification failed,"
        " 8 timeout, 9 Prosody missing (demo), 130 interrupted",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common_options(p, suppress=True)
        return p

    p = command(
        "get",
        "fetch, verify and save or summarize the avatar of JID (default: yours)",
    )
    p.add_argument("target", nargs="?", metavar="JID")
    p.add_argument(
        "-o", "--output", metavar="FILE", help='write the image to FILE ("-": stdout)'
    )

    p = command("set", "publish a PNG file as your avatar")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--access-model",
        choices=("open", "presence"),
        default=None,
        help="who may see it: open (everybody) or presence (contacts);"
        " default: unchanged (the server's default for a new node)",
    )

    command("disable", "publish empty avatar metadata (the data stays)")
    command("wipe", "disable the avatar and delete its data from the server")

    p = command("watch", "print avatar changes as they happen, until Ctrl-C")
    p.add_argument("jids", nargs="*", metavar="JID", help="only these JIDs")
    p.add_argument(
        "--count", type=_positive_int, help="stop after N lines", metavar="N"
    )
    p.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after SECONDS",
    )

    p = command(
        "demo",
        "run a throwaway Prosody on 127.0.0.1 and show two accounts exchanging avatars",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the fetched images (default: a new temp directory)",
    )
    return parser


# -- running -------------------------------------------------------------------


def configure_logging(verbosity: int) -> None:
    root = logging.getLogger()
    if verbosity <= 0:
        # No handler output at all (aioxmpp logs connection failures as
        # warnings): errors are reported by the CLI itself.
        root.addHandler(logging.NullHandler())
        root.setLevel(logging.CRITICAL + 1)
        return
    logging.basicConfig(
        level=logging.INFO if verbosity == 1 else logging.DEBUG,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_async(factory: Callable[[], Awaitable[int]], verbose: int) -> int:
    """Run `factory()` in a new event loop; SIGINT and SIGTERM cancel it
    (cleanup code runs) and raise :class:`Interrupted`."""

    async def wrapper() -> int:
        loop = asyncio.get_running_loop()
        if verbose <= 0:
            loop.set_exception_handler(lambda _loop, _context: None)
        task = asyncio.current_task()
        caught: List[int] = []

        def on_signal(signum: int) -> None:
            caught.append(signum)
            if task is not None:
                task.cancel()

        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((signum, previous))
        try:
            return await factory()
        except asyncio.CancelledError:
            if caught:
                raise Interrupted() from None
            raise
        finally:
            for signum, previous in installed:
                loop.remove_signal_handler(signum)
                # remove_signal_handler() resets to the default action;
                # restore what was there (the demo's SIGTERM handler).
                if previous is not None:
                    signal.signal(signum, previous)

    return asyncio.run(wrapper())


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "demo":
        from . import demo

        return demo.run(args)

    # Check local inputs before asking for the password or connecting.
    png = None
    if command == "set":
        png = load_png(args.file)
    if command == "get":
        args.target_jid = parse_jid(args.target) if args.target else None
        if args.target_jid is not None and args.target_jid.resource:
            args.target_jid = args.target_jid.bare()
        if args.output is not None:
            _check_output_path(args.output)
    if command == "watch":
        for text in args.jids:
            parse_jid(text)
    settings = connection_settings(args)

    if command == "get":
        return run_async(lambda: cmd_get(args, settings), args.verbose)
    if command == "set":
        assert png is not None
        return run_async(lambda: cmd_set(args, settings, png), args.verbose)
    if command == "disable":
        return run_async(lambda: cmd_disable(args, settings), args.verbose)
    if command == "wipe":
        return run_async(lambda: cmd_wipe(args, settings), args.verbose)
    if command == "watch":
        try:
            return run_async(lambda: cmd_watch(args, settings), args.verbose)
        except Interrupted:
            note("stopped")
            return EXIT_OK
    raise CliError(EXIT_USAGE, f"unknown command {command!r}")  # pragma: no cover


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI with `argv` (default: ``sys.argv[1:]``); return the
    exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return _dispatch(args)
    except CliError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except (Interrupted, KeyboardInterrupt):
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stderr.close()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - last resort, one line
        if args.verbose:
            logger.exception("unexpected error")
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {exc}"
            + ("" if args.verbose else " (run with --verbose for details)"),
            file=sys.stderr,
            flush=True,
        )
        return EXIT_ERROR
