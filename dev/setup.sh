#!/usr/bin/env bash
# Prepare a fresh Debian machine: Prosody (for the integration tests and the
# demo), a virtualenv in .venv with the pinned tools, and the package built
# from this checkout. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prosody >/dev/null || ! command -v prosodyctl >/dev/null; then
    echo "== installing prosody (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq prosody >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
fi
. .venv/bin/activate
echo "== installing Python tools"
pip install -q --disable-pip-version-check -r dev/requirements.txt
echo "== building the package (release)"
maturin develop --release -q
