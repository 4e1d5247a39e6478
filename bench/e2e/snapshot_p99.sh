#!/usr/bin/env bash
# Serving latency through the real server with and without snapshots running (issue 7,
# "serving p99 latency with and without a snapshot running": goal less than 10% worse).
#
#   BUILD=build-io bench/e2e/snapshot_p99.sh        # as root; results in $OUT (printed)
#   ITEMS=1000000 PAIRS=3 DURATION=5 KINDS="off on" bench/e2e/snapshot_p99.sh
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
#     With KINDS="off on dd" (the default) each round also has a control phase "dd":
#     no snapshot, but `dd oflag=direct conv=fsync` of the snapshot's size written back
#     to back into the same directory from IO_CPU. It separates what writing that many
#     bytes to this disk costs the lcore (on a VM: host CPU time stolen from the vCPUs
#     while virtio I/O runs) from what the snapshot itself (iteration, copies) costs.
#  3. table: p50/p99/p99.9 per phase, medians per kind, p99 ratios against "off".
#
# CPUs: anvil starts on SERVER_CPU,IO_CPU; its lcore pins itself to SERVER_CPU, and once
# it has started every other thread of it (control thread, snapshot io thread) is pinned
# to IO_CPU (default CLIENT_CPU: off the lcore's core, as on an appliance where lcores
# own their cores; IO_CPU=SERVER_CPU shares the lcore's core instead). The load generator
# is pinned to CLIENT_CPU. On a 2-core VM there is no spare core for the io thread:
# wherever it runs it competes with the lcore or with the client. IO_SCHED=idle gives
# those threads SCHED_IDLE (they run only when the core has nothing else to do; on this
# loaded VM the snapshot then starves), IO_SCHED=nice19 the lowest normal priority.
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
KINDS=${KINDS:-off on dd}
INTERVAL=${INTERVAL:-0.5}
MEMORY_MB=${MEMORY_MB:-3072}
FILL_TIMEOUT=${FILL_TIMEOUT:-300}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
IO_CPU=${IO_CPU:-$CLIENT_CPU}
RATE_MB=${RATE_MB:-}         # [snapshot] rate_limit_mb_s (unset: unlimited)
IO_SCHED=${IO_SCHED:-other}  # idle | nice19: priority of anvil's non-lcore threads (below)
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
if [[ ${NO_BUILD:-0} != 1 ]]; then  # NO_BUILD=1: measure the binaries as they are
  ninja -C "$BUILD" -j "$JOBS" tools/loadgen/anvil-loadgen control/anvil >/dev/null ||
    die "building anvil-loadgen / anvil in $BUILD failed"
fi
[[ -x $LOADGEN ]] || die "$LOADGEN is missing"
[[ -x $ANVIL ]] || die "$ANVIL is missing"

OUT=${OUT:-$(mktemp -d /tmp/anvil-snap-p99.XXXXXX)}
mkdir -p "$OUT"
SNAPDIR=$(mktemp -d "${SNAP_PARENT:-/tmp}/anvil-snap-p99-dir.XXXXXX")  # SNAP_PARENT=/dev/shm: no disk
NET=anvt-$$-83
av_pid='' lg_pid='' dd_pid=''

