#!/usr/bin/env bash
# Build what is released into dist/ (emptied first): one stripped abi3
# wheel for manylinux2014 (glibc 2.17, built with zig from the `ziglang`
# package, no Docker) and the sdist, then check them: auditwheel must find
# the wheel manylinux2014-compatible, the extension must carry no symbol
# table, the sdist must hold everything a build from it needs, and the
# wheel, installed into a fresh virtualenv with its dependencies from PyPI,
# must import, run `aioxmpp-avatar --help` and pass dev/wheel-smoke.py.
# Needs the tools of dev/requirements.txt (dev/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
    . .venv/bin/activate
fi

rm -rf dist
echo "== maturin build --zig --compatibility manylinux2014 (wheel)"
maturin build --release --zig --compatibility manylinux2014 -q -o dist
echo "== maturin sdist"
maturin sdist -o dist >/dev/null

wheels=(dist/*.whl) sdists=(dist/*.tar.gz)
[ ${#wheels[@]} = 1 ] && [ ${#sdists[@]} = 1 ] || {
    echo "expected one wheel and one sdist in dist/: ${wheels[*]} ${sdists[*]}" >&2
    exit 1
}
wheel=${wheels[0]} sdist=${sdists[0]}
case $wheel in
    *-cp39-abi3-*manylinux2014_x86_64*.whl) ;;
    *) echo "not an abi3 manylinux2014 wheel: $wheel" >&2; exit 1 ;;
esac

echo "== auditwheel show"
report=$(auditwheel show "$wheel")
grep -q '"manylinux_2_17_x86_64"' <<<"$report" || {
    echo "$report" >&2
    echo "auditwheel does not find $wheel manylinux2014 (manylinux_2_17) compatible" >&2
    exit 1
}

echo "== the extension is stripped"
python - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = [n for n in wheel.namelist() if n.endswith(".so")]
    assert names == ["aioxmpp_avatar/_core.abi3.so"], names
    data = wheel.read(names[0])
for section in (b".symtab\0", b".debug_info\0"):
    assert section not in data, f"{names[0]} has a {section[:-1].decode()} section"
PY

echo "== the sdist holds what a build needs"
contents=$(tar tzf "$sdist")
for needed in pyproject.toml Cargo.toml Cargo.lock src/lib.rs src/py/ \
              python/aioxmpp_avatar/__init__.py python/aioxmpp_avatar/_core.pyi \
              python/aioxmpp_avatar/py.typed README.md COPYING COPYING.LESSER; do
    grep -q "^[^/]*/$needed" <<<"$contents" || {
        echo "$sdist lacks $needed" >&2
        exit 1
    }
done

echo "== the wheel in a fresh virtualenv (dependencies from PyPI)"
venv=$PWD/target/wheel-smoke
rm -rf "$venv"
python -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
smoke=$PWD/dev/wheel-smoke.py
(
    cd "$venv"  # not the checkout: python/ must not be importable from here
    bin/aioxmpp-avatar --help >/dev/null
    bin/python -m aioxmpp_avatar --help >/dev/null
    bin/python "$smoke"
)
echo "== dist/: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB), $(basename "$sdist")"
