"""What the examples share: the connection options, read exactly as the
``aioxmpp-avatar`` command reads them (:mod:`aioxmpp_avatar.cli.connection`),
and running an example's coroutine with its errors reported as one line and
an exit code (those of ``aioxmpp-avatar --help``).

Options of every example::

    --jid JID          the account (default: $XMPP_JID; password: $XMPP_PASSWORD
                       or asked on the terminal)
    --host HOST        connect to HOST only, never the servers DNS names
    --port PORT        port (default 5222)
    --allow-plaintext  no TLS; only to a loopback --host (a test server)
    --timeout SECONDS  limit of the connection and of each request (default 30)
    -v, --verbose      log what happens
"""

from __future__ import annotations

import argparse
from typing import Awaitable, Callable

from aioxmpp_avatar.cli import configure_logging, run_async, run_command
from aioxmpp_avatar.cli.connection import (
    DEFAULT_TIMEOUT,
    ConnectionSettings,
    connection_settings,
)
from aioxmpp_avatar.cli.errors import EXIT_OK, Interrupted

#: What an example runs once the options are read: its exit code.
Main = Callable[[argparse.Namespace, ConnectionSettings], Awaitable[int]]


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the connection options of every example."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--jid", help="your account (default: $XMPP_JID)")
    result.add_argument("--host", help="connect to HOST only (no DNS)")
    result.add_argument("--port", type=int, help="port to connect to (default 5222)")
    result.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="allow a connection without TLS (only to a loopback --host)",
    )
    result.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"limit of every wait (default {DEFAULT_TIMEOUT:g})",
    )
    result.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens"
    )
    return result


def run(
    prog: str, main: Main, args: argparse.Namespace, *, ctrl_c_ok: bool = False
) -> int:
    """Run ``main(args, settings)`` in a new event loop and return its exit
    code; an error is printed as one line (``prog: error: ...``) and gives
    its exit code. Ctrl-C ends it with 130, or with 0 if `ctrl_c_ok`."""
    configure_logging(args.verbose)

    def body() -> int:
        settings = connection_settings(args)
        try:
            return run_async(lambda: main(args, settings), args.verbose)
        except Interrupted:
            if not ctrl_c_ok:
                raise
            return EXIT_OK

    return run_command(body, verbose=args.verbose, prog=prog)
