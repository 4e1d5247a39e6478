#!/usr/bin/env bash
# Installs every Debian package Anvil needs to build, test and run, only when missing,
# and prepares the kernel side (hugepages when asked). Idempotent: a second run on a
# ready machine changes nothing and says so.
#   HUGEPAGES=N tools/deps.sh   also reserve N 2 MiB hugepages and mount hugetlbfs.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ clang llvm libclang-rt-14-dev clang-format clang-tidy
  # libraries
  libdpdk-dev dpdk-dev liburing-dev libtbb-dev libhwloc-dev libgtest-dev libgmock-dev
  libbenchmark-dev libxxhash-dev libisal-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libfuse3-dev fuse3 libsodium-dev
  libcpp-httplib-dev
  # sd_notify (Type=notify in tools/deploy/anvil.service)
  libsystemd-dev
  # network test fixture and dev mode
  iproute2 ethtool nftables procps
  # real peers and clients for the end-to-end tests and the benchmark
  memcached libmemcached-tools python3 python3-pylibmc
  # high availability: etcd (tests start their own on loopback) and the HTTP client for its gateway
  etcd-server etcd-client
  # HA end-to-end tests and failover benchmark: captures of the data bridge, the VRRP peer
  libpcap-dev tcpdump keepalived
  # text-protocol clients (issue 16)
  python3-pymemcache python3-memcache libcache-memcached-fast-perl
  # alert rule tests (promtool) and the Prometheus end-to-end test
  prometheus
  # storage fault tests
  e2fsprogs util-linux
  # snapshot benchmark baseline (bench_io: O_DIRECT sequential write bandwidth)
  fio
)

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: must run as root (apt-get, network namespaces, hugepages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
# Node.js (for the memjs end-to-end client) may come from elsewhere than Debian on a
# developer's machine, and Debian's npm conflicts with such installs: only ask apt for
# it when there is no node/npm at all.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  echo "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all ${#packages[@]} Debian packages present"
fi

# npm packages for the end-to-end tests live in the repo's own node folder.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/node"
if [[ -f $node_dir/package.json && ! -d $node_dir/node_modules ]]; then
  echo "deps: npm install in $node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --silent)
fi

if [[ -n ${HUGEPAGES:-} ]]; then
  current=$(cat /proc/sys/vm/nr_hugepages)
  if ((current < HUGEPAGES)); then
    echo "deps: reserving $HUGEPAGES hugepages (had $current)"
    echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
  fi
  if ! grep -q '^hugetlbfs /dev/hugepages ' /proc/mounts; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages
    echo "deps: mounted hugetlbfs on /dev/hugepages"
  fi
fi
