#!/usr/bin/env bash
# Failover benchmark (issue 15, "Benchmark and the peer to beat"): Anvil's etcd-backed VIP
# against stock memcached + keepalived (VRRP), same topology, same client, same run.
#
#   bench/e2e/failover.sh      # as root, after ninja -C build control/anvil io/anvil-iod
#                              # tests/ha/ha_tool tools/anvilctl/anvilctl bench/e2e/switchover_client
#   ROUNDS=20 KEYS=2000 SIDES="keepalived-1 keepalived-min anvil" bench/e2e/failover.sh
#   PHASES=switchover SIDES=anvil SWITCHOVERS=20 bench/e2e/failover.sh   # planned only
#
# Topology: tests/ha/topology.sh (three nodes, a three-member etcd with heartbeat 50 ms /
# election timeout 500 ms, a client, a data and a management bridge). Every round builds it
# afresh, so each round starts from the same state.
#
# One round of one side: start the three nodes, wait until the VIP serves, SET KEYS keys
# through it, then kill the primary's machine: SIGKILL every process in its namespace
# (anvil; or memcached and keepalived) and take its links down. The clock starts at the
# signal (ha_tool failover, in the client namespace) and stops at the first request on
# the VIP that succeeds (a hit or a miss: the VIP serves). Then every key is read back:
# the hit ratio after failover (keepalived's backup memcached starts empty; Anvil's
# replica is as warm as its replication made it).
#
# Partition (one run per side): the primary loses the management network (etcd and its
# peers; for keepalived the VRRP link) but stays on the data bridge, for PARTITION_S s.
# The data bridge is captured (tcpdump) while the client probes ARP for the VIP every
# 10 ms; ha_tool arp-check counts the probe windows in which two MACs answered for it.
#
# Planned switchover (PHASES contains "switchover", anvil only; one topology for all of
# them): SET KEYS keys through the VIP, start switchover_client writing keys w0, w1, ... in
# order through the VIP (each retried until acknowledged; the write fence's status 0x86 and
# any other refusal or missing answer mean "retry"; every attempt logged), then SWITCHOVERS
# times `anvilctl failover s1 --to NODE`, sent to the current primary's admin address
# (ADMIN_VIA=0..2: to that node's, forwarded by anvilctl when it is not the primary),
# round-robin over the replicas (the primary refuses with 409 while the target is not a
# caught-up replica yet: asked again, bounded). Each switchover starts once the primary's
# GET /v1/cluster shows the target as a healthy replica (settle_ms in switchover.detail).
# After each, the KEYS keys are read back through the VIP (warm hit ratio). At the end the
# writer stops and every acknowledged key is read back through the VIP (lost must be 0).
# switchover_client analyze turns the log into per-switchover figures: the command's
# issue (`date +%s%N` before anvilctl starts) -> the first write acknowledged on a
# connection whose server (`stat pid`) is the target; the longest gap between acknowledged
# writes through it; fence refusals, failed attempts and retried keys.
#
# Sides: keepalived-1 (advert_int 1, VRRPv2: the usual setting), keepalived-min (advert_int
# 0.01, VRRPv3's minimum), anvil (lease_ttl_s 1, fence_margin_ms 300, etcd_timeout_ms 200,
# heartbeat_interval_ms 20: docs/cluster.md "The numbers", fast column; [health]
# canary_p99_ms 200, see CANARY_P99_MS).
# Only the namespaces and processes this script created are touched (by PID).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-20}
KEYS=${KEYS:-2000}
PARTITION_S=${PARTITION_S:-6}
SIDES=${SIDES:-"keepalived-1 keepalived-min anvil"}
PHASES=${PHASES:-"kill partition switchover"}
SWITCHOVERS=${SWITCHOVERS:-20}
# Which node's admin address the switchover command goes to: "primary" (the current one),
# or a node index 0..2 (anvilctl then forwards it to the primary once: the time includes
# that hop).
ADMIN_VIA=${ADMIN_VIA:-primary}
OUT=${OUT:-/tmp/anvil-failover-$$}
TOPO=tests/ha/topology.sh
TOOL=$BUILD/tests/ha/ha_tool
ANVIL=$BUILD/control/anvil
ANVILCTL=$BUILD/tools/anvilctl/anvilctl
SWC=$BUILD/bench/e2e/switchover_client
# Health thresholds: the defaults (canary p99 10 ms, loop stall 50 ms) are crossed by
# scheduling noise on a shared 2-core VM, and a degraded node neither stands for election
# nor stays primary while a healthy replica exists; this benchmark measures death, not
# slowness, so [health] canary_p99_ms = CANARY_P99_MS and loop_stall_ms = 2000.
CANARY_P99_MS=${CANARY_P99_MS:-200}
TIMEOUT_MS=${TIMEOUT_MS:-50}  # deadline of one client request: the resolution of a measured failover

