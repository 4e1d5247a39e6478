#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time on a COPY of its committed seed corpus
# (libFuzzer writes new inputs into its corpus directory; the repo's stays as committed).
#   run_fuzz.sh FUZZER CORPUS_DIR [SECONDS] [DICT]   (an empty SECONDS takes the default)
# A crash, leak, timeout or RSS blow-up exits 1 (libFuzzer's default 77 reads as
# "skipped" to meson); its reproducer is kept in the build's fuzz-artifacts/.
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=${3:-${FUZZ_SECONDS:-60}} dict=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
artifacts="${MESON_BUILD_ROOT:-$PWD}/fuzz-artifacts/$(basename "$fuzzer")/"
mkdir -p "$artifacts"
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -error_exitcode=1 \
  ${dict:+-dict="$dict"} -artifact_prefix="$artifacts" -print_final_stats=1 "$work"
