"""The commands of the command line tool: ``get``, ``set``, ``disable``,
``wipe`` and ``watch``.

Each command is an ``async`` function that does the work over a
:func:`.connection.session` and returns the exit code, and, where there are
local inputs, a ``check_*`` function that checks them (and stores what it
read on `args`) before the password is asked for or anything connects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any, Awaitable, Callable, Dict, List, Sequence, Tuple

from .._core import AbstractAvatarDescriptor, AvatarSet, AvatarSetError, png_dimensions
from ..service import AvatarService
from .connection import ConnectionSettings, parse_jid, session
from .errors import (
    EXIT_FILE,
    EXIT_NO_AVATAR,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    connect_error,
    guarded,
)
from .output import (
    Output,
    Progress,
    choose_descriptor,
    describe_descriptor,
    metadata_line,
    note,
)

#: Concurrent metadata requests of ``watch`` when fetching many JIDs.
WATCH_CONCURRENCY = 8

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Metadata = Sequence[AbstractAvatarDescriptor]


# -- get -------------------------------------------------------------------------


def check_get(args: argparse.Namespace) -> None:
    args.target_jid = parse_jid(args.target) if args.target else None
    if args.target_jid is not None and args.target_jid.resource:
        args.target_jid = args.target_jid.bare()
    if args.output is not None:
        _check_output_path(args.output)


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


def _summary(data: bytes) -> str:
    """Size and, for a PNG, dimensions of fetched (and verified) image data."""
    summary = f"{len(data)} bytes, SHA-1 verified"
    if not data.startswith(PNG_SIGNATURE):
        return summary
    try:
        width, height = png_dimensions(data)
    except ValueError as exc:
        return f"{summary} (PNG header: {exc})"
    return f"PNG {width}x{height}, {summary}"


async def get(args: argparse.Namespace, settings: ConnectionSettings) -> int:
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
        # get_image_bytes() verifies the data against the id and size.
        data = await guarded(
            chosen.get_image_bytes(),
            f"fetching avatar {chosen.normalized_id} of {target}",
            settings.timeout,
        )
    summary = _summary(data)
    if args.output is not None:
        _write_output(args.output, data)
        where = "standard output" if args.output == "-" else args.output
        out(f"wrote {where}: {summary}")
    else:
        out(f"avatar {chosen.normalized_id} of {target}: {summary}")
    return EXIT_OK


# -- set -------------------------------------------------------------------------


def read_file(path: str) -> bytes:
    """The bytes of the file at `path`."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CliError(
            EXIT_FILE, f"cannot read {path}: {exc.strerror or exc}"
        ) from None


def load_png(path: str) -> Tuple[bytes, int, int]:
    """The bytes and size of the PNG file at `path`."""
    data = read_file(path)
    if not data.startswith(PNG_SIGNATURE):
        raise CliError(
            EXIT_FILE,
            f"{path} is not a PNG image (it does not start with the PNG"
            " signature); only PNG avatars can be published",
        )
    try:
        width, height = png_dimensions(data)
    except ValueError as exc:
        raise CliError(EXIT_FILE, f"{path}: {exc}") from None
    return data, width, height


def check_set(args: argparse.Namespace) -> None:
    """Build the avatar set from FILE before connecting: normalised by
    AvatarSet.from_image, or with --as-is the PNG unchanged."""
    if args.as_is:
        if args.max_bytes is not None:
            raise CliError(EXIT_USAGE, "--max-bytes cannot be used with --as-is")
        data, width, height = load_png(args.file)
        avatar_set = AvatarSet()
        try:
            avatar_set.add_avatar_image(
                "image/png", image_bytes=data, width=width, height=height
            )
        except AvatarSetError as exc:
            raise CliError(EXIT_FILE, f"{args.file}: {exc}") from None
        args.what = f"PNG {width}x{height}, {len(data)} bytes, as is"
    else:
        limits = {name: value for name, value in
                  (("max_size", args.max_size), ("max_bytes", args.max_bytes))
                  if value is not None}
        try:
            avatar_set = AvatarSet.from_image(read_file(args.file), **limits)
        except AvatarSetError as exc:
            raise CliError(EXIT_FILE, f"{args.file}: {exc}") from None
        args.what = str(avatar_set.conversion)
    args.avatar_set = avatar_set


async def set_(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    avatar_set = args.avatar_set
    async with session(settings) as (client, avatar):
        await guarded(
            avatar.publish_avatar_set(avatar_set, access_model=args.access_model),
            "publishing the avatar",
            settings.timeout,
        )
        who = client.local_jid.bare()
    access = args.access_model or "unchanged (server default for a new node)"
    print(
        f"published avatar {avatar_set.png_id} for {who}: {args.what};"
        f" access model {access}",
        flush=True,
    )
    return EXIT_OK


# -- disable and wipe --------------------------------------------------------------


async def _change_own(
    settings: ConnectionSettings,
    change: Callable[[AvatarService], Awaitable[None]],
    doing: str,
    done: str,
) -> int:
    """`change` our avatar, described as `doing`; print `done` (``{who}``:
    our bare JID)."""
    async with session(settings) as (client, avatar):
        await guarded(change(avatar), doing, settings.timeout)
        who = client.local_jid.bare()
    print(done.format(who=who), flush=True)
    return EXIT_OK


async def disable(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    return await _change_own(
        settings,
        lambda avatar: avatar.disable_avatar(),
        "disabling the avatar",
        "avatar disabled for {who} (the image data stays on the server;"
        " `wipe` removes it)",
    )


async def wipe(args: argparse.Namespace, settings: ConnectionSettings) -> int:
    return await _change_own(
        settings,
        lambda avatar: avatar.wipe_avatar(),
        "wiping the avatar",
        "avatar wiped for {who} (metadata emptied, image data deleted)",
    )


# -- watch -------------------------------------------------------------------------


def check_watch(args: argparse.Namespace) -> None:
    for text in args.jids:
        parse_jid(text)


async def _fetch_current(
    avatar: AvatarService,
    targets: Sequence[Any],
    report: Callable[[Any, Metadata], None],
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


async def watch(args: argparse.Namespace, settings: ConnectionSettings) -> int:
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

    def report(jid: Any, metadata: Metadata) -> None:
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
            ends: List[asyncio.Future[Any]] = [waiter, failed]
            try:
                await asyncio.wait(
                    ends,
                    timeout=args.duration,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
        if failed.done():
            raise connect_error(failed.result(), settings)
    return EXIT_OK