[[ $(id -u) -eq 0 ]] || { echo "failover.sh: must run as root" >&2; exit 1; }
[[ -x $TOOL ]] || { echo "failover.sh: build $TOOL first (ninja -C $BUILD tests/ha/ha_tool)" >&2; exit 1; }
mkdir -p "$OUT"
NAME=""
PROBE_PID=""
WRITER_PID=""
ANVIL_PIDS=()
cleanup() {
  [[ -n $PROBE_PID ]] && kill "$PROBE_PID" 2>/dev/null || true
  [[ -n $WRITER_PID ]] && kill "$WRITER_PID" 2>/dev/null || true
  [[ -n $NAME ]] && $TOPO down "$NAME" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
round_no=0

topology_up() {  # $1: --kernel-data or nothing
  round_no=$((round_no + 1))
  NAME=hat-$$-$round_no
  eval "$($TOPO up "$NAME" "$@")"
}
topology_down() {  # keeps the nodes' logs: $OUT/<topology>-keepalived<i>.log / -anvil<i>.log
  local f
  for f in /tmp/anvil-ha-topology/"$NAME"/keepalived?.log "$OUT"/anvil?.log; do
    [[ -f $f ]] && mv "$f" "$OUT/$NAME-${f##*/}"
  done
  $TOPO down "$NAME"
  NAME=""
}

client() { ip netns exec "$CLIENT_NS" "$TOOL" "$@"; }

# The node (0..2) that holds the VIP, once it has held it for 1.5 s in a row (three nodes
# starting at once may hand it around before they settle: killing a transient owner would
# measure nothing). keepalived: the node whose kernel has the VIP on d0 (exactly one);
# anvil: the node whose MAC the client resolves the VIP to after a successful request.
holder_now() {
  local i found=() mac
  if [[ $SIDE == keepalived-* ]]; then
    for i in 0 1 2; do
      local ns=NODE${i}_NS
      ip -n "${!ns}" -o addr show d0 | grep -q " $VIP/" && found+=("$i")
    done
    ((${#found[@]} == 1)) && echo "${found[0]}"
    return 0
  fi
  client wait-up --vip "$VIP" --since-ns 0 --bound-ms 200 --timeout-ms 100 >/dev/null 2>&1 || return 0
  mac=$(ip -n "$CLIENT_NS" neigh show "$VIP" | sed -nE 's/.*lladdr ([0-9a-f:]+).*/\1/p')
  for i in 0 1 2; do
    local v=NODE${i}_MAC
    [[ ${!v} == "$mac" ]] && echo "$i"
  done
  return 0
}
primary_index() {
  local last="" cur n=0
  for _ in $(seq 1 300); do
    cur=$(holder_now)
    if [[ -n $cur && $cur == "$last" ]]; then
      n=$((n + 1))
      ((n >= 15)) && { echo "$cur"; return 0; }
    else
      n=0
    fi
    last=$cur
    sleep 0.1
  done
  echo "failover.sh: $SIDE: no node held the VIP steadily for 1.5 s" >&2
  return 1
}

start_keepalived() {  # $1: advert_int
  topology_up --kernel-data
  for i in 0 1 2; do $TOPO keepalived "$NAME" "$i" "$1" >/dev/null; done
}

start_anvil() {
  topology_up
  local endpoints
  endpoints=$($TOPO etcd "$NAME" | sed -n 's/^ETCD_ENDPOINTS=//p')
  local eps="\"${endpoints//,/\", \"}\""
  # The operator's token (one per cluster, docs/admin.md): the switchover phase needs it.
  (umask 077 && echo "bench-token-$$" > "$OUT/admin.token")
  for i in 0 1 2; do
    local ns=NODE${i}_NS mgmt=NODE${i}_MGMT data=NODE${i}_DATA peers=""
    for j in 0 1 2; do
      [[ $j == "$i" ]] && continue
      local pm=NODE${j}_MGMT
      peers+="${peers:+, }\"n$j@${!pm}\""
    done
    cat > "$OUT/anvil$i.toml" <<TOML
[lcores]
idle = "backoff"
idle_sleep_us = 100
idle_spin = 200
[network]
port_type = "afpacket"
interface = "d0"
ip = "${!data}"
[admin]
listen = "${!mgmt}:11311"
token_file = "$OUT/admin.token"
[health]
canary_p99_ms = $CANARY_P99_MS
loop_stall_ms = 2000
[cluster]
node_id = "n$i"
zone = "dc1"
shard = "s1"
vip = "$VIP"
management_ip = "${!mgmt}"
etcd_endpoints = [$eps]
peers = [$peers]
lease_ttl_s = 1
fence_margin_ms = 300
etcd_timeout_ms = 200
heartbeat_interval_ms = 20
suspect_after = 5
dead_after = 20
TOML
    ip netns exec "${!ns}" "$ANVIL" --config "$OUT/anvil$i.toml" -p 11211 -m 64 -t 1 \
      </dev/null >"$OUT/anvil$i.log" 2>&1 &
    ANVIL_PIDS[i]=$!  # ip netns exec execs anvil: the pid its `stat pid` reports
    disown
  done
}

# Node death: every process in the namespace, then its links. Sets KILL_ARGS.
kill_args() {
  local ns=$1 pid
  KILL_ARGS=()
  for pid in $(ip netns pids "$ns"); do KILL_ARGS+=(--kill "$pid"); done
  KILL_ARGS+=(--after "ip -n $ns link set d0 down; ip -n $ns link set m0 down")
}

wait_vip() {
  client wait-up --vip "$VIP" --since-ns "$(date +%s%N)" --bound-ms 30000 --timeout-ms 200 >/dev/null
}

one_round() {  # $1 side; appends "ms hits" to $OUT/$1.rounds
  local side=$1
  SIDE=$side
  case $side in
    keepalived-1) start_keepalived 1 ;;
    keepalived-min) start_keepalived 0.01 ;;
    anvil) start_anvil ;;
  esac
  wait_vip || { echo "failover.sh: $side: the VIP never served" >&2; topology_down; return 1; }
  local p ns res ms hits
  p=$(primary_index) || { topology_down; return 1; }
  client fill --vip "$VIP" --count "$KEYS" --prefix k >/dev/null
  # The fill must have gone to the node that is killed (no hand-over meanwhile).
  [[ $(primary_index) == "$p" ]] || { echo "  $side round: the VIP moved during the fill, round dropped" >&2; topology_down; return 1; }
  ns=NODE${p}_NS
  kill_args "${!ns}"
  res=$(client failover --vip "$VIP" --timeout-ms $TIMEOUT_MS --bound-ms 30000 "${KILL_ARGS[@]}")
  ms=$(sed -n 's/^first_ok_ms=//p' <<<"$res")
  hits=$(client read-back --vip "$VIP" --count "$KEYS" --prefix k | sed -n 's/^hits=//p')
  echo "$ms $hits n$p $NAME" >> "$OUT/$side.rounds"
  echo "  $side round: failover ${ms} ms, ${hits}/${KEYS} keys read back"
  topology_down
}

partition() {  # $1 side; writes $OUT/$1.partition (arp-check output)
  local side=$1
  SIDE=$side
  case $side in
    keepalived-1) start_keepalived 1 ;;
    keepalived-min) start_keepalived 0.01 ;;
    anvil) start_anvil ;;
  esac
  wait_vip
  $TOPO capture "$NAME" "$OUT/$side.pcap" >/dev/null
  ip netns exec "$CLIENT_NS" "$TOOL" arp-probe --src-ip "$CLIENT_IP" --vip "$VIP" --interval-ms 10 \
    >/dev/null &
  PROBE_PID=$!
  local p
  p=$(primary_index)
  $TOPO isolate "$NAME" "$p"
  sleep "$PARTITION_S"
  $TOPO heal "$NAME"
  sleep 2
  kill "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null || true; PROBE_PID=""
  topology_down  # stops tcpdump (SIGKILL after -U: every record was written whole)
  "$TOOL" arp-check --pcap "$OUT/$side.pcap" --vip "$VIP" > "$OUT/$side.partition" || true
}

