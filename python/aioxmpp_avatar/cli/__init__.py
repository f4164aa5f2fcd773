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
(no DNS fallback). The exit codes are listed by ``aioxmpp-avatar --help``
(:data:`.errors.EXIT_CODES`).

The modules: :mod:`.connection` (settings, the client, the session),
:mod:`.commands`, :mod:`.output` (what is printed) and :mod:`.errors` (exit
codes and error messages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import textwrap
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Tuple

from .._core import __version__
from . import commands
from .connection import DEFAULT_PORT, DEFAULT_TIMEOUT, connection_settings
from .errors import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    Interrupted,
)
from .output import note

__all__ = ["build_parser", "configure_logging", "main", "run_async", "run_command"]

PROG = "aioxmpp-avatar"
logger = logging.getLogger(__name__)


# -- argument parsing ------------------------------------------------------------


def _positive(kind: Callable[[str], Any], what: str) -> Callable[[str], Any]:
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


def _exit_codes_text() -> str:
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES.items():
        lines += textwrap.wrap(
            meaning, 79, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    description = (
        "Get, set, disable, wipe and watch XMPP User Avatars (XEP-0084 with"
        " the XEP-0153 vCard fallback). The password comes from"
        " $XMPP_PASSWORD or a prompt."
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(description, 79),
        epilog=_exit_codes_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(
        name: str,
        help_: str,
        run: Callable[[argparse.Namespace, Any], Awaitable[int]],
        check: Optional[Callable[[argparse.Namespace], None]] = None,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common_options(p, suppress=True)
        # `check` runs before the password is asked for or anything connects.
        p.set_defaults(run=run, check=check, stops_on_interrupt=False)
        return p

    p = command(
        "get",
        "fetch, verify and save or summarize the avatar of JID (default: yours)",
        commands.get,
        commands.check_get,
    )
    p.add_argument("target", nargs="?", metavar="JID")
    p.add_argument(
        "-o", "--output", metavar="FILE", help='write the image to FILE ("-": stdout)'
    )

    p = command(
        "set",
        "publish an image file (PNG, JPEG, WebP, GIF) as your avatar: made"
        " square, small and free of metadata unless --as-is",
        commands.set_,
        commands.check_set,
    )
    p.add_argument("file", metavar="FILE")
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--max-size", type=_positive_int, metavar="PIXELS",
        help="largest side of the published PNG (default 192)",
    )
    size.add_argument(
        "--as-is", action="store_true",
        help="publish FILE unchanged (it must be a PNG)",
    )
    p.add_argument(
        "--max-bytes", type=_positive_int, metavar="BYTES",
        help="largest published PNG, shrunk to fit (default 98304; not with"
        " --as-is)",
    )
    p.add_argument(
        "--access-model",
        choices=("open", "presence"),
        default=None,
        help="who may see it: open (everybody) or presence (contacts);"
        " default: unchanged (the server's default for a new node)",
    )

    command(
        "disable", "publish empty avatar metadata (the data stays)", commands.disable
    )
    command(
        "wipe", "disable the avatar and delete its data from the server", commands.wipe
    )

    p = command(
        "watch",
        "print avatar changes as they happen, until Ctrl-C",
        commands.watch,
        commands.check_watch,
    )
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
    p.set_defaults(stops_on_interrupt=True)  # Ctrl-C is how watch ends
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
    (cleanup code runs) and raise :class:`.errors.Interrupted`."""

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

        installed: List[Tuple[int, Any]] = []
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
            for number, previous in installed:
                loop.remove_signal_handler(number)
                # remove_signal_handler() resets to the default action;
                # restore what was there (e.g. a caller's SIGTERM handler).
                if previous is not None:
                    signal.signal(number, previous)

    return asyncio.run(wrapper())


def _dispatch(args: argparse.Namespace) -> int:
    if args.check is not None:
        args.check(args)
    settings = connection_settings(args)
    try:
        return run_async(lambda: args.run(args, settings), args.verbose)
    except Interrupted:
        if not args.stops_on_interrupt:
            raise
        note("stopped")
        return EXIT_OK


def run_command(body: Callable[[], int], *, verbose: int, prog: str = PROG) -> int:
    """Run `body()` and return its exit code; an error ends it with one line
    on stderr (a traceback too with `verbose`) and the error's exit code."""
    try:
        return body()
    except CliError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except (Interrupted, KeyboardInterrupt):
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stderr.close()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - last resort, one line
        if verbose:
            logger.exception("unexpected error")
        print(
            f"{prog}: error: unexpected {type(exc).__name__}: {exc}"
            + ("" if verbose else " (run with --verbose for details)"),
            file=sys.stderr,
            flush=True,
        )
        return EXIT_ERROR


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI with `argv` (default: ``sys.argv[1:]``); return the
    exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    return run_command(lambda: _dispatch(args), verbose=args.verbose)
