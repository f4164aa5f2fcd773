"""The image directory on a hostile, shared disk: planted links, FIFOs,
devices and huge files are never followed or served, disk I/O stays off the
event loop, unsafe directories are refused, a disk budget holds across
processes, and processes with equal PIDs share one directory safely.

Hostile plants run in a child process with an address-space limit and a
time-out, so a store that follows them fails the test instead of hanging or
exhausting the machine."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.service_env import (
    ALICE,
    BOB,
    PNG,
    PNG2,
    PNG2_ID,
    PNG_ID,
    TIMEOUT,
    Env,
    data_result,
    info,
    pubsub_descriptor,
)

TESTS = Path(__file__).resolve().parents[2]
WRITER = TESTS / "support" / "directory_writer.py"
MIB = 1024 * 1024


def _image_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".img"))


def _verified(directory: Path) -> bool:
    """Every image file is a regular file whose bytes hash to its name."""
    return all(
        not p.is_symlink()
        and p.is_file()
        and hashlib.sha1(p.read_bytes()).hexdigest() == p.name[:-4]
        for p in _image_files(directory)
    )


# -- planted files -------------------------------------------------------------

_SCENARIO = """
import asyncio, json, logging, resource, sys
sys.path.insert(0, {tests!r})
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
logging.basicConfig(level=logging.WARNING)
from support.service_env import Env, pubsub_descriptor, data_result, PNG

async def main():
    env = Env()
    env.service.image_directory = {directory!r}
    env.service.max_image_bytes = 1 << 20
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = await descriptor.get_image_bytes()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({{"ok": data == PNG, "rss_growth_kib": grown,
                      "stats": env.stats()}}))

