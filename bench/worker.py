"""One measurement of one implementation, in a process of its own.

    python bench/worker.py JOB IMPL [--quick] [--env FILE]

JOB is one of :data:`JOBS`, IMPL is ``aioxmpp`` or ``ours``. Prints one
line of JSON on stdout (the last line); everything else goes to stderr.
The Prosody jobs (fanout, login, restart) need ``--env``: the file that
``bench/run.py`` writes after preparing the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import IMPLS  # noqa: E402

#: JID counts of the lookup and memory jobs (RSS growth at 1k JIDs is
#: below what a reading of RSS resolves, so memory starts at 10k).
LOOKUP_SIZES = ("1k", "10k", "100k")
MEMORY_SIZES = ("10k", "100k")
JOBS = (
    "notify:new",
    "notify:repeat",
    *(f"lookup:{size}" for size in LOOKUP_SIZES),
    *(f"memory:{fill}:{size}" for fill in ("notify", "fetch") for size in MEMORY_SIZES),
    "hash",
    "fanout",
    "login",
    "restart",
)
PROSODY_JOBS = ("fanout", "login", "restart")


def run(job: str, impl: str, quick: bool, env: dict | None) -> dict:
    import micro

    if job.startswith("notify:"):
        return micro.notify(impl, job.split(":", 1)[1], quick)
    if job.startswith("lookup:"):
        return micro.lookup(impl, micro.parse_size(job.split(":")[1]), quick)
    if job.startswith("memory:"):
        _, fill, size = job.split(":")
        return micro.memory(impl, fill, micro.parse_size(size), quick)
    if job == "hash":
        return micro.hashing(impl, quick)
    import xmpp

    if env is None:
        raise SystemExit(f"{job} needs --env (written by bench/run.py)")
    return getattr(xmpp, job)(impl, env, quick)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", choices=JOBS)
    parser.add_argument("impl", choices=IMPLS)
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--env", help="Prosody environment JSON (from run.py)")
    args = parser.parse_args(argv)
    env = None
    if args.env:
        with open(args.env, encoding="utf-8") as f:
            env = json.load(f)
    t0 = time.monotonic()
    result = run(args.job, args.impl, args.quick, env)
    modules = sys.modules
    result["_job"] = args.job
    result["_impl"] = args.impl
    result["_process_s"] = time.monotonic() - t0
    # Proof that the aioxmpp runs never loaded our package.
    result["_ours_loaded"] = "aioxmpp_avatar" in modules
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
