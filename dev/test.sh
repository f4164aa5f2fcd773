#!/usr/bin/env bash
# Run every check and test on a fresh machine: installs what is needed
# (dev/setup.sh), then Rust format/lint/unit tests, a compile check of the
# fuzz targets and a short fuzzing run of every target (when nightly and
# cargo-fuzz are there), ruff, mypy --strict, the type stubs' agreement
# with the built module, the Sphinx documentation (docs/, warnings as
# errors), pytest (unit tests, then integration tests against throwaway
# Prosody and ejabberd servers on 127.0.0.1), the release wheel and sdist
# built and checked once (dev/build-wheels.sh: auditwheel, a fresh
# virtualenv, a smoke test), and the unit tests again on every other
# Python 3.9-3.13 found, against that wheel.
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
echo "== fuzz targets compile (cargo check: they build on stable, so they cannot rot where cargo-fuzz is missing)"
cargo check -q --manifest-path fuzz/Cargo.toml --bins
echo "== cargo fuzz (dev/fuzz.sh: 6 s per target; skipped without nightly and cargo-fuzz)"
bash dev/fuzz.sh --if-available 6
echo "== ruff"
ruff check .
echo "== mypy --strict (the package; settings in pyproject.toml)"
python -m mypy
echo "== stubtest (python/aioxmpp_avatar/_core.pyi against the built module)"
python -m mypy.stubtest aioxmpp_avatar._core
echo "== docs (Sphinx, warnings are errors; the pages in docs/, the API from the docstrings)"
if python -c "import sphinx" 2>/dev/null; then
    python -m sphinx -W --keep-going -b html docs docs/_build/html
else
    echo "   skipped: Sphinx is not installed (dev/requirements.txt installs it on Python 3.11+)"
fi
echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
echo "== the release wheel and sdist (dev/build-wheels.sh)"
bash dev/build-wheels.sh
echo "== the wheel on the other supported Pythons (dev/test-pythons.sh)"
bash dev/test-pythons.sh dist/*.whl
