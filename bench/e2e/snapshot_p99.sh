#!/usr/bin/env bash
# Serving latency through the real server with and without snapshots running (issue 7,
# "serving p99 latency with and without a snapshot running": goal less than 10% worse).
#
#   BUILD=build-io bench/e2e/snapshot_p99.sh        # as root; results in $OUT (printed)
#   ITEMS=1000000 PAIRS=3 DURATION=5 bench/e2e/snapshot_p99.sh
#
# What it does, all inside one throw-away namespace pair from tools/netns/testnet.sh
# (anvt-<pid>-83-stack [anvil owns the veth, 198.18.0.1] <-> -client [anvil-loadgen]):
#  1. fill: anvil (1 lcore pinned to SERVER_CPU, AF_PACKET, busy-poll, [snapshot] dir =
#     a fresh directory under /tmp, no periodic snapshots, a snapshot at shutdown) gets
#     ITEMS keys of VALUE bytes from anvil-loadgen --prefill-only; SIGTERM then writes
#     the final snapshot (its MB/s is in anvil's log: the real server's snapshot write).
#  2. phases, alternating PAIRS times: "off" then "on". Each phase starts a fresh anvil on
#     the same directory, which restores the newest snapshot before it serves (restore
#     rate through the real binary, from event=restore), then runs the same fixed-
#     concurrency load: CONNS connections x PIPELINE outstanding, GET_RATIO GETs over all
#     ITEMS keys (uniform), every GET hit verified, WARMUP s unrecorded, DURATION s
#     measured. "off": [snapshot] interval_s = 0 (no snapshot runs). "on": interval_s =
#     INTERVAL, i.e. snapshots back to back (the next one starts INTERVAL s after the
#     previous finished); the phase only counts if snapshots completed during it.
#     Restarting per phase (instead of toggling snapshots in one process) puts both
#     phases on the same footing: each serves an engine just restored from the same data.
#  3. table: p50/p99/p99.9 per phase, medians per kind, p99 on/off ratio.
#
# CPUs: the lcore pins itself to SERVER_CPU; the rest of anvil (control thread, the
# snapshot io thread) may run on ANVIL_CPUS (default "SERVER_CPU,CLIENT_CPU": the kernel
# places the io thread; ANVIL_CPUS=0 puts it on the lcore's core, the worst case). The
# load generator is pinned to CLIENT_CPU. On a 2-core VM there is no spare core for the
# io thread: whichever core it lands on, it competes with the lcore or the client.
#
# Cleanup on any exit (error, Ctrl-C included): the processes it started (by PID), its
# namespaces, the snapshot directory. $OUT (logs, per-phase JSON, table) is kept.
# Exit status: 0 every phase ran without load errors, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
ITEMS=${ITEMS:-10000000}
VALUE=${VALUE:-32}
CONNS=${CONNS:-8}
PIPELINE=${PIPELINE:-1}
GET_RATIO=${GET_RATIO:-0.9}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-10}
PAIRS=${PAIRS:-2}
INTERVAL=${INTERVAL:-0.5}
MEMORY_MB=${MEMORY_MB:-3072}
FILL_TIMEOUT=${FILL_TIMEOUT:-300}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ANVIL_CPUS=${ANVIL_CPUS:-$SERVER_CPU,$CLIENT_CPU}
BOOST=${BOOST:-1}
JOBS=${JOBS:-2}
TESTNET=tools/netns/testnet.sh
SERVER_IP=198.18.0.1
TCP_PORT=11211

