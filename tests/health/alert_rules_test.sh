#!/bin/sh
# The alert rules (control/alerts/anvil.rules.yml): promtool accepts them, every alert
# has a unit test in anvil.rules.test.yml, and every unit test passes.
# Usage: alert_rules_test.sh RULES TESTS
set -eu
rules=$1
tests=$2
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: install Debian's prometheus package (tools/deps.sh does)" >&2
  exit 77
fi
promtool check rules "$rules"
missing=0
for a in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules"); do
  if ! grep -q "alertname: $a\$" "$tests"; then
    echo "alert $a has no unit test in $tests" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ]
cd "$(dirname "$tests")"
promtool test rules "$(basename "$tests")"
