// Per-session, per-partition counters: each line has exactly one writer (the session
// that owns the registry slot), so increments are a relaxed load+store, never a shared
// read-modify-write. Readers sum every slot's line with relaxed loads while writers run.
// Gauges (items, bytes) are kept as deltas; their modular sum over all slots is exact.
#pragma once

#include <atomic>
#include <cstdint>

namespace anvil::cache {

struct alignas(64) part_counters {
  std::atomic<std::uint64_t> items{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> sets{0};
  std::atomic<std::uint64_t> evictions{0};
  std::atomic<std::uint64_t> expired{0};
  std::atomic<std::uint64_t> cas_mismatches{0};
};
static_assert(sizeof(part_counters) == 64);

// Single-writer increment (wraps for negative deltas on gauges).
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t d = 1) {
  c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

}  // namespace anvil::cache