# The control load: dd of DD_MB MiB, O_DIRECT + fsync, back to back on IO_CPU until
# $SNAPDIR/dd.stop exists. dd_stop ends it (waits for the running dd, at most ~10 s).
dd_start() {
  rm -f "$SNAPDIR/dd.stop"
  (while [[ ! -e $SNAPDIR/dd.stop ]]; do
     taskset -c "$IO_CPU" dd if=/dev/zero of="$SNAPDIR/dd.tmp" bs=1M count="$DD_MB" \
       oflag=direct conv=fsync 2>>"$OUT/dd.log"
     rm -f "$SNAPDIR/dd.tmp"
     sleep "$INTERVAL"
   done) &
  dd_pid=$!
}
dd_stop() {
  [[ -n $dd_pid ]] || return 0
  touch "$SNAPDIR/dd.stop" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$dd_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$dd_pid" 2>/dev/null; then  # the loop and its running dd, by PID
    local c
    for c in $(cat /proc/"$dd_pid"/task/*/children 2>/dev/null); do kill -TERM "$c" 2>/dev/null || true; done
    kill -TERM "$dd_pid" 2>/dev/null || true
  fi
  wait "$dd_pid" 2>/dev/null || true
  dd_pid=
}

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
  dd_stop
  stop_pid "$lg_pid" 2
  stop_pid "$av_pid" 10
  "$TESTNET" destroy "$NET" >/dev/null 2>&1 || true
  if [[ -n $SNAPDIR && -d $SNAPDIR ]]; then rm -rf -- "$SNAPDIR"; fi
}
trap cleanup EXIT
trap 'say "interrupted: tearing down"; exit 130' INT TERM

eval "$("$TESTNET" create "$NET")"  # STACK_NS CLIENT_NS STACK_IF ...

load3() { cut -d' ' -f1-3 /proc/loadavg; }

# Every thread of PID but the lcore (the one pinned to SERVER_CPU alone) goes to IO_CPU.
LCORE_TID=
place_threads() {
  local pid=$1 t mask
  LCORE_TID=
  for t in /proc/"$pid"/task/*; do
    t=${t##*/}
    mask=$(taskset -pc "$t" 2>/dev/null | sed 's/.*: //') || continue
    if [[ $mask == "$SERVER_CPU" && $t != "$pid" ]]; then
      LCORE_TID=$t
      continue
    fi
    taskset -pc "$IO_CPU" "$t" >/dev/null 2>&1 || say "could not pin thread $t to CPU $IO_CPU"
    case $IO_SCHED in
      idle) chrt -i -p 0 "$t" >/dev/null 2>&1 || say "could not set SCHED_IDLE on thread $t" ;;
      nice19) renice -n 19 -p "$t" >/dev/null 2>&1 || say "could not renice thread $t" ;;
    esac
  done
}

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
${RATE_MB:+rate_limit_mb_s = $RATE_MB}
CONF
  ip netns exec "$STACK_NS" taskset -c "$SERVER_CPU,$IO_CPU" "$ANVIL" --config "$OUT/$name.toml" \
    -t 1 -p "$TCP_PORT" -m "$MEMORY_MB" >"$OUT/$name.log" 2>&1 &
  av_pid=$!
  # A restore of 10M items takes 10-20 s on the loaded 2-core VM: allow 180 s.
  for _ in $(seq 1800); do
    if grep -q 'event=started' "$OUT/$name.log"; then
      place_threads "$av_pid"
      return 0
    fi
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

# coverage LOG FROM TO (unix seconds): % of [FROM, TO] during which a snapshot was being
# written, from anvil's completed-snapshot lines (log time minus seconds = its start).
coverage() {
  python3 - "$@" <<'PY'
import datetime, re, sys
log, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
busy = 0.0
for line in open(log):
    m = re.match(r"(\S+Z) .*(?:event=snapshot_written|snapshot: id=\d+ items=).* seconds=([0-9.]+)", line)
    if not m:
        continue
    end = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    start = end - float(m.group(2))
    busy += max(0.0, min(b, end) - max(a, start))
print("%.0f" % (100 * busy / (b - a) if b > a else 0))
PY
}

# Involuntary context switches of the lcore thread so far (the lcore never sleeps in
# busy-poll: each one is the scheduler giving its core to another task).
lcore_preempted() {
  sed -n 's/^nonvoluntary_ctxt_switches:[[:space:]]*//p' "/proc/$av_pid/task/$LCORE_TID/status" 2>/dev/null || echo 0
}

kv() {  # FILE EVENT KEY: the value of KEY= on the last line of FILE with EVENT
  grep -- "$2" "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1
}

