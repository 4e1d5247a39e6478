#!/usr/bin/env bash
# Throw-away test networks for Anvil (see ../../../shared/TESTBED.md for why each step).
#
#   testnet.sh create NAME [--loss PCT]   build NAME-stack <-> NAME-client (optionally
#                                         through NAME-bridge dropping PCT% of IPv4
#                                         frames in both directions); prints KEY=VALUE lines
#   testnet.sh destroy NAME               remove everything NAME created (idempotent)
#   testnet.sh reap                       remove leftovers of test runs whose owner died
#   testnet.sh reap-owner PID             remove every test network of process PID
#
# Invariants: the stack side has no IP address (the user-space stack owns it and the
# kernel there stays silent); the client side has 198.18.0.2/24 (RFC 2544 benchmark
# range) and NO default route, so nothing can leave the machine; IPv6 is off in every
# namespace; client-side veths have `tx off` so frames are <= 1514 bytes with finished
# checksums. Test names look like anvt-<owner pid>-<n>; `reap` deletes those whose
# owner pid is gone, which is how a crashed or killed run is cleaned up.
set -euo pipefail

STACK_IF=anv-s
CLIENT_IF=anv-c
STACK_IP=198.18.0.1
CLIENT_IP=198.18.0.2
PREFIX_LEN=24

die() { echo "testnet: $*" >&2; exit 1; }

prep_ns() {
  local ns=$1
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
}

offload_off() { ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || die "ethtool -K $2 tx off failed in $1"; }

create() {
  local name=$1 loss=${2:-}
  local s="$name-stack" c="$name-client" b="$name-bridge"
  [[ $name =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad network name '$name'"
  [[ -z $loss || ( $loss =~ ^[0-9]+$ && $loss -le 100 ) ]] || die "--loss takes a whole percentage 0..100, got '$loss'"
  ip netns list | grep -qE "^$name-(stack|client|bridge)( |$)" && die "network '$name' already exists"
  trap 'destroy "$name" >/dev/null 2>&1 || true' ERR
  prep_ns "$s"; prep_ns "$c"
  if [[ -n $loss ]]; then
    prep_ns "$b"
    # br_netfilter (loaded on these hosts) would push bridged IPv4 through the IP
    # hooks: header validation and conntrack on what should be a plain wire.
    ip netns exec "$b" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
      net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
    ip link add "$STACK_IF" netns "$s" type veth peer name br-s netns "$b"
    ip link add "$CLIENT_IF" netns "$c" type veth peer name br-c netns "$b"
    ip -n "$b" link add br0 type bridge stp_state 0 forward_delay 0
    for p in br-s br-c; do
      ip -n "$b" link set "$p" master br0
      offload_off "$b" "$p"
      ip -n "$b" link set "$p" up
    done
    ip -n "$b" link set br0 up
    # Drops happen while forwarding, i.e. on the wire between the two hosts: both
    # directions, IPv4 only (ARP stays reliable so address resolution is not the test).
    ip netns exec "$b" nft -f - <<NFT
table bridge anvil_loss {
  chain lossy {
    type filter hook forward priority 0; policy accept;
    ether type ip numgen random mod 100 < $loss counter drop
  }
}
NFT
  else
    ip link add "$STACK_IF" netns "$s" type veth peer name "$CLIENT_IF" netns "$c"
  fi
  offload_off "$c" "$CLIENT_IF"
  ip -n "$c" addr add "$CLIENT_IP/$PREFIX_LEN" dev "$CLIENT_IF"
  ip -n "$c" link set "$CLIENT_IF" up
  ip -n "$s" link set "$STACK_IF" up
  if [[ -n $(ip -n "$c" route show default) ]]; then die "client namespace has a default route"; fi
  trap - ERR
  echo "STACK_NS=$s"
  echo "CLIENT_NS=$c"
  [[ -n $loss ]] && echo "BRIDGE_NS=$b"
  echo "STACK_IF=$STACK_IF"
  echo "CLIENT_IF=$CLIENT_IF"
  echo "STACK_IP=$STACK_IP"
  echo "CLIENT_IP=$CLIENT_IP"
  echo "PREFIX_LEN=$PREFIX_LEN"
  echo "STACK_MAC=$(ip -n "$s" -o link show "$STACK_IF" | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')"
  echo "CLIENT_MAC=$(ip -n "$c" -o link show "$CLIENT_IF" | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')"
}

destroy() {
  local name=$1 ns
  for ns in "$name-stack" "$name-client" "$name-bridge"; do
    if ip netns list | grep -qE "^$ns( |$)"; then
      # Processes still inside would keep the namespace alive: they are the caller's,
      # and the caller ends them; deleting the name still detaches it from /run/netns.
      ip netns del "$ns"
    fi
  done
}

test_namespaces() { ip netns list | awk '{print $1}' | grep -E '^anvt-[0-9]+-[0-9]+-(stack|client|bridge)$' || true; }

reap() {
  local ns owner
  for ns in $(test_namespaces); do
    owner=$(echo "$ns" | cut -d- -f2)
    if ! kill -0 "$owner" 2>/dev/null; then
      echo "testnet: reaping $ns (owner pid $owner is gone)" >&2
      ip netns del "$ns" || true
    fi
  done
}

# Everything one (interrupted) test process owns, whether or not it still runs.
reap_owner() {
  local ns
  for ns in $(test_namespaces); do
    [[ $ns == anvt-$1-* ]] && ip netns del "$ns" || true
  done
  exit 130
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
cmd=${1:-}; shift || true
case $cmd in
  create)
    name=${1:-}; [[ -n $name ]] || die "usage: testnet.sh create NAME [--loss PCT]"; shift
    loss=
    while (($#)); do
      case $1 in
        --loss) loss=${2:-}; shift 2 ;;
        *) die "unknown option '$1'" ;;
      esac
    done
    create "$name" "$loss" ;;
  destroy) [[ -n ${1:-} ]] || die "usage: testnet.sh destroy NAME"; destroy "$1" ;;
  reap) reap ;;
  reap-owner) [[ ${1:-} =~ ^[0-9]+$ ]] || die "usage: testnet.sh reap-owner PID"; reap_owner "$1" ;;
  *) die "usage: testnet.sh create NAME [--loss PCT] | destroy NAME | reap" ;;
esac