# One anvilctl call on node $1's admin address, from inside its namespace (the management
# network is not reachable from the client).
anvilctl_on() {
  local i=$1 ns mgmt
  shift
  ns=NODE${i}_NS mgmt=NODE${i}_MGMT
  ip netns exec "${!ns}" "$ANVILCTL" --server "${!mgmt}:11311" --token-file "$OUT/admin.token" \
    --timeout 2 "$@"
}

switchover() {  # writes $OUT/switchover.{log,rounds,detail,analysis,final}
  SIDE=anvil
  start_anvil
  wait_vip || { echo "failover.sh: switchover: the VIP never served" >&2; topology_down; return 1; }
  local p target r t_cmd t_done rc out attempts hits holder via settle
  p=$(primary_index) || { topology_down; return 1; }
  client fill --vip "$VIP" --count "$KEYS" --prefix k >/dev/null
  : > "$OUT/switchover.rounds"
  : > "$OUT/switchover.detail"
  ip netns exec "$CLIENT_NS" "$SWC" write --vip "$VIP" --prefix w --log "$OUT/switchover.log" \
    --timeout-ms $TIMEOUT_MS > "$OUT/switchover.writer" &
  WRITER_PID=$!
  sleep 1
  for r in $(seq 1 "$SWITCHOVERS"); do
    target=$(((p + 1) % 3))
    via=$p
    [[ $ADMIN_VIA == primary ]] || via=$ADMIN_VIA
    # A planned switchover starts from a steady state: the primary sees the target as a
    # healthy replica (alive, ok, within max_replica_lag; a node just started or just
    # handed over is not yet). Without this the time includes that wait, fence raised.
    settle=$(date +%s%N)
    for _ in $(seq 1 300); do
      anvilctl_on "$p" --json peers 2>/dev/null |
        jq -e --arg t "n$target" '.peers[] | select(.node == $t) | .healthy_replica == true' \
          >/dev/null && break
      sleep 0.1
    done
    settle=$((($(date +%s%N) - settle) / 1000000))
    # 409 (the target is not a heartbeating, caught-up replica yet): asked again for 30 s.
    attempts=0
    for _ in $(seq 1 150); do
      attempts=$((attempts + 1))
      t_cmd=$(date +%s%N)
      rc=0
      out=$(anvilctl_on "$via" failover s1 --to "n$target" 2>"$OUT/anvilctl.err") || rc=$?
      out+=$(sed 's/^/ [stderr] /' "$OUT/anvilctl.err")
      [[ $rc == 1 && ($out == refused:* || $out == busy:*) ]] || break
      sleep 0.2
    done
    t_done=$(date +%s%N)
    echo "$t_cmd ${ANVIL_PIDS[target]}" >> "$OUT/switchover.rounds"
    client wait-up --vip "$VIP" --since-ns "$t_cmd" --bound-ms 30000 --timeout-ms 200 >/dev/null || true
    hits=$(client read-back --vip "$VIP" --count "$KEYS" --prefix k | sed -n 's/^hits=//p') || true
    holder=$(holder_now)
    echo "$r n$p n$target rc=$rc attempts=$attempts settle_ms=$settle anvilctl_ms=$(((t_done - t_cmd) / 1000000)) hits=${hits:-0} holder=n${holder:-?} $(tr '\n' ' ' <<<"$out")" \
      >> "$OUT/switchover.detail"
    echo "  switchover $r: n$p -> n$target: ${out%%$'\n'*} (rc $rc, $attempts attempt(s)); ${hits:-0}/$KEYS keys read back; VIP on n${holder:-?}"
    [[ $rc == 0 ]] && p=$target
  done
  sleep 1
  kill -TERM "$WRITER_PID"
  wait "$WRITER_PID" || true
  WRITER_PID=""
  local acked
  acked=$(sed -n 's/^acked=//p' "$OUT/switchover.writer")
  client read-back --vip "$VIP" --count "$acked" --prefix w > "$OUT/switchover.final" || true
  echo "acked=$acked" >> "$OUT/switchover.final"
  "$SWC" analyze --log "$OUT/switchover.log" --rounds "$OUT/switchover.rounds" \
    > "$OUT/switchover.analysis" || true
  topology_down
}

