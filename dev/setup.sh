#!/usr/bin/env bash
# Prepare a fresh Debian machine: Prosody and ejabberd (the integration
# tests run on both; the demo uses Prosody), a virtualenv in .venv with the
# pinned tools, and the package built from this checkout. Safe to run again.
# The tests start their own servers from temp dirs; the system services the
# packages may install are never used.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v prosody >/dev/null || ! command -v prosodyctl >/dev/null; then
    missing+=(prosody)
fi
# ejabberdctl lives in /usr/sbin, which a non-root PATH may lack.
if ! command -v ejabberdctl >/dev/null && [ ! -x /usr/sbin/ejabberdctl ]; then
    missing+=(ejabberd)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
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