asyncio.run(main())
"""


def _plant_fifo(path: Path, outside: Path) -> None:
    os.mkfifo(path)


def _plant_dev_zero(path: Path, outside: Path) -> None:
    os.symlink("/dev/zero", path)


def _plant_sparse(path: Path, outside: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(512 * MIB)


def _plant_link_to_valid_image(path: Path, outside: Path) -> None:
    # The bytes are right: following the link would serve them.
    outside.write_bytes(PNG)
    os.symlink(outside, path)


@pytest.mark.parametrize(
    "plant, logged",
    [
        (_plant_fifo, "is a FIFO, not a regular file"),
        (_plant_dev_zero, "is a symbolic link: not followed"),
        (_plant_sparse, f"has {512 * MIB} bytes, over the limit"),
        (_plant_link_to_valid_image, "is a symbolic link: not followed"),
    ],
    ids=["fifo", "dev-zero-link", "sparse-512-mib", "link-to-valid-image"],
)
def test_planted_file_is_skipped_reported_and_replaced(tmp_path, plant, logged):
    directory = tmp_path / "images"
    directory.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    final = directory / f"{PNG_ID}.img"
    plant(final, outside)
    script = _SCENARIO.format(tests=str(TESTS), directory=str(directory))
    try:
        run = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the planted file blocked the process")
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["ok"]
    # Not served from the plant: fetched by IQ, without reading it whole.
    assert result["stats"]["iq_data"] == 1
    assert result["stats"]["image_disk_hits"] == 0
    assert result["rss_growth_kib"] < 64 * 1024, result
    assert logged in run.stderr
    # The plant is gone from our name (the link itself, never its target),
    # replaced by the verified image.
    assert not final.is_symlink() and final.is_file()
    assert final.read_bytes() == PNG
    if outside.exists():
        assert outside.read_bytes() == PNG


async def test_link_planted_at_a_temp_name_is_not_written_through(env, tmp_path):
    directory = tmp_path / "images"
    directory.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    # The name a store with predictable temp names would use.
    os.symlink(victim, directory / f"{PNG_ID}.tmp{os.getpid()}")
    env.service.image_directory = directory
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    assert await asyncio.wait_for(descriptor.get_image_bytes(), TIMEOUT) == PNG
    assert victim.read_bytes() == b"precious"
    final = directory / f"{PNG_ID}.img"
    assert not final.is_symlink() and final.read_bytes() == PNG
    assert env.stats()["disk_errors"] == 0


# -- off the event loop --------------------------------------------------------


class _SlowDisk:
    """The service's image directory, with a read that waits until the test
    has seen the event loop serve other work meanwhile."""

    def __init__(self, real) -> None:
        self.real = real
        self.go_on = threading.Event()
        self.threads: list[int] = []

    @property
    def path(self):
        return self.real.path

    def read(self, id_, limit):
        self.threads.append(threading.get_ident())
        if not self.go_on.wait(TIMEOUT):
            raise AssertionError("the event loop was blocked by a disk read")
        return self.real.read(id_, limit)

    def write(self, id_, data):
        self.threads.append(threading.get_ident())
        return self.real.write(id_, data)

    def stats(self):
        return self.real.stats()


async def test_a_slow_disk_never_stalls_notifications_or_lookups(env, tmp_path):
    env.service.image_directory = tmp_path
    disk = env.service._directory = _SlowDisk(env.service._directory)
    descriptor = await pubsub_descriptor(env)
    env.pubsub.get_items_by_id.return_value = data_result(PNG)
    fetch = asyncio.ensure_future(descriptor.get_image_bytes())
    for _ in range(int(TIMEOUT * 100)):
        if disk.threads:
            break
        await asyncio.sleep(0.01)
    # The read is in progress and waits for us: the loop still serves.
    env.notify(BOB, info(PNG2_ID, nbytes=len(PNG2)))
    (other,) = await asyncio.wait_for(env.service.get_avatar_metadata(BOB), TIMEOUT)
    assert other.id_ == PNG2_ID
    disk.go_on.set()
    assert await asyncio.wait_for(fetch, TIMEOUT) == PNG
    assert len(disk.threads) == 2  # the read, then the write of the fetch
    assert threading.get_ident() not in disk.threads


# -- which directories are accepted --------------------------------------------


def test_unsafe_directories_are_refused_with_how_to_fix(env, tmp_path):
    svc = env.service
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    with pytest.raises(ValueError, match=r"writable by other users.*chmod go-w"):
        svc.image_directory = shared
    link = tmp_path / "link"
    link.symlink_to(shared)
    with pytest.raises(ValueError, match="is a symbolic link"):
        svc.image_directory = link
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(ValueError, match="not a directory"):
        svc.image_directory = file
    assert svc.image_directory is None
    shared.chmod(0o1777)  # sticky: others cannot replace our files
    svc.image_directory = shared
    created = tmp_path / "new" / "cache"
    svc.image_directory = created
    assert created.stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 12345, 12345)
        with pytest.raises(ValueError, match=r"owned by uid 12345.*chown"):
            svc.image_directory = foreign


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_directory_budget_must_be_a_byte_count_or_none(env, bad):
    with pytest.raises(ValueError, match="image_directory_budget must be an integer"):
        env.service.image_directory_budget = bad
    env.service.image_directory_budget = None
    assert env.service.image_directory_budget is None


def test_default_directory_budget(env):
    assert env.service.image_directory_budget == 64 * MIB


# -- budget and sharing --------------------------------------------------------


async def test_budget_evicts_what_no_process_used_lately(tmp_path):
    size = len(PNG)
    ours, theirs = Env(), Env()
    for env in (ours, theirs):
        env.service.image_directory = tmp_path
        env.service.image_directory_budget = 2 * size + len(PNG2)
    descriptor = await pubsub_descriptor(ours)
    ours.pubsub.get_items_by_id.return_value = data_result(PNG)
    await descriptor.get_image_bytes()
    descriptor = await pubsub_descriptor(
        ours, BOB, id_=PNG2_ID, nbytes=len(PNG2), width=4, height=5)
    ours.pubsub.get_items_by_id.return_value = data_result(PNG2)
    await descriptor.get_image_bytes()
    os.utime(tmp_path / f"{PNG_ID}.img", (1, 1000))
    os.utime(tmp_path / f"{PNG2_ID}.img", (1, 2000))
    # The other process uses PNG: it becomes the most recently used.
    descriptor = await pubsub_descriptor(theirs)
    assert await descriptor.get_image_bytes() == PNG
    assert theirs.stats()["image_disk_hits"] == 1
    # A new image over the budget evicts PNG2, the least recently used.
    third = PNG + b"\0" * 3
    third_id = hashlib.sha1(third).hexdigest()
    descriptor = await pubsub_descriptor(ours, ALICE, id_=third_id, nbytes=len(third))
    ours.pubsub.get_items_by_id.return_value = data_result(third)
    await descriptor.get_image_bytes()
    names = {p.name for p in _image_files(tmp_path)}
    assert names == {f"{PNG_ID}.img", f"{third_id}.img"}
    assert ours.stats()["image_disk_evictions"] == 1


def _writer(directory: Path, first: int, count: int, size: int, budget, *,
            same_pid=False):
    command = [sys.executable, str(WRITER), str(directory), str(first), str(count),
               str(size), "none" if budget is None else str(budget)]
    if same_pid:
        command = ["unshare", "--pid", "--fork", *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _results(processes) -> list[dict]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    return results


def test_budget_holds_across_processes(tmp_path):
    size, budget = 50_000, 1_000_000
    results = _results([
        _writer(tmp_path, 0, 40, size, budget),
        _writer(tmp_path, 1000, 40, size, budget),
    ])
    used = sum(p.stat().st_size for p in _image_files(tmp_path))
    # Both wrote 2 MB. Each process's last write may land while the other
    # scans (each scan then misses the other's file): one extra file each.
    assert used <= budget + 2 * size, used
    assert sum(r["stats"]["image_disk_evictions"] for r in results) >= 40 - 2
    for r in results:
        stats = r["stats"]
        assert (r["wrong"], stats["disk_errors"], stats["corrupt_files_removed"]) \
            == (0, 0, 0), r
    assert _verified(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(
    subprocess.run(["unshare", "--pid", "--fork", "true"],
                   capture_output=True).returncode != 0 if shutil.which("unshare")
    else True,
    reason="needs `unshare --pid --fork` (util-linux, as root)",
)
def test_processes_with_the_same_pid_share_a_directory(tmp_path):
    # All PID 1 in their own namespaces, writing the same images at once.
    results = _results([
        _writer(tmp_path, 0, 200, 40_000, None, same_pid=True) for _ in range(3)
    ])
    assert [r["pid"] for r in results] == [1, 1, 1]
    for r in results:
        stats = r["stats"]
        assert (r["wrong"], stats["disk_errors"], stats["corrupt_files_removed"],
                stats["refetched"]) == (0, 0, 0, 0), r
    assert len(_image_files(tmp_path)) == 200
    assert _verified(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
