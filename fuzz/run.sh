#!/usr/bin/env bash
# Fuzzes each target in turn, one process at a time, for a bounded time.
#
#   fuzz/run.sh [SECONDS] [TARGET...]    (default: 30 s for each of the five targets)
#
# Runs on stable: RUSTC_BOOTSTRAP=1 lets cargo fuzz pass its nightly-only flags.
# New inputs go to fuzz/corpus/<target> (not committed); the committed
# fuzz/seeds/<target> and fuzz/regressions/<target> are read as extra corpora.
# A crash leaves its input in fuzz/artifacts/<target> and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
if [ "$#" -eq 0 ]; then
  set -- verify credentials grant authorization application
fi

export RUSTC_BOOTSTRAP=1
# The crate forbids unsafe code, so the fuzzer hunts panics and broken invariants:
# no sanitizer (twice the executions), but overflow checks and debug assertions on.
flags=(--sanitizer none --debug-assertions)
nice -n 10 cargo fuzz build "${flags[@]}"
for target in "$@"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/regressions/$target"
  echo "== fuzz $target for ${seconds} s"
  # -max_len above the verifier's 8 KiB limit, so oversized tokens are reached too.
  nice -n 10 cargo fuzz run "${flags[@]}" "$target" \
    "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/regressions/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1
done
