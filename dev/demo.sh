#!/usr/bin/env bash
# Install what is needed on a fresh machine (dev/setup.sh) and run the demo:
# a throwaway Prosody on 127.0.0.1, one account publishes an avatar, another
# sees the change, fetches and verifies the image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
. .venv/bin/activate
aioxmpp-avatar demo "$@"