say "results in $OUT; snapshots in $SNAPDIR; lcore on CPU $SERVER_CPU, anvil's other threads on CPU $IO_CPU (policy $IO_SCHED), load generator on CPU $CLIENT_CPU"
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
for ((p = 1; p <= PAIRS; p++)); do for k in $KINDS; do phases+=("$k-$p"); done; done
snap_bytes=$(sed -nE 's/.* bytes=([0-9]+).*/\1/p' <<<"$snapline")
DD_MB=$(((${snap_bytes:-671088640} + 1048575) / 1048576))
for ph in "${phases[@]}"; do
  kind=${ph%-*}
  interval=0
  [[ $kind == on ]] && interval=$INTERVAL
  start_anvil "$ph" "$interval" false
  restore="$(kv "$OUT/$ph.log" 'event=restore' items_restored) items in $(kv "$OUT/$ph.log" 'event=restore' seconds) s"
  [[ -n $(kv "$OUT/$ph.log" 'event=restore' items_restored) ]] || die "phase $ph: no restore: $(grep -E 'cold_start|restore' "$OUT/$ph.log" | tail -1)"
  before=$(grep -cE "$SNAP_DONE" "$OUT/$ph.log" || true)
  cs0=$(lcore_preempted)
  # Mid-phase: where each thread of anvil runs (io_uring workers included).
  (sleep "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN{print w + d / 2}')"
   ps -L -o tid=,psr=,pcpu=,comm= -p "$av_pid" >"$OUT/$ph.threads" 2>/dev/null || true) &
  ps_pid=$!
  [[ $kind == dd ]] && dd_start
  rc=0
  t_load=$(date +%s.%N)
  loadgen "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN{printf "%d", w + d + 30}')" "$OUT/$ph.json" -c "$CONNS" -P "$PIPELINE" -r "$GET_RATIO" -w "$WARMUP" -D "$DURATION" \
    --no-prefill --verify || rc=$?
  after=$(grep -cE "$SNAP_DONE" "$OUT/$ph.log" || true)
  t_done=$(date +%s.%N)
  cs1=$(lcore_preempted)
  dds=0
  if [[ $kind == dd ]]; then
    dd_stop
    dds=$(grep -c ' copied, ' "$OUT/dd.log" || true)
    echo "== end of $ph" >>"$OUT/dd.log"
  fi
  wait "$ps_pid" 2>/dev/null || true
  stop_pid "$av_pid" 60
  av_pid=
  ((rc == 0)) || failed=1
  snaps=$((after - before))
  [[ $kind == dd ]] && snaps="dd:$dds"
  echo "$ph load=$(load3 | tr ' ' ',') restore=[$restore] snapshots_during=$snaps lcore_preempted=$((cs1 - cs0)) window=$(awk -v a="$t_load" -v w="$WARMUP" 'BEGIN{printf "%.3f", a + w}'),$t_done" >>"$OUT/conditions"
  say "$ph: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); l=j["latency_us"]["all"]; print("%.0f req/s, p50 %.0f us, p99 %.0f us, errors %d, misses %d" % (j["throughput_rps"], l["p50"], l["p99"], j["errors"]["total"], j.get("get_misses", -1)))' "$OUT/$ph.json" 2>/dev/null || echo "no result"); snapshots completed $snaps; restored $restore; load $(load3)"
  if [[ $kind == on ]]; then
    cov=$(coverage "$OUT/$ph.log" "$(awk -v a="$t_load" -v w="$WARMUP" 'BEGIN{printf "%.3f", a + w}')" "$t_done")
    echo "$ph snapshot_coverage=$cov" >>"$OUT/conditions"
    if awk -v c="$cov" 'BEGIN{exit !(c < 50)}'; then
      say "$ph: snapshots ran during only ${cov}% of the measured window: it does not measure 'with snapshots'"
      failed=1
    fi
  fi
done
echo "end: $(date -u +%FT%TZ) load $(load3)" >>"$OUT/conditions"

# --- 3. table ------------------------------------------------------------------------------
python3 - "$OUT" "${phases[@]}" <<'PY' | tee "$OUT/table.md"
import json, re, statistics, sys
out, phases = sys.argv[1], sys.argv[2:]
cond, cover = {}, {}
for line in open(f"{out}/conditions"):
    m = re.match(r"(\S+) load=(\S+) restore=\[(.*)\] snapshots_during=(\S+) lcore_preempted=(-?\d+)", line)
    if m:
        cond[m.group(1)] = m.groups()[1:]
    m = re.match(r"(\S+) snapshot_coverage=(\d+)", line)
    if m:
        cover[m.group(1)] = m.group(2) + "%"
p99 = {}
print("| phase | snapshots (dd runs) completed | window with a snapshot running | req/s | p50 µs | p99 µs | p99.9 µs | errors | lcore preempted | restore at start | load avg |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for ph in phases:
    try:
        j = json.load(open(f"{out}/{ph}.json"))
    except Exception:
        print(f"| {ph} | - | - | no result | | | | | | | |")
        continue
    l = j["latency_us"]["all"]
    load, restore, snaps, preempted = cond.get(ph, ("?", "?", "?", "?"))
    p99.setdefault(ph.split("-")[0], []).append(l["p99"])
    print(f"| {ph} | {snaps} | {cover.get(ph, '-')} | {j['throughput_rps']:,.0f} | {l['p50']:.0f} | {l['p99']:.0f} | "
          f"{l['p999']:.0f} | {j['errors']['total']} | {preempted} | {restore} | {load.replace(',', ' ')} |")
if p99.get("off"):
    off = statistics.median(p99["off"])
    print(f"\nmedian p99 without snapshots (off): {off:.0f} µs")
    for k, what in (("on", "with snapshots back to back (on)"),
                    ("dd", "with dd of the snapshot's size back to back, no snapshot (dd)")):
        if p99.get(k):
            v = statistics.median(p99[k])
            print(f"median p99 {what}: {v:.0f} µs: {100 * (v / off - 1):+.1f}% vs off"
                  + (" (goal: < +10%)" if k == "on" else ""))
PY
cat "$OUT/conditions" >&2
exit "$failed"
