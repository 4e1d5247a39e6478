#!/usr/bin/env bash
# The HA test topology (issue 15), shared by the `ha` gtest suite and bench/e2e/failover.sh:
#
#   NAME-br   one namespace holding two bridges: brdata (data plane) and brmgmt (management)
#   NAME-n0..2  the three cache nodes: d0 on brdata (data), m0 on brmgmt (10.77.0.1..3/24)
#   NAME-e0..2  the three etcd members: m0 on brmgmt (10.77.0.11..13/24)
#   NAME-cl   the client: d0 on brdata (198.18.0.2/24)
#
#   topology.sh up NAME [--kernel-data]  build it; prints KEY=VALUE lines. --kernel-data gives
#                                        the nodes' d0 kernel addresses 198.18.0.11..13 (for
#                                        memcached + keepalived); without it d0 has no address
#                                        (the user-space stack owns it, the kernel stays silent)
#   topology.sh etcd NAME                start the three-member etcd (heartbeat 50 ms, election
#                                        timeout 500 ms) and wait until it is healthy
#   topology.sh keepalived NAME I ADVERT start stock memcached and keepalived on node I (0..2,
#                                        needs --kernel-data): VRRP on the management bridge,
#                                        the VIP on d0, priority 150/100/50, advert_int ADVERT
#                                        seconds (below 1: VRRPv3, whose minimum is 0.01)
#   topology.sh capture NAME FILE        tcpdump ARP on the data bridge into FILE (pcap)
#   topology.sh isolate NAME NODE...     cut nodes (0..2) off the management bridge (etcd, peers)
#   topology.sh isolate-etcd NAME E...   cut etcd members (0..2) off the management bridge
#   topology.sh cut-replication NAME NODE  drop node NODE's replication TCP (port 11313, both
#                                        directions) on the management bridge; heartbeats and
#                                        etcd still pass
#   topology.sh heal NAME                remove every partition rule
#   topology.sh kill NAME NS             SIGKILL every process inside namespace NAME-NS
#   topology.sh down NAME                kill everything inside, delete every namespace and the
#                                        state directory (idempotent)
#   topology.sh reap                     `down` every topology whose owner pid is gone
#
# Names look like hat-<owner pid>-<n> (the owner is the test or benchmark process; `reap`
# takes down those whose owner is gone), short enough for namespace-derived names. Processes are only ever ended by PID: those listed by
# `ip netns pids` of a namespace this script created. Nothing gets a default route, so no
# traffic leaves the namespaces; IPv6 is off everywhere; every veth has `tx off` (frames
# <= 1514 bytes with finished checksums, see shared/TESTBED.md).
set -euo pipefail

DATA_NET=198.18.0
MGMT_NET=10.77.0
VIP=$DATA_NET.100
STATE_ROOT=/tmp/anvil-ha-topology

die() { echo "topology: $*" >&2; exit 1; }