die() { echo "snapshot_p99: $*" >&2; exit 1; }
say() { echo "snapshot_p99: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"

# --- own session + autogroup at nice -20 (as compare.sh); the outer shell forwards Ctrl-C
if [[ $BOOST == 1 && -z ${ANVIL_E2E_INNER:-} ]]; then
  ANVIL_E2E_INNER=1 setsid -w "$0" "$@" &
  inner=$!
  trap 'kill -TERM "$inner" 2>/dev/null || true; wait "$inner" 2>/dev/null; exit 130' INT TERM
  rc=0
  wait "$inner" || rc=$?
  exit "$rc"
fi
if [[ $BOOST == 1 ]]; then
  echo -20 >/proc/self/autogroup 2>/dev/null || say "could not raise the autogroup priority; results will be noisier"
fi

# --- build ---------------------------------------------------------------------------
[[ -f $BUILD/build.ninja ]] || die "no $BUILD/build.ninja: run 'make build' (or set BUILD=your build dir)"
LOADGEN=$BUILD/tools/loadgen/anvil-loadgen
ANVIL=${ANVIL:-$BUILD/control/anvil}
ninja -C "$BUILD" -j "$JOBS" tools/loadgen/anvil-loadgen control/anvil >/dev/null ||
  die "building anvil-loadgen / anvil in $BUILD failed"
[[ -x $ANVIL ]] || die "$ANVIL is missing"

OUT=${OUT:-$(mktemp -d /tmp/anvil-snap-p99.XXXXXX)}
mkdir -p "$OUT"
SNAPDIR=$(mktemp -d /tmp/anvil-snap-p99-dir.XXXXXX)
NET=anvt-$$-83
av_pid='' lg_pid=''

stop_pid() {  # PID [seconds]: TERM, wait, KILL — only processes this script started
  local pid=$1 t=${2:-10}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  stop_pid "$lg_pid" 2
  stop_pid "$av_pid" 10
  "$TESTNET" destroy "$NET" >/dev/null 2>&1 || true
  if [[ -n $SNAPDIR && -d $SNAPDIR ]]; then rm -rf -- "$SNAPDIR"; fi
}
trap cleanup EXIT
trap 'say "interrupted: tearing down"; exit 130' INT TERM

eval "$("$TESTNET" create "$NET")"  # STACK_NS CLIENT_NS STACK_IF ...

load3() { cut -d' ' -f1-3 /proc/loadavg; }

# start_anvil NAME INTERVAL_S AT_SHUTDOWN: waits for event=started (after the restore).
start_anvil() {
  local name=$1 interval=$2 at_shutdown=$3
  cat >"$OUT/$name.toml" <<CONF
# generated by bench/e2e/snapshot_p99.sh
[network]
port_type = "afpacket"
interface = "$STACK_IF"
ip = "$SERVER_IP"
[lcores]
cores = [$SERVER_CPU]
idle = "busy-poll"
[server]
shutdown_timeout_s = 120
stats_interval_s = 1
[snapshot]
dir = "$SNAPDIR"
interval_s = $interval
keep = 2
at_shutdown = $at_shutdown
CONF
  ip netns exec "$STACK_NS" taskset -c "$ANVIL_CPUS" "$ANVIL" --config "$OUT/$name.toml" \
    -t 1 -p "$TCP_PORT" -m "$MEMORY_MB" >"$OUT/$name.log" 2>&1 &
  av_pid=$!
  # A restore of 10M items takes 10-20 s on the loaded 2-core VM: allow 180 s.
  for _ in $(seq 1800); do
    grep -q 'event=started' "$OUT/$name.log" && return 0
    kill -0 "$av_pid" 2>/dev/null || die "anvil exited at start-up: $(tail -3 "$OUT/$name.log" | tr '\n' ' ')"
    sleep 0.1
  done
  die "anvil did not log event=started within 180 s (see $OUT/$name.log)"
}

loadgen() {  # SECONDS JSON [args...]: anvil-loadgen on CLIENT_CPU in the client namespace,
  local bound=$1 json=$2  # killed after SECONDS
  shift 2
  ip netns exec "$CLIENT_NS" timeout "$bound" taskset -c "$CLIENT_CPU" "$LOADGEN" -s "$SERVER_IP" -p "$TCP_PORT" \
    -k "$ITEMS" -d "$VALUE" -q --json "$json" "$@" &
  lg_pid=$!
  local rc=0
  wait "$lg_pid" || rc=$?
  lg_pid=
  return "$rc"
}

# A completed snapshot in anvil's log (older builds: "snapshot: id=... MB/s=...").
SNAP_DONE='event=snapshot_written|snapshot: id=[0-9]+ items='

kv() {  # FILE EVENT KEY: the value of KEY= on the last line of FILE with EVENT
  grep -- "$2" "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1
}

say "results in $OUT; snapshots in $SNAPDIR; lcore on CPU $SERVER_CPU, anvil's other threads on CPUs $ANVIL_CPUS, load generator on CPU $CLIENT_CPU"
echo "start: $(date -u +%FT%TZ) load $(load3)" >"$OUT/conditions"

# --- 1. fill, final snapshot -----------------------------------------------------------
start_anvil fill 0 true
say "filling $ITEMS items of $VALUE B (load $(load3))"
if ! loadgen "$FILL_TIMEOUT" "$OUT/fill.json" --prefill-only -c 32 -P 32 --connect-timeout 5; then
  die "the fill reported errors: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["first_error"], j["errors"])' "$OUT/fill.json" 2>/dev/null)"
fi
fill_s=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["prefill_s"])' "$OUT/fill.json")
say "filled in ${fill_s} s; stopping anvil for its shutdown snapshot (load $(load3))"
stop_pid "$av_pid" 150
av_pid=
grep -qE 'event=snapshot_final ok=(true|1)' "$OUT/fill.log" ||
  die "the shutdown snapshot failed: $(grep 'snapshot' "$OUT/fill.log" | tail -2 | tr '\n' ' ')"
