"""What can go wrong in the command line tool, and how it is reported: the
exit codes (:data:`EXIT_CODES`, the one table ``--help`` prints),
:class:`CliError`, and the one-line messages for a failed connection
(:func:`connect_error`) or request (:func:`request_error`, :func:`guarded`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Awaitable, Dict, Protocol, TypeVar

import aiosasl
import aioxmpp.errors
import dns.resolver

from .._core import (
    AvatarError,
    AvatarSetError,
    ImageUnavailableError,
    IntegrityError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CONNECT = 4
EXIT_NO_AVATAR = 5
EXIT_FILE = 6
EXIT_REFUSED = 7
EXIT_TIMEOUT = 8
EXIT_INTERRUPTED = 130

#: What each exit code means; ``aioxmpp-avatar --help`` prints this table.
EXIT_CODES: Dict[int, str] = {
    EXIT_OK: "success (also: watch stopped with Ctrl-C, --count or --duration)",
    EXIT_ERROR: "unexpected error (a bug; run with --verbose for the traceback)",
    EXIT_USAGE: "usage error: bad arguments, no JID, no password,"
    " --allow-plaintext with a non-loopback host",
    EXIT_AUTH: "authentication failed (wrong password or unknown account)",
    EXIT_CONNECT: "cannot connect: server unreachable, TLS failure, connection"
    " timeout, connection lost",
    EXIT_NO_AVATAR: "no avatar (or none that can be fetched over XMPP)",
    EXIT_FILE: "file problem: unreadable or unwritable file, not a PNG image",
    EXIT_REFUSED: "the server refused a request (e.g. forbidden: not a contact;"
    " an image too large for the server), or the image failed verification",
    EXIT_TIMEOUT: "a request timed out (--timeout)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C), except for watch",
}

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CliError(Exception):
    """An error reported as one line on stderr with exit code `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while a command was running."""


# -- a failed connection --------------------------------------------------------


class NoFallback(dns.resolver.NoNameservers):
    """A connection to the one host given with ``--host`` failed; nothing else
    is tried (see :mod:`.connection`, which raises it).

    It stands in for the OSError aioxmpp would raise: an OSError raised by a
    connector makes :func:`aioxmpp.node.connect_xmlstream` go on to the
    servers DNS names for the JID's domain, this does not. The base class is
    not about DNS: it is the one exception besides OSError that
    :class:`aioxmpp.Client` retries after a lost connection (and gives up on
    after ``max_initial_attempts``), just as it did with the OSError.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))  # type: ignore[no-untyped-call] # dnspython's
        #: What aioxmpp would have raised had there been no DNS fallback.
        self.error = error


class NoFallbackTLS(Exception):
    """TLS failed with the one host given with ``--host`` (see
    :class:`NoFallback`). Not retried by :class:`aioxmpp.Client`, as the
    :class:`aioxmpp.errors.TLSFailure` it carries would not be."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class ConnectTarget(Protocol):
    """What :func:`connect_error` says about the attempt
    (:class:`.connection.ConnectionSettings` has it)."""

    @property
    def jid(self) -> Any: ...  # an aioxmpp.JID

    @property
    def address(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def loopback(self) -> bool:
        """Whether an explicit host was given and it is this machine."""
        ...


def _first_os_error(exc: BaseException) -> BaseException:
    if isinstance(exc, aioxmpp.errors.MultiOSError) and exc.exceptions:
        first: BaseException = exc.exceptions[0]
        return first
    return exc


def connect_error(exc: BaseException, target: ConnectTarget) -> CliError:
    """The one-line error for a failed connection attempt."""
    if isinstance(exc, (NoFallback, NoFallbackTLS)):
        exc = exc.error
    jid = target.jid
    if isinstance(exc, aiosasl.AuthenticationFailure):
        return CliError(
            EXIT_AUTH,
            f"authentication failed for {jid}: wrong password or unknown account",
        )
    if isinstance(exc, (aiosasl.SASLError, aioxmpp.errors.SASLUnavailable)):
        return CliError(EXIT_AUTH, f"cannot authenticate {jid}: {exc}")
    if isinstance(exc, aioxmpp.errors.TLSFailure):
        hint = ""
        if target.loopback:
            hint = " (add --allow-plaintext for a local test server without TLS)"
        return CliError(EXIT_CONNECT, f"TLS failed with {target.address}: {exc}{hint}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return CliError(
            EXIT_CONNECT,
            f"no connection to {target.address} within {target.timeout:g} s",
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
        return CliError(EXIT_CONNECT, f"cannot connect to {target.address}: {reason}")
    return CliError(EXIT_CONNECT, f"cannot connect to {target.address}: {exc}")


# -- a failed request -----------------------------------------------------------


def _condition(exc: Any) -> str:
    """The condition name of an aioxmpp XMPP or stream error."""
    condition = exc.condition
    return "error" if condition is None else str(condition.value[1])


def request_error(exc: BaseException, doing: str, timeout: float) -> CliError:
    """The one-line error for a failed request (after connecting)."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return CliError(EXIT_TIMEOUT, f"{doing}: no answer within {timeout:g} s")
    if isinstance(exc, aioxmpp.errors.XMPPError):
        condition = _condition(exc)
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
    if isinstance(exc, IntegrityError):
        return CliError(EXIT_REFUSED, f"{doing}: the image failed verification: {exc}")
    if isinstance(exc, ImageUnavailableError):
        return CliError(EXIT_NO_AVATAR, f"{doing}: {exc}")
    if isinstance(exc, AvatarSetError):
        return CliError(EXIT_FILE, f"{doing}: {exc}")
    if isinstance(exc, aioxmpp.errors.StreamError):
        condition = _condition(exc)
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
    if isinstance(exc, AvatarError):
        return CliError(EXIT_REFUSED, f"{doing}: {exc}")
    return CliError(EXIT_ERROR, f"{doing}: unexpected {type(exc).__name__}: {exc}")


async def guarded(awaitable: Awaitable[T], doing: str, timeout: float) -> T:
    """Await `awaitable` within `timeout` seconds, turning failures into
    :class:`CliError` described as `doing`."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.debug("%s failed", doing, exc_info=True)
        raise request_error(exc, doing, timeout) from exc
