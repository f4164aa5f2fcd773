"""How the command line tool reaches the server: the account and transport
settings (:class:`ConnectionSettings`, from the options and the
environment), the :class:`aioxmpp.Client` built from them
(:func:`build_client`) and :func:`session`, which connects it.

Without ``--host`` the client connects as aioxmpp does by default: the
servers from the domain's DNS SRV records, TLS required, certificates
verified. With ``--host`` only that address is tried, never the servers
from DNS (:class:`ExplicitHostConnector`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import getpass
import ipaddress
import logging
import os
import sys
from typing import Any, AsyncIterator, Callable, Optional, Tuple

import aioxmpp
import aioxmpp.connector
import aioxmpp.errors

from ..service import AvatarService
from .errors import EXIT_USAGE, CliError, NoFallback, NoFallbackTLS, connect_error

DEFAULT_TIMEOUT = 30.0
DEFAULT_PORT = 5222

logger = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class ConnectionSettings:
    """How to reach the server: account, password and transport options."""

    jid: Any  # an aioxmpp.JID
    password: str = dataclasses.field(repr=False)
    host: Optional[str] = None
    port: Optional[int] = None
    allow_plaintext: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def address(self) -> str:
        """Where the client connects, for messages: ``host:port``, or the
        servers of the JID's domain (DNS)."""
        if self.host is None:
            return f"the servers of {self.jid.domain}"
        return f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Whether an explicit host was given and it is this machine."""
        return self.host is not None and is_loopback(self.host)


# -- settings from the command line ---------------------------------------------


def parse_jid(text: str, what: str = "JID") -> Any:
    """`text` as an :class:`aioxmpp.JID`; a :class:`.errors.CliError` (exit
    code 2) naming `what` if it is not a valid JID."""
    try:
        return aioxmpp.JID.fromstr(text.strip())
    except ValueError as exc:
        raise CliError(EXIT_USAGE, f"invalid {what} {text!r}: {exc}") from None


def account_jid(args: argparse.Namespace) -> Any:
    """The account's JID from ``--jid`` or ``$XMPP_JID``; it must have a
    user part."""
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
    host: Optional[str] = args.host
    port: Optional[int] = args.port
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
    """The password from ``$XMPP_PASSWORD``, else asked for on the terminal
    (never an argument: other users can see a process's arguments)."""
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
    """The :class:`ConnectionSettings` of parsed options with the attributes
    ``jid``, ``host``, ``port``, ``allow_plaintext`` and ``timeout`` (as the
    command's and the examples' parsers make them), the password read by
    :func:`read_password`. Raises :class:`.errors.CliError` for a missing or
    invalid JID or password, a bad port, or plaintext to a host that is not
    loopback."""
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


# -- the client -------------------------------------------------------------------


def password_security_layer(password: str, *, require_tls: bool) -> Any:
    """An :class:`aioxmpp.SecurityLayer` that offers `password` once (a retry
    would only repeat the failure and invite rate limits), verifies
    certificates, and requires TLS if `require_tls`: aioxmpp's own
    :func:`aioxmpp.make_security_layer`, with the TLS requirement set."""
    return aioxmpp.make_security_layer(password)._replace(tls_required=require_tls)


# aioxmpp tries a client's `override_peer` options first and, when each of
# them failed with an OSError (or, connected, found no SASL mechanism in
# common), goes on to the servers DNS gives for the JID's domain
# (aioxmpp.node.connect_xmlstream). With --host that must not happen: with
# --allow-plaintext, a failed loopback attempt would go on to a remote server
# without TLS. The two connectors below close that path for one client, with
# no change to aioxmpp: the failures come out as exceptions connect_xmlstream
# does not swallow (errors.NoFallback, errors.NoFallbackTLS), which the
# Client retries, or not, just as it would have the original ones.


class ExplicitHostConnector(aioxmpp.connector.STARTTLSConnector):  # type: ignore[misc]
    """STARTTLS to the host given, whose failures end the attempt instead
    of handing over to DNS discovery."""

    async def connect(
        self,
        loop: Any,
        metadata: Any,
        domain: str,
        host: str,
        port: int,
        negotiation_timeout: float,
        base_logger: Optional[logging.Logger] = None,
    ) -> Any:
        try:
            return await super().connect(
                loop,
                metadata,
                domain,
                host,
                port,
                negotiation_timeout,
                base_logger=base_logger,
            )
        except aioxmpp.errors.TLSFailure as exc:
            raise NoFallbackTLS(exc) from exc
        except ConnectionError as exc:
            # With TLS required aioxmpp asks for STARTTLS even when it is not
            # offered; ejabberd answers <failure/> and closes the stream at
            # once, so aioxmpp may see the close (a bare ConnectionError,
            # unlike refused or reset connections) before the failure.
            if type(exc) is ConnectionError and metadata.tls_required:
                refused = aioxmpp.errors.TLSUnavailable(
                    f"the server closed the stream when asked for STARTTLS ({exc})"
                )
                raise NoFallbackTLS(refused) from exc
            raise NoFallback(_connect_failure(domain, exc)) from exc
        except OSError as exc:
            raise NoFallback(_connect_failure(domain, exc)) from exc


class _NoSASLFallback(aioxmpp.connector.BaseConnector):  # type: ignore[misc]
    """The option after :class:`ExplicitHostConnector`: aioxmpp only gets
    here when that one connected but no SASL mechanism was in common with
    the server (connect_xmlstream passes over that, too)."""

    @property
    def tls_supported(self) -> bool:
        return False

    @property
    def dane_supported(self) -> bool:
        return False

    async def connect(
        self, loop: Any, metadata: Any, domain: str, *args: Any, **kwargs: Any
    ) -> Any:
        raise NoFallback(
            _connect_failure(
                domain,
                aioxmpp.errors.SASLUnavailable(
                    "the server offers no SASL mechanism in common with us"
                ),
            )
        )


def _connect_failure(domain: str, exc: BaseException) -> Any:
    """The error aioxmpp raises when its last connection option failed."""
    return aioxmpp.errors.MultiOSError(
        f"failed to connect to XMPP domain {domain!r}", [exc]
    )


def build_client(settings: ConnectionSettings) -> Any:
    """An unconnected :class:`aioxmpp.Client` for `settings`: one
    connection attempt, the password offered once, TLS required unless
    plaintext is allowed (loopback only), and with a host only that host."""
    if settings.allow_plaintext and not settings.loopback:
        raise CliError(EXIT_USAGE, "plaintext is only allowed to a loopback host")
    override_peer = []
    if settings.host is not None:
        override_peer = [
            (settings.host, settings.port, ExplicitHostConnector()),
            (settings.host, settings.port, _NoSASLFallback()),
        ]
    return aioxmpp.Client(
        settings.jid,
        password_security_layer(
            settings.password, require_tls=not settings.allow_plaintext
        ),
        override_peer=override_peer,
        max_initial_attempts=1,
        negotiation_timeout=datetime.timedelta(seconds=settings.timeout),
    )


@contextlib.asynccontextmanager
async def session(
    settings: ConnectionSettings,
    *,
    available: bool = False,
    configure: Optional[Callable[[Any], None]] = None,
) -> AsyncIterator[Tuple[Any, AvatarService]]:
    """Connect and yield ``(client, avatar_service)``; disconnect on exit.

    With `available`, :class:`aioxmpp.EntityCapsService` is summoned and an
    available presence set before connecting, so that the server sends PEP
    avatar notifications (they need ``+notify`` advertised in caps).
    `configure(client)` runs before connecting (e.g. to connect signals).
    """
    client = build_client(settings)
    if available:
        client.summon(aioxmpp.EntityCapsService)
    avatar: AvatarService = client.summon(AvatarService)
    if available:
        client.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))
    if configure is not None:
        configure(client)
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
