#!/usr/bin/env bash
# `make bench`: every Google Benchmark binary under build/bench (bench_io included: it
# ignores the --benchmark_* flags but --benchmark_out). Results go to build/bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench-results
mkdir -p "$out"
found=0
while IFS= read -r exe; do
  found=1
  name=$(basename "$exe")
  echo "=== $name"
  "$exe" --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@"
done < <(find build/bench -maxdepth 2 -type f -executable -name 'bench_*' | sort)
[[ $found -eq 1 ]] || echo "make bench: no benchmarks are built yet"
# The end-to-end benchmarks need root (network namespaces) and minutes each: run them
# by hand (bench/README.md has the commands and the last figures).
echo "end to end (as root): bench/e2e/compare.sh, bench/e2e/snapshot_p99.sh"
