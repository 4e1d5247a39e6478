#!/usr/bin/env bash
# `make run` builds only what it starts (the server and its io helper), not every test
# and benchmark: on a fresh 2-core machine a full build is minutes before the banner.
# Reads `make -n run` (prints the recipe, runs nothing) and checks every ninja line
# names its targets, and that those are exactly anvil and anvil-iod.
set -euo pipefail
root=${ANVIL_SOURCE_ROOT:?}
recipe=$(make -s -n -C "$root" run JOBS=2 2>&1)
ninja_lines=$(grep -E '(^|[;& ])ninja ' <<<"$recipe" || true)
if [[ -z $ninja_lines ]]; then
  echo "FAIL: make -n run shows no ninja command:"; echo "$recipe"; exit 1
fi
while read -r line; do
  targets=$(sed -E 's/.*ninja +-C +[^ ]+( +-j +[^ ]+)?//' <<<"$line" | xargs -n1 | sort | xargs)
  if [[ $targets != "control/anvil io/anvil-iod" ]]; then
    echo "FAIL: make run builds '${targets:-everything}': $line"; exit 1
  fi
done <<<"$ninja_lines"
grep -q 'dev-run.sh' <<<"$recipe" || { echo "FAIL: make run does not start tools/dev-run.sh"; exit 1; }
echo "ok: make run builds control/anvil io/anvil-iod only"
