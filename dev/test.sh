#!/usr/bin/env bash
# Run every check and test on a fresh machine: installs what is needed
# (dev/setup.sh), then Rust format/lint/unit tests, a short fuzzing run
# of every target (when nightly and cargo-fuzz are there), ruff, mypy
# --strict, the type stubs' agreement with the built module, pytest (unit
# tests, then integration tests against a throwaway Prosody on 127.0.0.1),
# and the unit tests again on every other Python 3.9-3.13 found, against
# the built wheel.
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
echo "== cargo fuzz (dev/fuzz.sh: 6 s per target; skipped without nightly and cargo-fuzz)"
bash dev/fuzz.sh --if-available 6
echo "== ruff"
ruff check .
echo "== mypy --strict (the package; settings in pyproject.toml)"
python -m mypy
echo "== stubtest (python/aioxmpp_avatar/_core.pyi against the built module)"
python -m mypy.stubtest aioxmpp_avatar._core
echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
echo "== the wheel on the other supported Pythons (dev/test-pythons.sh)"
rm -rf target/test-wheel
maturin build --release -q -o target/test-wheel
bash dev/test-pythons.sh target/test-wheel/*.whl
