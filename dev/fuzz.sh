#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure Rust core (fuzz/, cargo-fuzz and
# libFuzzer): runs every target for SECONDS each (default 60), one after
# the other, and prints per target the executions done and the coverage
# reached. Fails when a target finds a crash (a panic, a broken invariant
# or a sanitizer report); libFuzzer then leaves the input in
# fuzz/artifacts/<target>/, to minimise with `cargo +nightly fuzz tmin`.
#
#   bash dev/fuzz.sh [--if-available] [SECONDS] [TARGET...]
#
# --if-available: exit 0 with a note when the nightly toolchain or
# cargo-fuzz is missing (as on a fresh machine), instead of failing.
# Inputs that once crashed a target live in fuzz/regressions/<target>/ and
# are replayed before the target is fuzzed.
set -euo pipefail
cd "$(dirname "$0")/.."

if_available=0
if [ "${1:-}" = "--if-available" ]; then
    if_available=1
    shift
fi
seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi

missing=""
if ! cargo +nightly --version >/dev/null 2>&1; then
    missing="the nightly toolchain (install it with: rustup toolchain install nightly)"
elif ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    missing="cargo-fuzz (install it with: cargo install cargo-fuzz --locked)"
fi
if [ -n "$missing" ]; then
    if [ "$if_available" = 1 ]; then
        echo "fuzz: skipped, $missing is missing" >&2
        exit 0
    fi
    echo "fuzz: cannot run, $missing is missing" >&2
    exit 1
fi

cd fuzz
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# One build job: the machine has 2 cores. fuzz/.cargo/config.toml (read
# because cargo runs in fuzz/) builds PyO3 as for an extension module, so
# nothing links libpython; see there why.
export CARGO_BUILD_JOBS=1
echo "== fuzz: building ${#targets[@]} targets"
build=()
[ $# -gt 0 ] || build=("")
[ $# -eq 0 ] || build=("${targets[@]}")
for target in "${build[@]}"; do
    if ! cargo +nightly fuzz build ${target:+"$target"} >"$log_dir/build.log" 2>&1; then
        tail -n 60 "$log_dir/build.log"
        echo "fuzz: the build failed" >&2
        exit 1
    fi
done

# The panic and its message (or the sanitizer's report), and where
# libFuzzer wrote the input.
report() {
    { grep -E -A3 'panicked at|ERROR: AddressSanitizer' "$1" || tail -n 40 "$1"; } | head -n 20
    grep -E 'Test unit written' "$1" || true
}

failed=()
printf '%-12s %12s %8s %6s  %s\n' target executions cov secs result
for target in "${targets[@]}"; do
    log="$log_dir/$target.log"
    regressions="regressions/$target"
    if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
        # Replay the saved crashers: each must pass now.
        if ! cargo +nightly fuzz run "$target" "$regressions"/* -- -runs=1 >"$log" 2>&1; then
            printf '%-12s %12s %8s %6s  %s\n' "$target" - - - "FAILS on $regressions"
            report "$log"
            failed+=("$target")
            continue
        fi
    fi
    start=$(date +%s)
    status=0
    # -max_len: the op-sequence targets need a few KiB; -timeout: one input
    # must not take a second; -rss_limit_mb: ASan's quarantine included.
    cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
    if [ "$status" = 0 ]; then
        result=ok
    else
        result="CRASH (exit $status)"
        failed+=("$target")
    fi
    printf '%-12s %12s %8s %6s  %s\n' "$target" "${execs:--}" "${cov:--}" "$secs" "$result"
    if [ "$status" != 0 ]; then
        report "$log"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]} (crashing inputs are under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