snapline=$(grep -E "$SNAP_DONE" "$OUT/fill.log" | tail -1 | sed -E 's/.*(event=snapshot_written|snapshot: )//' || true)
say "shutdown snapshot:$snapline"
echo "fill: ${fill_s} s for $ITEMS keys; shutdown snapshot:$snapline" >>"$OUT/conditions"

# --- 2. phases -----------------------------------------------------------------------------
failed=0
phases=()
for ((p = 1; p <= PAIRS; p++)); do phases+=("off-$p" "on-$p"); done
for ph in "${phases[@]}"; do
  kind=${ph%-*}
  interval=0
  [[ $kind == on ]] && interval=$INTERVAL
  start_anvil "$ph" "$interval" false
  restore="$(kv "$OUT/$ph.log" 'event=restore' items_restored) items in $(kv "$OUT/$ph.log" 'event=restore' seconds) s"
  [[ -n $(kv "$OUT/$ph.log" 'event=restore' items_restored) ]] || die "phase $ph: no restore: $(grep -E 'cold_start|restore' "$OUT/$ph.log" | tail -1)"
  before=$(grep -cE "$SNAP_DONE" "$OUT/$ph.log" || true)
  rc=0
  loadgen "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN{printf "%d", w + d + 30}')" "$OUT/$ph.json" -c "$CONNS" -P "$PIPELINE" -r "$GET_RATIO" -w "$WARMUP" -D "$DURATION" \
    --no-prefill --verify || rc=$?
  after=$(grep -cE "$SNAP_DONE" "$OUT/$ph.log" || true)
  stop_pid "$av_pid" 60
  av_pid=
  ((rc == 0)) || failed=1
  snaps=$((after - before))
  echo "$ph load=$(load3 | tr ' ' ',') restore=[$restore] snapshots_during=$snaps" >>"$OUT/conditions"
  say "$ph: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); l=j["latency_us"]["all"]; print("%.0f req/s, p50 %.0f us, p99 %.0f us, errors %d, misses %d" % (j["throughput_rps"], l["p50"], l["p99"], j["errors"]["total"], j.get("get_misses", -1)))' "$OUT/$ph.json" 2>/dev/null || echo "no result"); snapshots completed $snaps; restored $restore; load $(load3)"
  if [[ $kind == on && $snaps -lt 1 ]]; then
    say "$ph: no snapshot completed during the phase: it does not measure 'with snapshots'"
    failed=1
  fi
done
echo "end: $(date -u +%FT%TZ) load $(load3)" >>"$OUT/conditions"

# --- 3. table ------------------------------------------------------------------------------
python3 - "$OUT" "${phases[@]}" <<'PY' | tee "$OUT/table.md"
import json, re, statistics, sys
out, phases = sys.argv[1], sys.argv[2:]
cond = {}
for line in open(f"{out}/conditions"):
    m = re.match(r"(\S+) load=(\S+) restore=\[(.*)\] snapshots_during=(\d+)", line)
    if m:
        cond[m.group(1)] = m.groups()[1:]
rows, p99 = [], {"off": [], "on": []}
print("| phase | snapshots during | req/s | p50 µs | p99 µs | p99.9 µs | errors | restore at start | load avg |")
print("|---|---:|---:|---:|---:|---:|---:|---|---|")
for ph in phases:
    try:
        j = json.load(open(f"{out}/{ph}.json"))
    except Exception:
        print(f"| {ph} | - | no result | | | | | | |")
        continue
    l = j["latency_us"]["all"]
    load, restore, snaps = cond.get(ph, ("?", "?", "?"))
    p99[ph.split("-")[0]].append(l["p99"])
    print(f"| {ph} | {snaps} | {j['throughput_rps']:,.0f} | {l['p50']:.0f} | {l['p99']:.0f} | "
          f"{l['p999']:.0f} | {j['errors']['total']} | {restore} | {load.replace(',', ' ')} |")
if p99["off"] and p99["on"]:
    off, on = statistics.median(p99["off"]), statistics.median(p99["on"])
    print(f"\nmedian p99: without snapshots {off:.0f} µs, with snapshots {on:.0f} µs: "
          f"{100 * (on / off - 1):+.1f}% (goal: < +10%)")
PY
cat "$OUT/conditions" >&2
exit "$failed"
