#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time on a COPY of the committed seed corpus
# (libFuzzer writes new inputs into its corpus directory).
#   run_fuzz.sh FUZZER CORPUS_DIR [SECONDS]
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=${3:-${FUZZ_SECONDS:-60}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
# -error_exitcode=1: libFuzzer's default (77) means "skipped" to meson.
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -error_exitcode=1 \
  -print_final_stats=1 "$work"
