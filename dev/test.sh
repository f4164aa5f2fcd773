#!/usr/bin/env bash
# Run every check and test on a fresh machine: installs what is needed
# (dev/setup.sh), then Rust format/lint/unit tests, ruff, the type stubs'
# agreement with the built module, and pytest (unit, parity, CLI
# and integration tests against a throwaway Prosody on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
. .venv/bin/activate

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets -q -- -D warnings
echo "== cargo test"
cargo test -q
echo "== ruff"
ruff check .
echo "== stubtest (python/aioxmpp_avatar/_core.pyi against the built module)"
python -m mypy.stubtest aioxmpp_avatar._core
echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
