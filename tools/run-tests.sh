#!/usr/bin/env bash
# Runs every test suite across the three builds and ends with one line CI can read:
#   N passed, N failed, N skipped
#   build/       every suite (unit, integration, fault, e2e, ...), gcc -O2 -g
#   build-asan/  unit and fuzz suites under ASan+UBSan (fuzzers run for a bounded time)
#   build-tsan/  the concurrency suite under TSan
# --quick runs only build/.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
tools/netns/testnet.sh reap || true

run() {
  local dir=$1; shift
  local log
  log=$(mktemp)
  echo "=== meson test -C $dir $*"
  meson test -C "$dir" --no-rebuild --print-errorlogs "$@" 2>&1 | tee "$log"
  local ok fail xfail upass timeout skip
  ok=$(awk '/^Ok:/{print $2}' "$log" | tail -1)
  xfail=$(awk '/^Expected Fail:/{print $3}' "$log" | tail -1)
  fail=$(awk '/^Fail:/{print $2}' "$log" | tail -1)
  upass=$(awk '/^Unexpected Pass:/{print $3}' "$log" | tail -1)
  skip=$(awk '/^Skipped:/{print $2}' "$log" | tail -1)
  timeout=$(awk '/^Timeout:/{print $2}' "$log" | tail -1)
  if [[ -z $ok && -z $fail ]]; then
    if grep -q 'No suitable tests defined' "$log"; then
      echo "(no tests in $dir for $*)"
    else
      echo "meson test in $dir did not finish"; failed=$((failed + 1))
    fi
  fi
  passed=$((passed + ${ok:-0} + ${xfail:-0}))
  failed=$((failed + ${fail:-0} + ${upass:-0} + ${timeout:-0}))
  skipped=$((skipped + ${skip:-0}))
  rm -f "$log"
}

run build
if [[ ${1:-} != --quick ]]; then
  run build-asan --suite unit --suite fuzz
  run build-tsan --suite concurrency
fi
tools/netns/testnet.sh reap || true

echo
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
