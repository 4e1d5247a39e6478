// Per-lcore protocol counters, named after memcached's stats. One instance per lcore,
// cache-line aligned, written only by its lcore (relaxed load+store, no RMW: a single
// writer needs no atomic add); the control plane sums every lcore's copy with relaxed
// loads. `X(name)` lists them once so summing and printing cannot drift apart.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/proto/request_counts.h"

namespace anvil::proto {

// clang-format off
#define ANVIL_PROTO_COUNTERS(X) \
  X(cmd_get) \
  X(cmd_set) \
  X(cmd_flush) \
  X(cmd_touch) \
  X(cmd_meta) \
  X(get_hits) \
  X(get_misses) \
  X(get_expired) \
  X(get_flushed) \
  X(delete_misses) \
  X(delete_hits) \
  X(incr_misses) \
  X(incr_hits) \
  X(decr_misses) \
  X(decr_hits) \
  X(cas_misses) \
  X(cas_hits) \
  X(cas_badval) \
  X(touch_hits) \
  X(touch_misses) \
  X(auth_cmds) \
  X(auth_errors) \
  X(auth_failure_closes) \
  X(sasl_derivations) \
  X(sasl_cache_hits) \
  X(bytes_read) \
  X(bytes_written) \
  X(total_items) \
  X(protocol_errors) \
  X(unknown_commands) \
  X(too_large) \
  X(store_too_large) \
  X(store_no_memory) \
  X(backpressure_stops) \
  X(refused_not_primary_reads) \
  X(refused_not_primary_writes) \
  X(refused_fenced_writes)
// clang-format on

// A single-writer counter: cheap to bump on the owner, safe to read from elsewhere.
class counter {
 public:
  void add(std::uint64_t n = 1) {
    _v.store(_v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t load() const { return _v.load(std::memory_order_relaxed); }
  void reset() { _v.store(0, std::memory_order_relaxed); }  // owner only

 private:
  std::atomic<std::uint64_t> _v{0};
};

struct alignas(64) lcore_counters {
#define ANVIL_PROTO_FIELD(n) counter n;
  ANVIL_PROTO_COUNTERS(ANVIL_PROTO_FIELD)
#undef ANVIL_PROTO_FIELD
  // By operation and status (anvil_requests_total); never reset (request_counts.h).
  request_counts requests;
};

// A plain copy of the counters (a sum over lcores, or one lcore's view).
struct counter_totals {
#define ANVIL_PROTO_FIELD(n) std::uint64_t n = 0;
  ANVIL_PROTO_COUNTERS(ANVIL_PROTO_FIELD)
#undef ANVIL_PROTO_FIELD

  void accumulate(const lcore_counters& c) {
#define ANVIL_PROTO_FIELD(n) n += c.n.load();
    ANVIL_PROTO_COUNTERS(ANVIL_PROTO_FIELD)
#undef ANVIL_PROTO_FIELD
  }
};

}  // namespace anvil::proto
