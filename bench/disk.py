"""The image directory under a hostile or busy disk: how long the event loop
stalls, and how big the directory grows.

    python bench/disk.py [--images N]

1. Plants a sparse 512 MiB file under the name of the avatar being fetched
   (``max_image_bytes`` 1 MiB) and reports the longest gap between ticks of
   a 1 ms ticker coroutine while ``get_image_bytes()`` runs, and the peak
   RSS growth.
2. Fetches N (default 2,000) distinct 64 KiB images into a directory with
   the default ``image_directory_budget`` and reports the directory's size,
   the longest loop gap during the writes and the time per image.

aioxmpp has no image directory, so there is nothing to compare with; run it
on two commits to compare them. Uses the unit tests' mocked service.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.service_env import ALICE, PNG, Env, data_result, info  # noqa: E402

MIB = 1024 * 1024


class Ticker:
    """Records the longest gap between 1 ms ticks of the event loop."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    async def stop(self) -> float:
        await asyncio.sleep(0.005)
        self._task.cancel()
        return self.longest


async def fetch(env: Env, data: bytes) -> bytes:
    env.notify(ALICE, info(hashlib.sha1(data).hexdigest(), nbytes=len(data)))
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items_by_id.return_value = data_result(data)
    return await descriptor.get_image_bytes()


async def planted_huge_file(directory: Path) -> None:
    with open(directory / f"{hashlib.sha1(PNG).hexdigest()}.img", "wb") as f:
        f.truncate(512 * MIB)
    env = Env()
    env.service.image_directory = directory
    env.service.max_image_bytes = MIB
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ticker = Ticker()
    await asyncio.sleep(0.01)
    assert await fetch(env, PNG) == PNG
    gap = await ticker.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    print(f"planted sparse 512 MiB file: longest loop stall {gap * 1000:.1f} ms, "
          f"peak RSS +{grown / 1024:.1f} MiB")


async def many_images(directory: Path, count: int) -> None:
    env = Env()
    env.service.image_directory = directory
    budget = getattr(env.service, "image_directory_budget", None)  # older commits: none
    ticker = Ticker()
    start = time.perf_counter()
    for n in range(count):
        block = hashlib.sha256(n.to_bytes(8, "big")).digest()
        await fetch(env, block * 2048)  # 64 KiB
    elapsed = time.perf_counter() - start
    gap = await ticker.stop()
    size = sum(p.stat().st_size for p in directory.iterdir())
    shown = "unbounded" if budget is None else f"{budget / MIB:.0f} MiB"
    print(f"{count} distinct 64 KiB images, budget {shown}: directory "
          f"{size / MIB:.1f} MiB in {len(os.listdir(directory))} files; "
          f"{elapsed / count * 1000:.2f} ms per image; "
          f"longest loop stall {gap * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await planted_huge_file(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        await many_images(Path(tmp), args.images)


if __name__ == "__main__":
    asyncio.run(main())
