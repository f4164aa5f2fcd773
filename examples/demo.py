"""The package at work against a real server (``bash dev/demo.sh`` runs it)::

    python examples/demo.py [--out DIR] [--timeout SECONDS] [-v]

Starts a throwaway Prosody on 127.0.0.1 (:class:`aioxmpp_avatar.testing.
ProsodyServer`; Prosody must be installed), registers ``alice`` and ``bob``
with a mutual presence subscription, then:

1. alice publishes ``avatars/blue-64.png``; bob gets ``on_metadata_changed``,
   fetches the image, verifies it and writes it to a file in DIR;
2. alice changes her avatar to ``avatars/orange-96.png``; bob sees the
   change and verifies and writes the new image;
3. alice disables her avatar; bob sees the empty metadata;

and prints bob's ``stats()``. Each step is logged with its time in ms. The
server is stopped and its directory removed in all cases (Ctrl-C, failure).

The two images are static files: every run starts with a new server and new
clients, so each run sees two distinct ids, one per step, and nothing from a
previous run. Exit codes: those of ``aioxmpp-avatar`` (its ``--help`` lists
them), and 9 when Prosody is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, TextIO, Tuple

from aioxmpp_avatar import AbstractAvatarDescriptor, AvatarService, AvatarSet
from aioxmpp_avatar.cli import configure_logging, run_async, run_command
from aioxmpp_avatar.cli.connection import (
    DEFAULT_TIMEOUT,
    ConnectionSettings,
    parse_jid,
    session,
)
from aioxmpp_avatar.cli.errors import (
    EXIT_ERROR,
    EXIT_FILE,
    EXIT_NO_AVATAR,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    CliError,
    guarded,
)
from aioxmpp_avatar.cli.output import choose_descriptor, describe_descriptor
from aioxmpp_avatar.testing import (
    Account,
    ProsodyError,
    ProsodyNotInstalled,
    ProsodyServer,
    mutual_subscribe,
)

#: Exit code when Prosody is not installed.
EXIT_NO_PROSODY = 9

#: The avatars alice publishes, in order: (colour name, side in pixels),
#: each the file ``avatars/<colour>-<side>.png`` beside this script.
AVATARS: Tuple[Tuple[str, int], ...] = (("blue", 64), ("orange", 96))
AVATAR_DIR = Path(__file__).resolve().parent / "avatars"

Metadata = List[AbstractAvatarDescriptor]


class StepLog:
    """Prints ``[total ms] (+step ms) message`` lines."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.last = self.start

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        total = (now - self.start) * 1000
        step = (now - self.last) * 1000
        self.last = now
        print(
            f"[{total:7.0f} ms] (+{step:5.0f} ms) {message}",
            file=self.stream or sys.stdout,
            flush=True,
        )

    def info(self, message: str) -> None:
        """An indented line that does not count as a step."""
        print(f"{'':27}{message}", file=self.stream or sys.stdout, flush=True)


class MetadataWaiter:
    """Collects ``on_metadata_changed`` events of one JID for waiting."""

    def __init__(self, jid: Any) -> None:
        self.jid = jid
        self.queue: asyncio.Queue[Metadata] = asyncio.Queue()

    def __call__(self, jid: Any, metadata: Sequence[AbstractAvatarDescriptor]) -> None:
        if jid.bare() == self.jid:
            self.queue.put_nowait(list(metadata))

    async def wait_for(
        self, predicate: Callable[[Metadata], bool], timeout: float, what: str
    ) -> Metadata:
        """The first metadata (in order of arrival) for which `predicate`
        holds, within `timeout` seconds."""

        async def scan() -> Metadata:
            while True:
                metadata = await self.queue.get()
                if predicate(metadata):
                    return metadata

        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise CliError(
                EXIT_TIMEOUT, f"{what} did not happen within {timeout:g} s"
            ) from None


def _settings(
    server: ProsodyServer, account: Account, timeout: float
) -> ConnectionSettings:
    return ConnectionSettings(
        parse_jid(account.jid),
        account.password,
        host=server.host,
        port=server.port,
        allow_plaintext=True,
        timeout=timeout,
    )


def _ids(metadata: Metadata) -> List[str]:
    return [d.normalized_id for d in metadata]


async def _receive_and_verify(
    log: StepLog,
    waiter: MetadataWaiter,
    expected_id: str,
    published: bytes,
    out_dir: str,
    index: int,
    timeout: float,
) -> str:
    """bob waits for `expected_id`, fetches it, verifies it, writes it."""
    metadata = await waiter.wait_for(
        lambda md: expected_id in _ids(md),
        timeout,
        f"bob seeing avatar {expected_id}",
    )
    log(f"bob: on_metadata_changed: {describe_descriptor(metadata[0])}")
    chosen, why = choose_descriptor(metadata)
    if chosen is None:
        raise CliError(EXIT_NO_AVATAR, f"bob cannot fetch it: {why}")
    data = await guarded(chosen.get_image_bytes(), "bob fetching the image", timeout)
    digest = hashlib.sha1(data).hexdigest()
    if digest != expected_id or data != published:
        raise CliError(
            EXIT_REFUSED,
            f"the image bob fetched does not match (SHA-1 {digest})",
        )
    path = os.path.join(out_dir, f"alice-{index}-{expected_id[:8]}.png")
    with open(path, "wb") as f:
        f.write(data)
    log(
        f"bob: fetched {len(data)} bytes, verified (SHA-1 = id, identical to"
        f" what alice published), wrote {path}"
    )
    return path