summary() {  # $1 side -> "median max hit%" over the rounds
  sort -n -k1 "$OUT/$1.rounds" | awk -v keys="$KEYS" '
    { ms[NR] = $1; hits += $2 }
    END {
      if (NR == 0) { print "- - -"; exit }
      med = (NR % 2) ? ms[(NR + 1) / 2] : (ms[NR / 2] + ms[NR / 2 + 1]) / 2
      printf "%.0f %.0f %.1f\n", med, ms[NR], 100 * hits / (NR * keys)
    }'
}

has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

for side in $SIDES; do
  [[ $side == anvil && ! -x $ANVIL ]] && { echo "failover.sh: no $ANVIL: skipping anvil" >&2; continue; }
  if has_phase kill; then
    echo "== $side: $ROUNDS kill -9 failovers, $KEYS keys"
    : > "$OUT/$side.rounds"
    for _ in $(seq 1 "$ROUNDS"); do one_round "$side" || true; done
  fi
  if has_phase partition; then
    echo "== $side: partition of the primary for ${PARTITION_S} s"
    partition "$side"
  fi
  if [[ $side == anvil ]] && has_phase switchover; then
    for f in "$ANVILCTL" "$SWC"; do
      [[ -x $f ]] || { echo "failover.sh: build $f first" >&2; exit 1; }
    done
    echo "== anvil: $SWITCHOVERS planned switchovers under writes, $KEYS keys"
    switchover || true
  fi
