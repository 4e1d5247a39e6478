#!/usr/bin/env bash
# Hit ratio at the same memory: Anvil's engine vs memcached's segmented LRU, one run, one
# trace (issue 13, item 2). Drives bench/cache/hit_ratio (a small driver: memtier is not
# packaged in Debian and anvil-loadgen draws keys uniformly) against an in-process engine
# and a `memcached -t 1 -m MEM` started here in a throw-away network namespace (loopback
# only, so no other memcached on the machine can answer). Two traces: Zipf 0.99, and Zipf
# 0.99 with SCAN of the requests in 1000-key scans of keys read once.
#
#   bench/e2e/hit_ratio.sh                    # as root
#   MEM=16 KEYS=1000000 OPS=6000000 VALUE=100 SCAN=0.2 bench/e2e/hit_ratio.sh
#   ENGINE_ONLY=1 ...                          # skip memcached
# Extra engines (e.g. another build's hit_ratio for a before/after): OTHER=path/to/hit_ratio
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
MEM=${MEM:-16}
KEYS=${KEYS:-1000000}
OPS=${OPS:-6000000}
VALUE=${VALUE:-100}
SCAN=${SCAN:-0.2}
PORT=${PORT:-11211}
DRIVER=$BUILD/bench/cache/hit_ratio
die() { echo "hit_ratio: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespace)"
ninja -C "$BUILD" -j "${JOBS:-2}" bench/cache/hit_ratio >/dev/null || die "building hit_ratio failed"
command -v memcached >/dev/null || die "memcached is not installed (tools/deps.sh)"

NS=anvhr-$$
mc_pid=''
cleanup() {
  if [[ -n $mc_pid ]]; then kill -TERM "$mc_pid" 2>/dev/null || true; wait "$mc_pid" 2>/dev/null || true; fi
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up

start_memcached() {
  ip netns exec "$NS" memcached -t 1 -U 0 -l 127.0.0.1 -p "$PORT" -m "$MEM" -u root &
  mc_pid=$!
  for _ in $(seq 50); do
    ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && return 0
    kill -0 "$mc_pid" 2>/dev/null || die "memcached exited at start-up"
    sleep 0.1
  done
  die "memcached does not accept connections"
}
stop_memcached() { kill -TERM "$mc_pid"; wait "$mc_pid" 2>/dev/null || true; mc_pid=''; }

echo "hit_ratio: $(date -u +%FT%TZ), $(uptime | sed 's/.*load/load/')"
for scan in 0 "$SCAN"; do
  args=(--mem "$MEM" --keys "$KEYS" --ops "$OPS" --value "$VALUE" --scan "$scan")
  if [[ -n ${OTHER:-} ]]; then
    echo "--- other engine: $OTHER"
    "$OTHER" "${args[@]}" | grep 'anvil engine'
  fi
  if [[ -n ${ENGINE_ONLY:-} ]]; then
    "$DRIVER" "${args[@]}"
  else
    start_memcached  # a fresh, empty memcached per trace
    ip netns exec "$NS" "$DRIVER" "${args[@]}" --memcached "127.0.0.1:$PORT"
    stop_memcached
  fi
done
