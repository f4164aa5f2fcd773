"""One process of a fleet sharing an image directory.

Run by tests/unit/service/test_image_directory.py, often several at once and, through
``unshare --pid --fork``, with the same PID. Usage::

    directory_writer.py DIRECTORY FIRST COUNT SIZE BUDGET

fetches COUNT distinct images of SIZE bytes (numbered from FIRST) through
an AvatarService over mocked dependencies, so each is verified and written
to DIRECTORY, then reads each back through a fresh service from the
directory alone. BUDGET is the disk budget in bytes, or "none". Prints one
JSON line: the service's counters, the images served wrong, the PID.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys

# tests/, for the `support` package this file is part of.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir))

from support.service_env import ALICE, Env, data_result, info  # noqa: E402


def image(n: int, size: int) -> bytes:
    """Distinct, reproducible bytes for image number `n`."""
    block = hashlib.sha256(n.to_bytes(8, "big")).digest()
    return (block * (size // len(block) + 1))[:size]


async def fetch(env: Env, data: bytes) -> bytes:
    env.notify(ALICE, info(hashlib.sha1(data).hexdigest(), nbytes=len(data)))
    (descriptor,) = await env.service.get_avatar_metadata(ALICE)
    env.pubsub.get_items_by_id.return_value = data_result(data)
    return await descriptor.get_image_bytes()


async def main(directory: str, first: int, count: int, size: int, budget: str) -> None:
    images = [image(n, size) for n in range(first, first + count)]
    writer = Env()
    writer.service.image_directory = directory
    if budget != "none":
        writer.service.image_directory_budget = int(budget)
    wrong = sum([await fetch(writer, data) != data for data in images])
    reader = Env()
    reader.service.image_directory = directory
    if budget != "none":
        reader.service.image_directory_budget = int(budget)
    wrong += sum([await fetch(reader, data) != data for data in images])
    stats = {
        name: writer.stats().get(name, 0) + reader.stats().get(name, 0)
        for name in ("disk_errors", "corrupt_files_removed", "image_files_refused",
                     "image_disk_hits", "image_files_written", "image_disk_evictions")
    }
    # Images the reader had to fetch again: evicted under the budget.
    stats["refetched"] = reader.stats()["iq_data"]
    print(json.dumps({"stats": stats, "wrong": wrong, "pid": os.getpid()}))


if __name__ == "__main__":
    d, first, count, size, budget = sys.argv[1:]
    asyncio.run(main(d, int(first), int(count), int(size), budget))
