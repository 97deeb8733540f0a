#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, one after another (one process, one core each):
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# it pass libFuzzer's nightly flags. Inputs that grow coverage collect in fuzz/corpus/TARGET
# (not committed; the small hand-written seeds are in fuzz/seeds/TARGET), crashes in
# fuzz/artifacts/TARGET, and each run's output in fuzz/logs/TARGET.log. Every input has at most
# RSS_MB megabytes and TIMEOUT seconds (a slower input is reported as a hang). Prints the
# executions per target; exits non-zero when any target found a crash, hang or leak of memory.
set -uo pipefail

seconds=${1:-60}
shift || true
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ids import avatar native_api)
fi
rss_mb=${RSS_MB:-2048}
timeout_s=${TIMEOUT:-10}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

status=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target" logs
    log="logs/$target.log"
    echo "== $target: ${seconds}s"
    cargo fuzz run --sanitizer none --fuzz-dir . "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1
    code=$?
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(ls "corpus/$target" | wc -l)
    if [ $code -ne 0 ]; then
        status=1
        echo "!! $target failed (exit $code); see $log and artifacts/$target/"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5
    fi
    summary+=("$target: ${runs:-?} executions in ${seconds}s, corpus $corpus inputs, exit $code")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
