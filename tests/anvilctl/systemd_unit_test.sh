#!/usr/bin/env bash
# tools/deploy/anvil.service: `systemd-analyze verify` finds nothing to say (it exits 0
# on unknown keys and bad values, so any message fails the test), and the unit keeps
# what docs/deploy.md promises: Type=notify, Restart=on-failure, exactly the four
# capabilities, a StateDirectory. Skipped (exit 77) where systemd-analyze is missing.
#   systemd_unit_test.sh UNIT ANVIL_BINARY
set -uo pipefail
unit=$1 anvil=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed: skipped"
  exit 77
fi
dir=$(mktemp -d /tmp/anvil-unit-XXXXXX)
trap 'rm -rf "$dir"' EXIT
# verify checks that ExecStart= is executable: point it at the binary just built.
sed "s|^ExecStart=/usr/local/bin/anvil |ExecStart=$anvil |" "$unit" > "$dir/anvil.service"
grep -q "^ExecStart=$anvil " "$dir/anvil.service" || { echo "ExecStart= not /usr/local/bin/anvil"; exit 1; }
out=$(systemd-analyze verify --man=no "$dir/anvil.service" 2>&1)
rc=$?
if [[ $rc -ne 0 || -n $out ]]; then
  echo "systemd-analyze verify (rc $rc):"
  echo "$out"
  exit 1
fi
fail=0
want() {
  grep -qx "$1" "$unit" || { echo "missing: $1"; fail=1; }
}
want 'Type=notify'
want 'Restart=on-failure'
want 'StateDirectory=anvil'
want 'NoNewPrivileges=yes'
caps='CAP_NET_RAW CAP_NET_ADMIN CAP_IPC_LOCK CAP_SYS_NICE'
want "CapabilityBoundingSet=$caps"
want "AmbientCapabilities=$caps"
[[ $(grep -c '^CapabilityBoundingSet=' "$unit") -eq 1 ]] || { echo "one CapabilityBoundingSet= only"; fail=1; }
[[ $fail -eq 0 ]] && echo "anvil.service verified"
exit $fail
