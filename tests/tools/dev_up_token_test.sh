#!/usr/bin/env bash
# `make run` (tools/netns/dev-up.sh) gives the dev appliance an admin token, so the
# mutating anvilctl commands work against it instead of being refused (403):
#   - the first run creates ANVIL_DEV_DIR/admin.token: mode 0600, 64 hex characters;
#     the banner names it with the anvilctl command lines; a token-carrying anvilctl
#     command succeeds (exit 0), one without the token is refused (exit 4);
#   - a second run keeps the same token (made once, never overwritten);
#   - a token file anvil would refuse (mode 0644, empty, a directory) stops dev-up before
#     any network exists, with the reason and the fix.
# Needs root (network namespaces). Args: ANVIL_BINARY ANVILCTL_BINARY.
set -euo pipefail
root=${ANVIL_SOURCE_ROOT:?}
anvil=$1 ctl=$2
tmp=$(mktemp -d /tmp/anvil-devup-test.XXXXXX)
net=anvt-$$-0   # testnet.sh reap removes it if this script dies
dev_pid=
cleanup() {
  if [[ -n $dev_pid ]] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid"; wait "$dev_pid" 2>/dev/null || true
  fi
  "$root/tools/netns/testnet.sh" destroy "$net" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f $tmp/out ]] && { echo "--- dev-up output:"; cat "$tmp/out"; }; exit 1; }

export ANVIL_DEV_NET=$net ANVIL_BIN=$anvil ANVILCTL_BIN=$ctl ANVIL_DEV_SNAPSHOTS=""
export ANVIL_DEV_DIR=$tmp/dev
token=$tmp/dev/admin.token

# Starts dev-up in the background and waits (bounded) for its banner.
start_dev() {
  : >"$tmp/out"
  "$root/tools/netns/dev-up.sh" >"$tmp/out" 2>&1 &
  dev_pid=$!
  for _ in $(seq 300); do
    grep -q 'Admin API' "$tmp/out" && return 0
    kill -0 "$dev_pid" 2>/dev/null || fail "dev-up exited before its banner"
    sleep 0.1
  done
  fail "no banner within 30 s"
}
stop_dev() {
  kill -TERM "$dev_pid"
  local rc=0
  wait "$dev_pid" || rc=$?
  dev_pid=
  grep -q "removed the $net network" "$tmp/out" || fail "dev-up did not clean up (rc $rc)"
}
# dev-up's output follows anvil's log through tail -f: give a line a bounded time to show.
out_has() {
  for _ in $(seq 50); do grep -q -- "$1" "$tmp/out" && return 0; sleep 0.1; done
  return 1
}
ctl_in_ns() { ip netns exec "$net-stack" "$ctl" --timeout 5 "$@"; }

start_dev
[[ -f $token ]] || fail "no token file $token"
[[ $(stat -c %a "$token") == 600 ]] || fail "token mode $(stat -c %a "$token"), want 600"
tok=$(head -n1 "$token")
[[ $tok =~ ^[0-9a-f]{64}$ ]] || fail "token is not 64 hex characters: '$tok'"
grep -q "created the admin token $token" "$tmp/out" || fail "dev-up did not say it made the token"
grep -qF -- "--token-file $token drain" "$tmp/out" || fail "banner does not show anvilctl with the token"
grep -qF -- "$ctl --token-file $token snapshot now" "$tmp/out" || fail "banner does not name anvilctl"
rc=0; ctl_in_ns --token-file "$token" log-level info >"$tmp/ctl" 2>&1 || rc=$?
[[ $rc == 0 ]] || { cat "$tmp/ctl"; fail "anvilctl with the token: exit $rc, want 0"; }
rc=0; ctl_in_ns log-level info >"$tmp/ctl" 2>&1 || rc=$?
[[ $rc == 4 ]] || { cat "$tmp/ctl"; fail "anvilctl without the token: exit $rc, want 4 (refused)"; }
out_has 'event=admin_listening.*auth=bearer' || fail "admin API not started with bearer auth"
out_has "event=log_level level=info previous=info source=admin_api" || fail "the log-level change is not in anvil's log"
stop_dev

start_dev  # the token is kept across runs
[[ $(head -n1 "$token") == "$tok" ]] || fail "second run replaced the token"
grep -q "created the admin token" "$tmp/out" && fail "second run says it created a token"
rc=0; ctl_in_ns --token-file "$token" log-level info >"$tmp/ctl" 2>&1 || rc=$?
[[ $rc == 0 ]] || { cat "$tmp/ctl"; fail "second run, anvilctl with the token: exit $rc"; }
stop_dev

# Token files anvil would refuse: dev-up stops first, names the file and the fix, and
# creates no network.
refused() {  # $1: what the output must say
  local rc=0
  "$root/tools/netns/dev-up.sh" >"$tmp/out" 2>&1 || rc=$?
  [[ $rc != 0 ]] || fail "dev-up accepted a bad token file ($1)"
  grep -qF -- "$1" "$tmp/out" || fail "dev-up did not say '$1'"
  ip netns list | grep -q "^$net-" && fail "dev-up made a network before refusing"
  return 0
}
chmod 644 "$token"
refused "has mode 644; anvil wants 0600 or stricter: chmod 600 $token"
: >"$token"; chmod 600 "$token"
refused "admin token $token is empty"
rm -f "$token"; mkdir "$token"
refused "admin token $token is not a regular file"
echo "ok: make run gives anvil a 0600 admin token that anvilctl can use"
