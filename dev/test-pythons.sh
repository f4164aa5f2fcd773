#!/usr/bin/env bash
# Run the no-server test suite (pytest -m "not integration", without
# collecting tests/integration/, whose slixmpp needs Python 3.11) on every
# other supported CPython (3.9, 3.10, 3.12, 3.13; 3.11 is the main run of
# dev/test.sh) that this machine has, each in its own virtualenv under
# .venv-pythons/, against the abi3 wheel WHEEL installed there. Says which
# Pythons were found and which were not; fails if a found one fails.
#
#   bash dev/test-pythons.sh WHEEL
#
# Pythons are looked for in pyenv ($PYENV_ROOT/versions/3.X.*) and as
# python3.X on PATH. On 3.13 aioxmpp 0.13 does not install as it is: it
# pins lxml~=4.0, which has no wheel for 3.13 and does not build there, so
# aioxmpp is installed without its dependencies, next to lxml 5+ and the
# rest of what it needs (see README, "Python versions").
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(realpath "$1")

find_python() {
    local version=$1 candidate
    for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python 2>/dev/null | sort -V -r) \
                     "$(command -v "python$version" || true)"; do
        if [ -x "$candidate" ] && "$candidate" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$version'" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# What aioxmpp 0.13.3 needs, with lxml's pin lifted (for Python 3.13+).
AIOXMPP_DEPENDENCIES=(
    "lxml>=5,<7" "aiosasl>=0.3" "aioopenssl>=0.1" "babel~=2.3" "dnspython>=1.0,<3.0"
    "multidict>=2.0,<7" "sortedcollections~=2.1" pyOpenSSL pyasn1 pyasn1_modules
    "tzlocal>=1.2" "pytz>=2023.3"
)

found=() missing=() failed=()
for version in 3.9 3.10 3.12 3.13; do
    if ! python=$(find_python "$version"); then
        missing+=("$version")
        continue
    fi
    found+=("$version")
    venv=.venv-pythons/$version
    echo "== Python $version ($python): installing the wheel and the test tools into $venv"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
    if [ "$version" = 3.13 ]; then
        "${pip[@]}" "${AIOXMPP_DEPENDENCIES[@]}"
        "${pip[@]}" --no-deps "aioxmpp==0.13.3"
        "${pip[@]}" --no-deps --force-reinstall "$wheel"
    else
        "${pip[@]}" "$wheel"
        "${pip[@]}" --no-deps --force-reinstall "$wheel"
    fi
    "${pip[@]}" -r dev/requirements-tests.txt
    echo "== Python $version: pytest -m 'not integration'"
    if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not integration" \
            --ignore=tests/integration; then
        failed+=("$version")
    fi
done

echo "== other Pythons: tested ${found[*]:-none}; not found on this machine: ${missing[*]:-none}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed on Python ${failed[*]}" >&2
    exit 1
fi