async def _scenario(
    server: ProsodyServer,
    alice: Account,
    bob: Account,
    out_dir: str,
    timeout: float,
    log: StepLog,
) -> None:
    waiter = MetadataWaiter(parse_jid(alice.jid))

    def watch_alice(client: Any) -> None:
        client.summon(AvatarService).on_metadata_changed.connect(waiter)

    alice_session = session(_settings(server, alice, timeout), available=True)
    bob_session = session(
        _settings(server, bob, timeout), available=True, configure=watch_alice
    )
    async with alice_session as (client_a, avatar_a), bob_session as (
        client_b,
        avatar_b,
    ):
        log(
            "alice and bob connected (EntityCapsService summoned, so PEP events"
            " reach them)"
        )
        await mutual_subscribe(client_a, client_b, timeout=timeout)
        log("alice and bob subscribed to each other's presence")

        for index, (colour, side) in enumerate(AVATARS, 1):
            photo = (AVATAR_DIR / f"{colour}-{side}.png").read_bytes()
            # Any photo would do: from_image makes it a small, clean PNG.
            avatar_set = await asyncio.to_thread(AvatarSet.from_image, photo)
            image, png_id = avatar_set.image_bytes, avatar_set.png_id
            assert image is not None and png_id is not None
            verb = "publishes" if index == 1 else "changes her avatar to"
            log(
                f"alice {verb} her {colour} avatar ({avatar_set.conversion},"
                f" id {png_id})"
            )
            await guarded(
                avatar_a.publish_avatar_set(avatar_set), "alice publishing", timeout
            )
            log("alice: published (data node, then metadata node)")
            await _receive_and_verify(
                log, waiter, png_id, image, out_dir, index, timeout
            )

        log("alice disables her avatar")
        await guarded(avatar_a.disable_avatar(), "alice disabling", timeout)
        await waiter.wait_for(lambda md: not md, timeout, "bob seeing no avatar")
        log("bob: on_metadata_changed: empty metadata (alice has no avatar now)")

        stats = avatar_b.stats()
        log("bob's AvatarService.stats():")
        shown = [f"{k}={v}" for k, v in sorted(stats.items()) if v]
        for start in range(0, len(shown), 4):
            log.info("  ".join(shown[start : start + 4]))
        if not shown:
            log.info("(all counters zero)")


async def _main(
    server: ProsodyServer, out_dir: Optional[str], timeout: float, log: StepLog
) -> int:
    """Start the server, run the scenario, stop the server (always).

    Runs inside :func:`aioxmpp_avatar.cli.run_async`, so Ctrl-C and SIGTERM
    cancel it wherever it is and the ``finally`` stops the server. The
    server's own calls block the loop briefly (about 0.1 s); nothing else
    runs then.
    """
    try:
        server.start()
        log(
            f"started a throwaway Prosody on {server.host}:{server.port}"
            f" (domain {server.domain}, pid {server.pid})"
        )
        alice, bob = server.register_many(
            [("alice", secrets.token_hex(8)), ("bob", secrets.token_hex(8))]
        )
        log(f"registered {alice.jid} and {bob.jid}")
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix="aioxmpp-avatar-demo-")
        log.info(f"images go to {out_dir}")
        await _scenario(server, alice, bob, out_dir, timeout, log)
    except ProsodyError as exc:
        first = (str(exc).splitlines() or ["unknown reason"])[0]
        raise CliError(EXIT_ERROR, f"Prosody failed: {first}") from None
    finally:
        server.stop()
    log("stopped Prosody and removed its directory; demo OK: every image verified")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """The demo; returns the exit code."""
    timeout: float = args.timeout
    out_dir: Optional[str] = args.out
    if out_dir is not None:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise CliError(
                EXIT_FILE, f"cannot create {out_dir}: {exc.strerror or exc}"
            ) from None
    log = StepLog()
    try:
        server = ProsodyServer("localhost", startup_timeout=timeout)
    except ProsodyNotInstalled as exc:
        raise CliError(EXIT_NO_PROSODY, f"the demo needs Prosody: {exc}") from None
    try:
        return run_async(lambda: _main(server, out_dir, timeout, log), args.verbose)
    finally:
        server.stop()  # no-op when _main stopped it; covers early interrupts


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="demo",
        description="Run a throwaway Prosody on 127.0.0.1 and show two"
        " accounts exchanging avatars.",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the fetched images (default: a new temp directory)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"limit of every wait (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens"
    )
    args = parser.parse_args()
    configure_logging(args.verbose)
    return run_command(lambda: run(args), verbose=args.verbose, prog="demo")


if __name__ == "__main__":
    sys.exit(main())
