#!/usr/bin/env bash
# Install what is needed on a fresh machine (dev/setup.sh) and run the demo
# (examples/demo.py): a throwaway Prosody on 127.0.0.1, one account
# publishes an avatar, another sees the change, fetches and verifies the
# image. Options go to the demo: --out DIR, --timeout SECONDS, -v.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
. .venv/bin/activate
python examples/demo.py "$@"
