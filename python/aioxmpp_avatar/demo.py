"""``aioxmpp-avatar demo``: the package at work against a real server.

Starts a throwaway Prosody on 127.0.0.1 (:class:`._prosody.ProsodyServer`),
registers ``alice`` and ``bob`` with a mutual presence subscription, then:

1. alice publishes a generated PNG; bob gets ``on_metadata_changed``,
   fetches the image, verifies it and writes it to a file;
2. alice changes her avatar (another colour and size); bob sees the change
   and verifies and writes the new image;
3. alice disables her avatar; bob sees the empty metadata;

and prints bob's ``stats()``. Each step is logged with its time in ms. The
server is stopped and its directory removed in all cases (Ctrl-C, failure).
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
from typing import Any, Callable, List, Optional, Sequence, Tuple

from . import cli
from ._png import make_png

#: The avatars alice publishes: (colour name, side in pixels).
AVATARS: Tuple[Tuple[str, int], ...] = (("blue", 64), ("orange", 96))


class StepLog:
    """Prints ``[total ms] (+step ms) message`` lines."""

    def __init__(self, stream=None) -> None:
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
        self.queue: asyncio.Queue = asyncio.Queue()

    def __call__(self, jid: Any, metadata: Sequence[Any]) -> None:
        if jid.bare() == self.jid:
            self.queue.put_nowait(list(metadata))

    async def wait_for(
        self, predicate: Callable[[List[Any]], bool], timeout: float, what: str
    ) -> List[Any]:
        """The first metadata (in order of arrival) for which `predicate`
        holds, within `timeout` seconds."""

        async def scan() -> List[Any]:
            while True:
                metadata = await self.queue.get()
                if predicate(metadata):
                    return metadata

        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise cli.CliError(
                cli.EXIT_TIMEOUT, f"demo: {what} did not happen within {timeout:g} s"
            ) from None


def _settings(server: Any, account: Any, timeout: float) -> cli.ConnectionSettings:
    return cli.ConnectionSettings(
        cli.parse_jid(account.jid),
        account.password,
        host=server.host,
        port=server.port,
        allow_plaintext=True,
        timeout=timeout,
    )


def _ids(metadata: Sequence[Any]) -> List[str]:
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
    log(f"bob: on_metadata_changed: {cli.describe_descriptor(metadata[0])}")
    chosen, why = cli.choose_descriptor(metadata)
    if chosen is None:
        raise cli.CliError(cli.EXIT_NO_AVATAR, f"demo: bob cannot fetch it: {why}")
    data = await cli.guarded(
        chosen.get_image_bytes(), "demo: bob fetching the image", timeout
    )
    digest = hashlib.sha1(data).hexdigest()
    if digest != expected_id or data != published:
        raise cli.CliError(
            cli.EXIT_REFUSED,
            f"demo: the image bob fetched does not match (SHA-1 {digest})",
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
    server: Any, alice: Any, bob: Any, out_dir: str, timeout: float, log: StepLog
) -> None:
    from ._core import AvatarSet
    from ._prosody import mutual_subscribe

    alice_jid = cli.parse_jid(alice.jid)
    waiter = MetadataWaiter(alice_jid)

    def watch_alice(client: Any) -> None:
        from .service import AvatarService

        client.summon(AvatarService).on_metadata_changed.connect(waiter)

    async with (
        cli.session(_settings(server, alice, timeout), available=True) as (
            client_a,
            avatar_a,
        ),
        cli.session(
            _settings(server, bob, timeout), available=True, configure=watch_alice
        ) as (client_b, avatar_b),
    ):
        log(
            "alice and bob connected (EntityCapsService summoned, so PEP events"
            " reach them)"
        )
        await mutual_subscribe(client_a, client_b, timeout=timeout)
        log("alice and bob subscribed to each other's presence")

        for index, (colour, side) in enumerate(AVATARS, 1):
            image = make_png(side, side, colour, text=f"demo {secrets.token_hex(4)}")
            avatar_set = AvatarSet()
            avatar_set.add_avatar_image("image/png", image_bytes=image)
            verb = "publishes" if index == 1 else "changes her avatar to"
            log(
                f"alice {verb} a {side}x{side} {colour} PNG ({len(image)} bytes,"
                f" id {avatar_set.png_id})"
            )
            await cli.guarded(
                avatar_a.publish_avatar_set(avatar_set),
                "demo: alice publishing",
                timeout,
            )
            log("alice: published (data node, then metadata node)")
            await _receive_and_verify(
                log, waiter, avatar_set.png_id, image, out_dir, index, timeout
            )

        log("alice disables her avatar")
        await cli.guarded(avatar_a.disable_avatar(), "demo: alice disabling", timeout)
        await waiter.wait_for(lambda md: not md, timeout, "bob seeing no avatar")
        log("bob: on_metadata_changed: empty metadata (alice has no avatar now)")

        stats = avatar_b.stats()
        log("bob's AvatarService.stats():")
        items = sorted(stats.items()) if isinstance(stats, dict) else [("stats", stats)]
        shown = [f"{k}={v}" for k, v in items if v]
        for start in range(0, len(shown), 4):
            log.info("  ".join(shown[start : start + 4]))
        if not shown:
            log.info("(all counters zero)")


async def _main(
    server: Any, out_dir: Optional[str], timeout: float, log: StepLog
) -> None:
    """Start the server, run the scenario, stop the server (always).

    Runs inside :func:`cli.run_async`, so Ctrl-C and SIGTERM cancel it
    wherever it is and the ``finally`` stops the server. The server's own
    calls block the loop briefly (about 0.1 s); nothing else runs then.
    """
    from ._prosody import ProsodyError

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
        raise cli.CliError(cli.EXIT_ERROR, f"demo: Prosody failed: {first}") from None
    finally:
        server.stop()
    log("stopped Prosody and removed its directory; demo OK: every image verified")


def run(args: argparse.Namespace) -> int:
    """The ``demo`` command; returns the exit code."""
    from ._prosody import ProsodyNotInstalled, ProsodyServer

    timeout = args.timeout
    out_dir: Optional[str] = args.out
    if out_dir is not None:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise cli.CliError(
                cli.EXIT_FILE, f"cannot create {out_dir}: {exc.strerror or exc}"
            ) from None
    log = StepLog()
    try:
        server = ProsodyServer("localhost", startup_timeout=timeout)
    except ProsodyNotInstalled as exc:
        raise cli.CliError(cli.EXIT_NO_PROSODY, f"demo needs Prosody: {exc}") from None
    try:
        cli.run_async(lambda: _main(server, out_dir, timeout, log), args.verbose)
    finally:
        server.stop()  # no-op when _main stopped it; covers early interrupts
    return cli.EXIT_OK
