#!/usr/bin/env bash
# Latency while evicting (issue 13, item 1): anvil vs memcached -t 1 through the real
# servers, same run, same client (tools/loadgen: memtier is not packaged in Debian), key
# space ~4x the memory so both evict all the time. Two loads: SET-only, and 90/10 GET/SET.
# Each is one bench/e2e/compare.sh run (its table: req/s, p50 / p99 / p99.9 per server).
#
#   bench/e2e/evict_latency.sh                          # as root
#   MEMORY_MB=64 VALUE=100 KEYS=2400000 CONNS=8 DURATION=10 bench/e2e/evict_latency.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export MEMORY_MB=${MEMORY_MB:-64}
export VALUE=${VALUE:-100}
# ~4x the memory in key+value bytes (keys are "key:" + 8 digits).
export KEYS=${KEYS:-$((4 * MEMORY_MB * 1048576 / (VALUE + 12)))}
export CONNS=${CONNS:-8}
export DURATION=${DURATION:-10}
export WARMUP=${WARMUP:-2}
for ratio in 0 0.9; do
  echo "=== GET ratio $ratio: -m $MEMORY_MB, $KEYS keys of $VALUE-byte values, conns $CONNS"
  GET_RATIO=$ratio bench/e2e/compare.sh || echo "(compare.sh exit $?: see above)"
done