prep_ns() {
  ip netns add "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}

# A veth from namespace $1 (named $2 there) to bridge $4 in the bridge namespace (port $3).
attach() {
  local ns=$1 ifname=$2 port=$3 bridge=$4 br=$NAME-br
  ip link add "$ifname" netns "$ns" type veth peer name "$port" netns "$br"
  ip netns exec "$ns" ethtool -K "$ifname" tx off >/dev/null
  ip netns exec "$br" ethtool -K "$port" tx off >/dev/null
  ip -n "$br" link set "$port" master "$bridge"
  ip -n "$br" link set "$port" up
  ip -n "$ns" link set "$ifname" up
}

mac_of() { ip -n "$1" -o link show "$2" | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/'; }

up() {
  local kernel_data=$1 i br=$NAME-br
  [[ $NAME =~ ^[a-z0-9-]{1,24}$ ]] || die "bad topology name '$NAME'"
  ip netns list | grep -qE "^$NAME-br( |$)" && die "topology '$NAME' already exists"
  trap 'down >/dev/null 2>&1 || true' ERR
  mkdir -p "$STATE"
  prep_ns "$br"
  # br_netfilter would push bridged IPv4 through the IP hooks; the bridges are plain wires.
  ip netns exec "$br" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
    net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
  for b in brdata brmgmt; do
    ip -n "$br" link add "$b" type bridge stp_state 0 forward_delay 0
    ip -n "$br" link set "$b" up
  done
  for i in 0 1 2; do
    prep_ns "$NAME-n$i"
    attach "$NAME-n$i" d0 "dn$i" brdata
    attach "$NAME-n$i" m0 "mn$i" brmgmt
    ip -n "$NAME-n$i" addr add "$MGMT_NET.$((i + 1))/24" dev m0
    if [[ $kernel_data == 1 ]]; then ip -n "$NAME-n$i" addr add "$DATA_NET.$((i + 11))/24" dev d0; fi
    prep_ns "$NAME-e$i"
    attach "$NAME-e$i" m0 "me$i" brmgmt
    ip -n "$NAME-e$i" addr add "$MGMT_NET.$((i + 11))/24" dev m0
  done
  prep_ns "$NAME-cl"
  attach "$NAME-cl" d0 dcl brdata
  ip -n "$NAME-cl" addr add "$DATA_NET.2/24" dev d0
  # The client keeps no stale neighbour entry for long: a moved VIP is learned from the new
  # owner's gratuitous ARP anyway, but an entry that fails is re-probed quickly.
  ip netns exec "$NAME-cl" sysctl -qw net.ipv4.neigh.d0.base_reachable_time_ms=1000 \
    net.ipv4.neigh.d0.delay_first_probe_time=1 net.ipv4.neigh.d0.retrans_time_ms=100
  trap - ERR
  echo "BRIDGE_NS=$br"
  for i in 0 1 2; do
    echo "NODE${i}_NS=$NAME-n$i"
    echo "NODE${i}_MGMT=$MGMT_NET.$((i + 1))"
    echo "NODE${i}_DATA=$DATA_NET.$((i + 11))"
    echo "NODE${i}_MAC=$(mac_of "$NAME-n$i" d0)"
    echo "ETCD${i}_NS=$NAME-e$i"
    echo "ETCD${i}_URL=http://$MGMT_NET.$((i + 11)):2379"
  done
  echo "CLIENT_NS=$NAME-cl"
  echo "CLIENT_IP=$DATA_NET.2"
  echo "CLIENT_MAC=$(mac_of "$NAME-cl" d0)"
  echo "VIP=$VIP"
  echo "DATA_IF=d0"
  echo "MGMT_IF=m0"
}

etcd_healthy() {
  ip netns exec "$NAME-n0" etcdctl --endpoints="$1" --dial-timeout=300ms --command-timeout=500ms \
    endpoint health >/dev/null 2>&1
}

etcd() {
  local i initial="" token="anvil-ha-$NAME-$(date +%s%N)"
  for i in 0 1 2; do initial+="${initial:+,}e$i=http://$MGMT_NET.$((i + 11)):2380"; done
  for i in 0 1 2; do
    local ip=$MGMT_NET.$((i + 11))
    rm -rf "$STATE/etcd$i"
    ip netns exec "$NAME-e$i" /usr/bin/etcd --name="e$i" --data-dir="$STATE/etcd$i" \
      --listen-client-urls="http://$ip:2379" --advertise-client-urls="http://$ip:2379" \
      --listen-peer-urls="http://$ip:2380" --initial-advertise-peer-urls="http://$ip:2380" \
      --initial-cluster="$initial" --initial-cluster-state=new --initial-cluster-token="$token" \
      --heartbeat-interval=50 --election-timeout=500 --logger=zap \
      --log-outputs="$STATE/etcd$i.log" </dev/null >/dev/null 2>&1 &
    echo $! > "$STATE/etcd$i.pid"
  done
  local endpoints="http://$MGMT_NET.11:2379,http://$MGMT_NET.12:2379,http://$MGMT_NET.13:2379"
  for _ in $(seq 1 200); do
    if etcd_healthy "$endpoints"; then echo "ETCD_ENDPOINTS=$endpoints"; return 0; fi
    sleep 0.1
  done
  die "etcd did not become healthy in 20 s (logs in $STATE)"
}

keepalived() {
  local i=$1 advert=$2 version=2 conf=$STATE/keepalived$1.conf
  [[ $advert =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "advert_int must be a number of seconds, got '$advert'"
  # VRRPv2 carries whole seconds; sub-second intervals need VRRPv3 (centiseconds).
  if [[ $advert == *.* ]] && [[ ! $advert =~ ^[0-9]+(\.0+)?$ ]]; then version=3; fi
  cat > "$conf" <<CONF
global_defs {
  router_id $NAME-n$i
  vrrp_version $version
  # No delayed second burst of gratuitous ARP: one burst on becoming master.
  vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface m0
  virtual_router_id 51
  priority $((150 - 50 * i))
  advert_int $advert
  virtual_ipaddress {
    $VIP/24 dev d0
  }
}
CONF
  ip netns exec "$NAME-n$i" /usr/bin/memcached -u root -l 0.0.0.0 -p 11211 -U 0 -m 64 -t 1 \
    </dev/null >"$STATE/memcached$i.log" 2>&1 &
  echo $! > "$STATE/memcached$i.pid"
  ip netns exec "$NAME-n$i" /usr/sbin/keepalived -n -l -D -P -f "$conf" \
    -p "$STATE/keepalived$i.pid" -r "$STATE/vrrp$i.pid" </dev/null >"$STATE/keepalived$i.log" 2>&1 &
  echo "KEEPALIVED${i}_PID=$!"
}

capture() {
  local file=$1
  # -U: every packet is written at once, so a reader sees it while tcpdump still runs.
  # On every port ("any"): the bridge device itself would not see frames forwarded
  # between ports. A frame appears once per port it crosses; the analysis counts MACs.
  ip netns exec "$NAME-br" tcpdump -i any -U -n -s 128 -w "$file" arp </dev/null \
    >"$STATE/tcpdump.log" 2>&1 &
  echo $! > "$STATE/tcpdump.pid"
  for _ in $(seq 1 100); do
    grep -q "listening on" "$STATE/tcpdump.log" 2>/dev/null && { echo "CAPTURE_PID=$(cat "$STATE/tcpdump.pid")"; return 0; }
    sleep 0.05
  done
  die "tcpdump did not start: $(cat "$STATE/tcpdump.log")"
}

# Partitions live in one nft table of the bridge namespace: a frame entering or leaving a
# cut port is dropped while it is forwarded, i.e. on the wire between the hosts.
cut_ports() {
  local rules="" p
  for p in "$@"; do rules+="    iifname \"$p\" drop"$'\n'"    oifname \"$p\" drop"$'\n'; done
  ip netns exec "$NAME-br" nft -f - <<NFT
table bridge anvil_partition {
  chain forward {
    type filter hook forward priority 0; policy accept;
$rules  }
}
NFT
}

# Only the replication stream of one node: TCP to or from port 11313 on its management
# port (a replica's connection to its primary, or a primary's to its replicas).
cut_replication() {
  ip netns exec "$NAME-br" nft -f - <<NFT
table bridge anvil_partition {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "mn$1" tcp dport 11313 drop
    iifname "mn$1" tcp sport 11313 drop
    oifname "mn$1" tcp dport 11313 drop
    oifname "mn$1" tcp sport 11313 drop
  }
}
NFT
}

check_index() { [[ $1 =~ ^[0-2]$ ]] || die "index must be 0, 1 or 2, got '$1'"; }

heal() { ip netns exec "$NAME-br" nft delete table bridge anvil_partition 2>/dev/null || true; }

kill_ns() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
}

down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME-(br|n[0-2]|e[0-2]|cl)$" || true); do
    kill_ns "$ns"
  done
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME-(br|n[0-2]|e[0-2]|cl)$" || true); do
    ip netns del "$ns" || true
  done
  rm -rf "$STATE"
}

reap() {
  local dir owner
  for dir in "$STATE_ROOT"/hat-*; do
    [[ -d $dir ]] || continue
    owner=$(echo "${dir##*/}" | cut -d- -f2)
    if ! kill -0 "$owner" 2>/dev/null; then
      NAME=${dir##*/}; STATE=$dir; echo "topology: reaping $NAME (owner $owner is gone)" >&2; down
    fi
  done
  # Namespaces whose state directory is gone already (a crash between the two).
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^hat-[0-9]+-[0-9]+-br$' || true); do
    NAME=${ns%-br}; owner=$(echo "$NAME" | cut -d- -f2)
    if ! kill -0 "$owner" 2>/dev/null; then STATE=$STATE_ROOT/$NAME; down; fi
  done
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
cmd=${1:-}; shift || true
if [[ $cmd == reap ]]; then reap; exit 0; fi
NAME=${1:-}; [[ -n $NAME ]] || die "usage: topology.sh up|etcd|capture|isolate|isolate-etcd|cut-replication|heal|kill|down NAME ..."
shift
STATE=$STATE_ROOT/$NAME
case $cmd in
  up)
    kd=0
    [[ ${1:-} == --kernel-data ]] && kd=1
    up "$kd" ;;
  etcd) etcd ;;
  keepalived) check_index "${1:-}"; [[ -n ${2:-} ]] || die "usage: keepalived NAME I ADVERT"; keepalived "$1" "$2" ;;
  capture) [[ -n ${1:-} ]] || die "usage: capture NAME FILE"; capture "$1" ;;
  isolate)
    ports=(); for i in "$@"; do check_index "$i"; ports+=("mn$i"); done
    heal; cut_ports "${ports[@]}" ;;
  isolate-etcd)
    ports=(); for i in "$@"; do check_index "$i"; ports+=("me$i"); done
    heal; cut_ports "${ports[@]}" ;;
  cut-replication) check_index "${1:-}"; heal; cut_replication "$1" ;;
  heal) heal ;;
  kill) [[ ${1:-} =~ ^(n[0-2]|e[0-2]|cl|br)$ ]] || die "kill takes n0..n2, e0..e2, cl or br"; kill_ns "$NAME-$1" ;;
  down) down ;;
  *) die "unknown command '$cmd'" ;;
esac
