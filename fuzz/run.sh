#!/usr/bin/env bash
# Runs every fuzz target (or those named) for a bounded time each.
#
#   fuzz/run.sh                      # every target, 600 s each
#   FUZZ_SECONDS=60 fuzz/run.sh e164 # one target, one minute
#   FUZZ_JOBS=2 fuzz/run.sh          # two targets at a time
#
# Installs cargo-fuzz if it is missing. The stable toolchain builds the
# instrumented targets with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
# The sanitizer defaults to none: the code under test is safe Rust, and
# without ASan the fuzzer runs several times more inputs in the same time
# (FUZZ_SANITIZER=address to turn it on).
#
# Seeds come from fuzz/regressions/<target>/ (kept in git and replayed by
# `cargo test`); the growing corpus stays in fuzz/corpus/ (ignored). A crash
# is left in fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/
# once fixed, so the normal test suite keeps checking it.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..."
    cargo install --locked cargo-fuzz
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

for t in "${targets[@]}"; do
    cargo fuzz build --release --sanitizer "$sanitizer" "$t"
done

run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t"
    echo "== $t: ${seconds}s"
    local rc=0
    cargo fuzz run --release --sanitizer "$sanitizer" "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"artifacts/$t.log" 2>&1 || rc=$?
    echo "== $t: exit $rc, $(grep -E '^stat::number_of_executed_units' "artifacts/$t.log" || echo '?')"
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
# libFuzzer leaves a file per finding; any one means a failed run.
if ls artifacts/*/crash-* artifacts/*/oom-* artifacts/*/timeout-* 2>/dev/null; then
    exit 1
fi