done

if has_phase kill || has_phase partition; then
echo
echo "| side | failovers | kill -> first OK on the VIP, median / max (ms) | keys read back after failover | partition: probe windows with two VIP owners (max owners) |"
echo "|---|---|---|---|---|"
for side in $SIDES; do
  [[ -f $OUT/$side.rounds ]] || continue
  read -r med max hit < <(summary "$side")
  n=$(wc -l < "$OUT/$side.rounds")
  dual=$(sed -n 's/^dual_windows=//p' "$OUT/$side.partition" 2>/dev/null || echo "?")
  maxo=$(sed -n 's/^max_owners=//p' "$OUT/$side.partition" 2>/dev/null || echo "?")
  echo "| $side | $n | $med / $max | $hit% | $dual ($maxo) |"
done
fi
if [[ -f $OUT/switchover.analysis ]]; then
  a() { sed -n "s/^$1=//p" "$OUT/switchover.analysis"; }
  f() { sed -n "s/^$1=//p" "$OUT/switchover.final"; }
  done_n=$(grep -c ' rc=0 ' "$OUT/switchover.detail" || true)
  warm=$(awk -v keys="$KEYS" '{ for (i = 1; i <= NF; ++i) if ($i ~ /^hits=/) {
      v = substr($i, 6) + 0; s += v; n++; if (n == 1 || v < m) m = v } }
    END { if (n) printf "%.1f%% (lowest %d/%d)", 100 * s / (n * keys), m, keys; else print "-" }' \
    "$OUT/switchover.detail")
  acked=$(f acked)
  lost=$((acked - $(f hits)))
  echo
  echo "| side | switchovers done (issued) | command -> first write acked by the new primary, median / max (ms) | write pause, median / max (ms) | write fence seen by the client, median / max (ms) | fence refusals / other failed attempts / keys retried | acked writes lost (of acked) | keys read back after each switchover |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| anvil | $done_n ($SWITCHOVERS) | $(a first_ack_median_ms) / $(a first_ack_max_ms) | $(a pause_median_ms) / $(a pause_max_ms) | $(a fence_median_ms) / $(a fence_max_ms) | $(a fenced_total) / $(($(a failed_total) + $(a other_status_total))) / $(a retried_keys_total) | $lost (of $acked) | $warm |"
  echo "(acks on the old primary after its fence: $(a old_acks_after_fence_total); read-back of the acked keys: $(tr '\n' ' ' < "$OUT/switchover.final"))"
fi
echo "(raw results in $OUT)"
